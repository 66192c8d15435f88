/// libFuzzer target: IMAP command framing and parsing (RFC 9051 §4.3 literals, §9 grammar) and the session
/// state machine behind them. The first input byte picks a piece size (1–17); the rest is client input.
///
/// Checks besides "no trap":
/// - feeding the input in pieces gives exactly the frames of feeding it at once;
/// - the framer never holds more than the command-size limit (plus one APPEND literal) after a frame;
/// - every framed command parses to a command or an `IMAPCommandError`;
/// - the same bytes, sent to a logged-in session with INBOX selected (a stub store answering every
///   request), never trap, and every tagged response line the session writes ends with CRLF.
import IMAPCore
import MailCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIMAPCommand(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let all = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let first = all.first else { return 0 }
    let piece = Int(first % 17) + 1
    let input = Array(all.dropFirst())
    var limits = IMAPFramingLimits()
    limits.maxLineLength = 512
    limits.maxLiteralSize = 256
    limits.maxAppendSize = 1024
    limits.maxCommandSize = 2048

    var whole = IMAPCommandFramer(limits: limits)
    whole.append(input)
    var expected: [IMAPFrame] = []
    while let f = whole.next() { expected.append(f) }

    var split = IMAPCommandFramer(limits: limits)
    var got: [IMAPFrame] = []
    var i = 0
    while i < input.count {
        split.append(input[i..<min(input.count, i + piece)])
        i += piece
        while let f = split.next() {
            got.append(f)
            if split.bufferedByteCount > limits.maxCommandSize + limits.maxAppendSize + piece {
                fatalError("framer holds too much")
            }
        }
    }
    if got != expected { fatalError("split framing differs: \(got.count) vs \(expected.count) frames") }
    for case .command(let bytes) in expected {
        switch IMAPCommandParser.parse(bytes) {
        case .success(let c): _ = c.command.name
        case .failure(let e): _ = e.description
        }
    }

    var configuration = IMAPServerConfiguration(hostname: "fuzz.test")
    configuration.limits = limits
    configuration.compressionAvailable = true
    configuration.tlsAvailable = true
    configuration.maxErrors = 1000
    var session = IMAPServerSession(configuration: configuration)
    var stub = StubStore()
    func run(_ event: IMAPServerEvent) {
        var queue = session.handle(event)
        var steps = 0
        while !queue.isEmpty, steps < 10_000 {
            steps += 1
            let action = queue.removeFirst()
            var answer: IMAPServerEvent? = nil
            switch action {
            case .send(let bytes):
                if !bytes.isEmpty, bytes.count >= 2, bytes[bytes.count - 2] != 0x0D || bytes[bytes.count - 1] != 0x0A {
                    fatalError("response without CRLF")
                }
            case .authenticate(let user, _): answer = .authenticated(.success(username: user))
            case .backend(let request): answer = .backend(stub.answer(request))
            case .startTLS: answer = .tlsEstablished(TLSInfo(version: "TLSv1.3", cipher: "x"))
            case .startCompression: answer = .compressionStarted
            case .startWatching: answer = .mailboxChanged
            case .stopWatching, .close: break
            }
            if let answer { queue = session.handle(answer) + queue }
        }
    }
    run(.connected)
    run(.received(Array("l LOGIN u p\r\ns SELECT INBOX\r\n".utf8)))
    i = 0
    while i < input.count {
        run(.received(Array(input[i..<min(input.count, i + piece)])))
        i += piece
    }
    run(.mailboxChanged)
    run(.timeout)
    return 0
}

/// Answers every backend request with small, changing, plausible data.
struct StubStore {
    var uids: [UInt32] = [1, 2, 3, 5, 8]
    var modSeq: UInt64 = 10
    var tick = 0
    let message = Array(
        "From: a@b\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\r\nhello\r\n--z\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nbody\r\n--z--\r\n"
            .utf8)

    mutating func answer(_ request: IMAPBackendRequest) -> IMAPBackendResponse {
        tick += 1
        let id = IMAPMailboxID(1)
        switch request {
        case .listMailboxes:
            return .mailboxes([
                IMAPMailboxInfo(name: "INBOX", isSubscribed: true), IMAPMailboxInfo(name: "a/b", specialUse: ["\\Sent"]),
                IMAPMailboxInfo(name: "gone", isSubscribed: true, exists: false)
            ])
        case .create, .delete, .rename, .setSubscribed:
            return tick % 3 == 0 ? .failed(.alreadyExists) : .done
        case .status, .statusMany:
            let s = IMAPMailboxStatus(messages: 5, uidNext: 9, uidValidity: 7, unseen: 1, deleted: 1, size: 100, highestModSeq: modSeq)
            if case .statusMany(let names) = request { return .statuses(names.map { _ in s }) }
            return .status(s)
        case .select:
            return .selected(
                IMAPMailboxSnapshot(
                    id: id, name: "INBOX", uidValidity: 7, uidNext: 9, highestModSeq: modSeq,
                    uids: uids, keywords: [IMAPFlag("$k")], firstUnseenUID: 2))
        case .changes(_, _, let uidNext, _):
            modSeq += 1
            var changes = IMAPMailboxChanges(uidValidity: 7, uidNext: max(uidNext, 12), highestModSeq: modSeq)
            switch tick % 4 {
            case 0: changes.expunged = .uids([uids.first ?? 1])
            case 1: changes.newUIDs = [max(uidNext, 9)]
            case 2: changes.flagChanges = [IMAPFlagChange(uid: 3, flags: [.seen], modSeq: modSeq)]
            default: changes.expunged = .unknown(currentUIDs: [2, 3])
            }
            return .changes(changes)
        case .fetch(_, let requested, let content, _):
            return .messages(
                requested.prefix(50).map { uid in
                    IMAPStoredMessage(
                        metadata: IMAPMessageMetadata(
                            uid: uid, flags: [.seen], internalDate: IMAPDateTime(secondsSinceEpoch: 0),
                            size: UInt64(message.count), modSeq: modSeq),
                        content: content == .none ? nil : message)
                })
        case .store(_, let requested, _, _):
            modSeq += 1
            return .stored(
                IMAPStoreResult(
                    messages: requested.map { IMAPFlagChange(uid: $0, flags: [.flagged], modSeq: modSeq) },
                    changed: requested, failed: tick % 5 == 0 ? [1] : []))
        case .expunge(_, let requested):
            return .expunged(requested ?? [2])
        case .search(_, _, let candidates):
            return .searched(candidates.filter { $0 % 2 == 1 })
        case .vanished:
            return .vanished(tick % 2 == 0 ? [4] : nil)
        case .append:
            return tick % 2 == 0 ? .appended(IMAPAppendResult(uidValidity: 7, uid: 20)) : .failed(.overQuota)
        case .copy(_, let requested, _), .move(_, let requested, _):
            return .copied(IMAPCopyResult(uidValidity: 3, sourceUIDs: requested, destinationUIDs: requested.map { $0 + 100 }))
        case .quota:
            return .quota([IMAPQuotaResource("STORAGE", usage: 1, limit: 2)])
        }
    }
}
