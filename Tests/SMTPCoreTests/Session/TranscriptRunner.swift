import Foundation
import MailCore
import Testing

@testable import SMTPCore

/// A small dialog runner (like chasquid's `.cmy` or OpenSMTPD's smtpscript) for `SMTPServerSession`.
///
/// Script lines:
///   `C: <line>`     the client sends a command line
///   `E: <event>`    another event: timeout, shutdown, lineTooLong, byteLimit, connected, tls (tlsEstablished)
///   `S: <line>`     the next reply line the server must send (exact; a trailing `*` matches a prefix)
///   `A: <action>`   the next non-reply action (only checked when the script has any `A:` line):
///                   resolve <addr>, receiveData, chunk <n> keep|discard, store, discard, ended <code>, close,
///                   startTLS, authenticate <user> <password>
///   `#`             comment
/// Requests are answered from `decisions`, `dataOutcomes`, `chunkOutcomes`, `storeOutcomes`;
/// `.startTLS` with `.tlsEstablished(tlsInfo)`; `.authenticate` from `authOutcomes` when not empty,
/// else `.success(user:)` when `passwords[user]` matches and `.invalidCredentials` otherwise.
struct TranscriptRunner {
    static let hostname = "mx.example.test"
    static let fixedDate = Date(timeIntervalSince1970: 1_800_000_000)
    static let queueID = "0TESTQUEUEID0001"

    var session: SMTPServerSession
    /// Keyed by the address as printed (lower case), or "postmaster" for the bare Postmaster.
    var decisions: [String: RecipientDecision] = [:]
    /// Sender domains `.checkSenderDomain` reports as local (anti-spoofing tests).
    var localSenderDomains: Set<String> = []
    var dataOutcomes: [BodyOutcome] = []
    var chunkOutcomes: [BodyOutcome] = []
    var storeOutcomes: [StoreOutcome] = []
    var passwords: [String: String] = [:]
    var authOutcomes: [SMTPAuthAnswer] = []
    var tlsInfo = TLSInfo(version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384")
    private(set) var stream: [String] = []
    private(set) var envelopes: [SMTPEnvelope] = []
    private(set) var summaries: [SMTPTransactionSummary] = []
    private(set) var actions: [SMTPServerAction] = []

    init(
        configure: (inout SMTPServerConfiguration) -> Void = { _ in },
        client: ClientInfo = ClientInfo(ip: IPAddress("192.0.2.10"), port: 40000)
    ) {
        var configuration = SMTPServerConfiguration(hostname: Self.hostname)
        configuration.clock = ManualMailClock(TranscriptRunner.fixedDate)
        configuration.makeQueueID = { TranscriptRunner.queueID }
        configure(&configuration)
        session = SMTPServerSession(configuration: configuration, client: client)
    }

    /// Feeds one event and answers every request the session makes, recording everything.
    mutating func feed(_ event: SMTPServerEvent) {
        var queue: [SMTPServerEvent] = [event]
        while !queue.isEmpty {
            let next = queue.removeFirst()
            for action in session.handle(next) {
                actions.append(action)
                switch action {
                case .send(let reply):
                    let text = String(decoding: reply.encoded, as: UTF8.self)
                    #expect(text.hasSuffix("\r\n"))
                    for line in text.split(separator: "\r\n", omittingEmptySubsequences: false).dropLast() {
                        stream.append("S: \(line)")
                    }
                case .resolveRecipient(let query):
                    let key: String
                    switch query {
                    case .address(let a): key = a.description.lowercased()
                    case .barePostmaster: key = "postmaster"
                    }
                    stream.append("A: resolve \(key)")
                    #expect(session.isAwaitingAnswer)
                    queue.append(.recipientResolved(decisions[key] ?? .unknownUser))
                case .checkSenderDomain(let domain):
                    stream.append("A: checkSender \(domain)")
                    #expect(session.isAwaitingAnswer)
                    queue.append(.senderDomainChecked(localSenderDomains.contains(domain.lowercased()) ? .local : .notLocal))
                case .receiveData:
                    stream.append("A: receiveData")
                    queue.append(.dataReceived(dataOutcomes.isEmpty ? .complete(octets: 100) : dataOutcomes.removeFirst()))
                case .receiveChunk(let size, let keep):
                    stream.append("A: chunk \(size) \(keep ? "keep" : "discard")")
                    let outcome = keep && !chunkOutcomes.isEmpty ? chunkOutcomes.removeFirst() : .complete(octets: Int64(size))
                    queue.append(.chunkReceived(outcome))
                case .storeMessage(let envelope):
                    stream.append("A: store")
                    envelopes.append(envelope)
                    queue.append(.messageStored(storeOutcomes.isEmpty ? .stored : storeOutcomes.removeFirst()))
                case .discardMessage:
                    stream.append("A: discard")
                case .transactionEnded(let summary):
                    stream.append("A: ended \(summary.reply.code)")
                    summaries.append(summary)
                case .close:
                    stream.append("A: close")
                    #expect(session.isClosed)
                case .startTLS:
                    stream.append("A: startTLS")
                    #expect(session.isAwaitingAnswer)
                    queue.append(.tlsEstablished(tlsInfo))
                case .authenticate(let username, let password):
                    stream.append("A: authenticate \(username) \(password)")
                    #expect(session.isAwaitingAnswer)
                    if !authOutcomes.isEmpty {
                        queue.append(.authenticated(authOutcomes.removeFirst()))
                    } else if let known = passwords[username], known == password {
                        queue.append(.authenticated(.success(user: username)))
                    } else {
                        queue.append(.authenticated(.invalidCredentials))
                    }
                case .lookupSCRAM(let username):
                    stream.append("A: lookupSCRAM \(username)")
                    #expect(session.isAwaitingAnswer)
                case .authenticateSCRAM(let username, let valid):
                    stream.append("A: authenticateSCRAM \(username) \(valid)")
                    queue.append(.authenticated(valid ? .success(user: username) : .invalidCredentials))
                }
            }
        }
    }

    /// Runs a script and checks the server's side of it.
    mutating func run(_ script: String, sourceLocation: SourceLocation = #_sourceLocation) {
        var expected: [String] = []
        var checkActions = false
        feed(.connected)
        for raw in script.split(separator: "\n") {
            let line = raw.drop(while: { $0 == " " })
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("C: ") {
                feed(.line(Array(line.dropFirst(3).utf8)))
            } else if line.hasPrefix("E: ") {
                switch line.dropFirst(3) {
                case "timeout": feed(.timeout)
                case "shutdown": feed(.shutdown)
                case "lineTooLong": feed(.lineTooLong)
                case "byteLimit": feed(.sessionByteLimitExceeded)
                case "connected": feed(.connected)
                case "tls": feed(.tlsEstablished(tlsInfo))
                default: Issue.record("unknown event \(line)", sourceLocation: sourceLocation)
                }
            } else if line.hasPrefix("S: ") {
                expected.append(String(line))
            } else if line.hasPrefix("A: ") {
                checkActions = true
                expected.append(String(line))
            } else {
                Issue.record("bad script line \(line)", sourceLocation: sourceLocation)
            }
        }
        let got = checkActions ? stream : stream.filter { $0.hasPrefix("S: ") }
        for (index, want) in expected.enumerated() {
            guard index < got.count else {
                Issue.record("missing \(want.debugDescription); got \(got)", sourceLocation: sourceLocation)
                return
            }
            let matches = want.hasSuffix("*") ? got[index].hasPrefix(String(want.dropLast())) : got[index] == want
            if !matches {
                Issue.record(
                    "line \(index): want \(want.debugDescription), got \(got[index].debugDescription)\nfull: \(got)",
                    sourceLocation: sourceLocation)
                return
            }
        }
        if got.count > expected.count {
            Issue.record("unexpected extra output: \(Array(got[expected.count...]))", sourceLocation: sourceLocation)
        }
    }
}

// Shared transcript fragments.
let greeting = "S: 220 mx.example.test ESMTP Petrel"
let ehloReply = """
    S: 250-mx.example.test
    S: 250-PIPELINING
    S: 250-SIZE 52428800
    S: 250-8BITMIME
    S: 250-DSN
    S: 250-ENHANCEDSTATUSCODES
    S: 250-SMTPUTF8
    S: 250-CHUNKING
    S: 250 HELP
    """
let alice = "alice@example.test"
