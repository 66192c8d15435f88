import POP3Core

/// Test support: drives a `POP3ServerSession` with text lines and renders what it sends.
struct SessionHarness {
    var session: POP3ServerSession

    static let entries = [
        MaildropEntry(deliveryID: 10, size: 100),
        MaildropEntry(deliveryID: 11, size: 200),
        MaildropEntry(deliveryID: 15, size: 300)
    ]

    static func configuration(plaintext: Bool = true, tls: Bool = false, implicitTLS: Bool = false) -> POP3ServerConfiguration {
        var configuration = POP3ServerConfiguration(hostname: "pop.example.test")
        configuration.allowPlaintextAuth = plaintext
        configuration.tlsAvailable = tls
        configuration.implicitTLS = implicitTLS
        return configuration
    }

    /// A session that has sent its greeting.
    init(_ configuration: POP3ServerConfiguration = SessionHarness.configuration()) {
        session = POP3ServerSession(configuration: configuration)
        _ = session.handle(.connected)
    }

    /// A session logged in with `entries` (TRANSACTION state).
    static func loggedIn(
        _ entries: [MaildropEntry] = SessionHarness.entries,
        _ configuration: POP3ServerConfiguration = SessionHarness.configuration()
    ) -> SessionHarness {
        var harness = SessionHarness(configuration)
        _ = harness.line("USER alice@example.test")
        _ = harness.line("PASS secret")
        _ = harness.session.handle(.authenticated(.success(mailboxID: 7, maildrop: entries)))
        return harness
    }

    mutating func line(_ text: String) -> [POP3ServerAction] {
        session.handle(.line(Array(text.utf8)))
    }

    mutating func handle(_ event: POP3ServerEvent) -> [POP3ServerAction] {
        session.handle(event)
    }
}

/// Everything the actions send, as one string.
func wire(_ actions: [POP3ServerAction]) -> String {
    var bytes: [UInt8] = []
    for case .send(let b) in actions { bytes += b }
    return String(decoding: bytes, as: UTF8.self)
}

/// The actions with `.send` rendered as text, for whole-list comparisons.
enum Step: Hashable, CustomStringConvertible {
    case send(String)
    case authenticate(String, String)
    case lookupSCRAM(String)
    case authenticateSCRAM(String, Bool)
    case sendMessage(Int64, Int?)
    case commit([Int64])
    case release
    case close
    case startTLS

    var description: String {
        switch self {
        case .send(let s): return "send(\(s.debugDescription))"
        case .authenticate(let u, let p): return "authenticate(\(u), \(p))"
        case .lookupSCRAM(let u): return "lookupSCRAM(\(u))"
        case .authenticateSCRAM(let u, let v): return "authenticateSCRAM(\(u), \(v))"
        case .sendMessage(let id, let top): return "sendMessage(\(id), \(String(describing: top)))"
        case .commit(let ids): return "commit(\(ids))"
        case .release: return "release"
        case .close: return "close"
        case .startTLS: return "startTLS"
        }
    }
}

func steps(_ actions: [POP3ServerAction]) -> [Step] {
    actions.map { action in
        switch action {
        case .send(let b): return .send(String(decoding: b, as: UTF8.self))
        case .authenticate(let u, let p): return .authenticate(u, p)
        case .lookupSCRAM(let u): return .lookupSCRAM(u)
        case .authenticateSCRAM(let u, let v): return .authenticateSCRAM(u, v)
        case .sendMessage(let id, let top): return .sendMessage(id, top)
        case .commitDeletions(let ids): return .commit(ids)
        case .releaseMaildrop: return .release
        case .close: return .close
        case .startTLS: return .startTLS
        }
    }
}
