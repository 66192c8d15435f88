/// The pure-session side of the dialog transcripts (see `DialogTranscript`): an `SMTPServerSession` or a
/// `POP3ServerSession` driven like the NIO adapter drives it, with the store's answers taken from
/// `DialogFixture` (the same mailboxes the interop suite's server has).
import Foundation
import MailCore
import POP3Core
import SMTPCore

/// The SMTP configuration the interop suite's port 25 listener has (`e2e/interop/conftest.py`).
public func dialogSMTPConfiguration() -> SMTPServerConfiguration {
    var configuration = SMTPServerConfiguration(hostname: DialogFixture.hostname)
    configuration.maxMessageSize = DialogFixture.maxMessageSize
    configuration.tlsAvailable = true
    configuration.allowPlaintextAuth = true
    return configuration
}

/// The POP3 configuration the interop suite's plaintext POP3 listener has.
public func dialogPOP3Configuration() -> POP3ServerConfiguration {
    var configuration = POP3ServerConfiguration(hostname: DialogFixture.hostname)
    configuration.tlsAvailable = true
    configuration.allowPlaintextAuth = true
    return configuration
}

/// Splits CRLF-terminated output into lines.
func outputLines(_ bytes: [UInt8], into lines: inout [String]) {
    var text = String(decoding: bytes, as: UTF8.self)
    if text.hasSuffix("\r\n") { text.removeLast() }
    lines += text.components(separatedBy: "\r\n")
}

public final class SMTPSessionDialog: DialogConnection {
    var session: SMTPServerSession
    var output: [String] = []
    /// DATA: body lines until "."; BDAT: octets still to read for the current chunk.
    var body: [UInt8]?
    var chunkLeft: Int?
    var chunkBytes: [UInt8] = []
    public private(set) var envelopes: [SMTPEnvelope] = []

    public init(configuration: SMTPServerConfiguration = dialogSMTPConfiguration()) {
        session = SMTPServerSession(
            configuration: configuration,
            client: ClientInfo(ip: IPAddress("127.0.0.1"), port: 40000))
        feed(.connected)
    }

    func decision(_ query: RecipientQuery) -> RecipientDecision {
        guard case .address(let address) = query else { return .localMailbox(id: 100) }
        guard address.domain.lowercased() == DialogFixture.domain else {
            // As the server decides: an authenticated client may relay, anyone else only reaches local mailboxes.
            return session.authenticatedUser == nil ? .relayDenied : .relay(domain: address.domain.lowercased())
        }
        if address.localPart.lowercased() == "postmaster" { return .localMailbox(id: 100) }
        if let index = DialogFixture.users.firstIndex(where: { $0.address == address.lookupKey }) {
            return .localMailbox(id: Int64(index + 1))
        }
        return .unknownUser
    }

    func feed(_ event: SMTPServerEvent) {
        var queue = [event]
        while !queue.isEmpty {
            for action in session.handle(queue.removeFirst()) {
                switch action {
                case .send(let reply): outputLines(reply.encoded, into: &output)
                case .resolveRecipient(let query): queue.append(.recipientResolved(decision(query)))
                case .checkSenderDomain(let domain):
                    queue.append(.senderDomainChecked(domain.lowercased() == DialogFixture.domain ? .local : .notLocal))
                case .receiveData: body = []
                case .receiveChunk(let size, _):
                    chunkBytes = []
                    if size == 0 { queue.append(.chunkReceived(.complete(octets: 0))) } else { chunkLeft = size }
                case .storeMessage(let envelope):
                    envelopes.append(envelope)
                    queue.append(.messageStored(.stored))
                case .authenticate(let username, let password):
                    let ok = DialogFixture.users.contains { $0.address == username && $0.password == password }
                    queue.append(.authenticated(ok ? .success(user: username) : .invalidCredentials))
                case .startTLS, .lookupSCRAM, .authenticateSCRAM:
                    // Not used by the dialogs (no TLS or SCRAM on a plain pure session).
                    queue.append(.authenticated(.temporaryFailure))
                case .discardMessage, .transactionEnded, .close: break
                }
            }
        }
    }

    public func send(lines: [String]) async throws {
        for line in lines { send(line: line) }
    }

    func send(line: String) {
        let bytes = Array(line.utf8)
        if let left = chunkLeft {
            chunkBytes += bytes + [0x0D, 0x0A]
            if chunkBytes.count >= left {
                chunkLeft = nil
                feed(.chunkReceived(.complete(octets: Int64(chunkBytes.count))))
            }
            return
        }
        if var data = body {
            if line == "." {
                body = nil
                let outcome: BodyOutcome =
                    data.count > session.configuration.maxMessageSize
                    ? .tooLarge : .complete(octets: Int64(data.count))
                feed(.dataReceived(outcome))
            } else {
                data += (line.hasPrefix(".") ? Array(bytes.dropFirst()) : bytes) + [0x0D, 0x0A]
                body = data
            }
            return
        }
        if bytes.count + 2 > session.maxLineLength { feed(.lineTooLong) } else { feed(.line(bytes)) }
    }

    public func readLine() async throws -> String? {
        if output.isEmpty { return nil }
        return output.removeFirst()
    }

    public func unreadLines() -> [String] { output }

    public func isClosed() async throws -> Bool { session.isClosed && output.isEmpty }
}

/// The POP3 maildrops of the fixture's users, filled by the transcript's `@message` blocks; deletions
/// committed at QUIT stay for the next connection.
public final class POP3DialogStore {
    var messages: [String: [(id: Int64, bytes: [UInt8])]] = [:]
    var nextID: Int64 = 1

    public init(_ transcript: DialogTranscript) {
        for (recipient, bytes) in transcript.messages {
            messages[recipient.lowercased(), default: []].append((nextID, bytes))
            nextID += 1
        }
    }
}

public final class POP3SessionDialog: DialogConnection {
    var session: POP3ServerSession
    let store: POP3DialogStore
    var user: String?
    var output: [String] = []

    public init(store: POP3DialogStore, configuration: POP3ServerConfiguration = dialogPOP3Configuration()) {
        self.store = store
        session = POP3ServerSession(configuration: configuration)
        feed(.connected)
    }

    func feed(_ event: POP3ServerEvent) {
        var queue = [event]
        while !queue.isEmpty {
            for action in session.handle(queue.removeFirst()) {
                switch action {
                case .send(let bytes): outputLines(bytes, into: &output)
                case .authenticate(let username, let password):
                    if let index = DialogFixture.users.firstIndex(where: { $0.address == username && $0.password == password }) {
                        user = username
                        let entries = (store.messages[username] ?? []).map {
                            MaildropEntry(deliveryID: $0.id, size: Int64($0.bytes.count))
                        }
                        queue.append(.authenticated(.success(mailboxID: Int64(index + 1), maildrop: entries)))
                    } else {
                        queue.append(.authenticated(.invalidCredentials))
                    }
                case .sendMessage(let id, let top):
                    if let user, let message = store.messages[user]?.first(where: { $0.id == id }) {
                        outputLines(POP3MessageEncoder.encode(message.bytes, topLines: top), into: &output)
                        queue.append(.messageSent(true))
                    } else {
                        queue.append(.messageSent(false))
                    }
                case .commitDeletions(let ids):
                    if let user { store.messages[user]?.removeAll { ids.contains($0.id) } }
                    queue.append(.updateFinished(true))
                case .lookupSCRAM, .authenticateSCRAM, .startTLS:
                    queue.append(.authenticated(.temporaryFailure))
                case .releaseMaildrop, .close: break
                }
            }
        }
    }

    public func send(lines: [String]) async throws {
        for line in lines { send(line: line) }
    }

    func send(line: String) {
        let bytes = Array(line.utf8)
        if bytes.count + 2 > session.configuration.maxCommandLineLength { feed(.lineTooLong) } else { feed(.line(bytes)) }
    }

    public func readLine() async throws -> String? {
        if output.isEmpty { return nil }
        return output.removeFirst()
    }

    public func unreadLines() -> [String] { output }

    public func isClosed() async throws -> Bool { session.isClosed && output.isEmpty }
}
