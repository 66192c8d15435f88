/// The SMTP client session state machine: greeting (RFC 5321 §3.1), EHLO with HELO fallback
/// (§4.1.1.1, §3.2), STARTTLS (RFC 3207 §4, EHLO again afterwards §4.2), AUTH PLAIN/LOGIN (RFC 4954 §4,
/// RFC 4616), transactions (`SMTPClientSession+Transaction.swift`), QUIT (§4.1.1.10).
///
/// A value that turns events into actions: no sockets, no clock. The adapter reports replies, TLS
/// results, timeouts and closes as events and runs the actions; it picks timeouts from `waitingFor`.
import MailCore

public struct SMTPClientSession: Sendable {
    enum Phase: Sendable {
        case connecting
        case greeting
        case ehlo
        case helo
        case startTLS
        case tlsHandshake
        /// AUTH PLAIN sent (with its initial response).
        case authPlain
        /// AUTH LOGIN: 0 = waiting for the user name prompt, 1 = for the password prompt, 2 = for 235.
        case authLogin(step: Int)
        case ready
        case transaction
        case quitting
        case closed
    }

    public let configuration: SMTPClientSessionConfiguration
    var phase: Phase = .connecting
    /// The greeting reply (220 ...).
    public internal(set) var greeting: SMTPReply?
    /// What the server announced (after TLS: what it announced over TLS).
    public internal(set) var capabilities = SMTPCapabilities()
    public internal(set) var isTLS = false
    public internal(set) var tlsInfo: TLSInfo?
    /// The SASL mechanism used, once AUTH succeeded.
    public internal(set) var authenticatedMechanism: SMTPClientAuthMechanism?
    public internal(set) var transcript: SMTPClientTranscript
    /// Transactions completed on this connection.
    public internal(set) var transactionsCompleted = 0
    /// The error that ended the session, if one did.
    public internal(set) var failure: SMTPClientError?
    /// The server refused STARTTLS under the opportunistic policy: go on in plaintext.
    var startTLSRefused = false
    /// A MAIL was sent on this connection: the next transaction starts with RSET.
    var needsReset = false
    var transaction: TransactionState?

    public init(configuration: SMTPClientSessionConfiguration) {
        self.configuration = configuration
        self.transcript = SMTPClientTranscript(limit: configuration.transcriptLimit)
    }

    /// True between `.ready` and the next `.startTransaction`/`.quit` (and after each transaction).
    public var isReady: Bool { if case .ready = phase { return true } else { return false } }
    public var isClosed: Bool { if case .closed = phase { return true } else { return false } }
    /// True while the reply to STARTTLS is awaited (RFC 3207 §4). The adapter hands that reply to the
    /// session and reads nothing after it until the session has answered: `.startTLS` (a 220; the octets
    /// that followed it in plaintext are dropped, §4.2) or anything else (go on reading in plaintext).
    public var awaitsStartTLSReply: Bool { if case .startTLS = phase { return true } else { return false } }

    public var waitingFor: SMTPClientWait {
        switch phase {
        case .connecting, .ready, .closed: return .nothing
        case .greeting: return .greeting
        case .ehlo, .helo, .startTLS, .authPlain, .authLogin: return .command
        case .tlsHandshake: return .tlsHandshake
        case .quitting: return .quit
        case .transaction:
            switch transaction?.expected.first {
            case .data?: return .dataCommand
            case .dot?: return .finalDot
            default: return .command
            }
        }
    }

    /// Words for errors and logs: what the session is waiting for.
    var waitingDescription: String {
        switch phase {
        case .connecting: return "the connection"
        case .greeting: return "the greeting"
        case .ehlo: return "the reply to EHLO"
        case .helo: return "the reply to HELO"
        case .startTLS: return "the reply to STARTTLS"
        case .tlsHandshake: return "the TLS handshake"
        case .authPlain, .authLogin: return "the reply to AUTH"
        case .ready: return "the next command"
        case .quitting: return "the reply to QUIT"
        case .closed: return "nothing (closed)"
        case .transaction:
            switch transaction?.expected.first {
            case .rset?: return "the reply to RSET"
            case .mail?: return "the reply to MAIL"
            case .rcpt?: return "the reply to RCPT"
            case .data?: return "the reply to DATA"
            case .dot?: return "the reply to the end of data"
            case nil: return "the transaction"
            }
        }
    }

    public mutating func receive(_ event: SMTPClientEvent) -> [SMTPClientAction] {
        if case .closed = phase {
            switch event {
            case .startTransaction, .quit: return [.failed(failure ?? .invalidState("the connection is closed"))]
            default: return []
            }
        }
        switch event {
        case .connected:
            guard case .connecting = phase else { return fail(.invalidState("connected twice")) }
            guard SMTPClientCommand.isSafePath(configuration.heloName) else {
                return fail(.invalidState("the HELO name \"\(configuration.heloName)\" cannot be sent"))
            }
            phase = .greeting
            return []
        case .reply(let reply):
            transcript.server(reply)
            return handle(reply)
        case .malformedReply(let error):
            return fail(.malformedReply(error))
        case .tlsEstablished(let info):
            guard case .tlsHandshake = phase else { return fail(.invalidState("TLS established without STARTTLS")) }
            isTLS = true
            tlsInfo = info
            transcript.note("TLS established: \(info)")
            // RFC 3207 §4.2: forget everything learnt before TLS and EHLO again.
            capabilities = SMTPCapabilities()
            phase = .ehlo
            return send(.ehlo(configuration.heloName))
        case .tlsFailed(let reason):
            transcript.note("TLS handshake failed: \(reason)")
            return fail(.tlsHandshakeFailed(reason))
        case .closed:
            if case .quitting = phase {
                phase = .closed
                return []
            }
            return fail(.connectionLost(waitingDescription))
        case .timedOut:
            if case .quitting = phase {
                phase = .closed
                return [.close]
            }
            return fail(.timeout(waitingDescription))
        case .localFailure(let text):
            return fail(.localFailure(text))
        case .startTransaction(let envelope):
            guard case .ready = phase else { return fail(.invalidState("a transaction was started while \(waitingDescription) was awaited")) }
            return begin(envelope)
        case .quit:
            guard case .ready = phase else {
                phase = .closed
                return [.close]
            }
            phase = .quitting
            return send(.quit)
        }
    }

    // MARK: - Connection setup

    private mutating func handle(_ reply: SMTPReply) -> [SMTPClientAction] {
        switch phase {
        case .connecting, .greeting:
            guard reply.code.isPositiveCompletion else { return fail(.greetingRejected(reply)) }
            greeting = reply
            phase = .ehlo
            return send(.ehlo(configuration.heloName))
        case .ehlo:
            if reply.code.isPositiveCompletion {
                capabilities = SMTPCapabilities(ehloReply: reply)
                return afterHello()
            }
            // RFC 5321 §3.2 / §4.1.4: a server that does not know EHLO answers 500/502 (some 501/504/550):
            // fall back to HELO. Not after TLS: a TLS server that refuses EHLO is broken.
            if reply.code.isPermanentFailure, !isTLS {
                phase = .helo
                return send(.helo(configuration.heloName))
            }
            return fail(.helloRejected(reply))
        case .helo:
            guard reply.code.isPositiveCompletion else { return fail(.helloRejected(reply)) }
            capabilities = SMTPCapabilities(heloReply: reply)
            return afterHello()
        case .startTLS:
            if reply.code == .serviceReady {
                phase = .tlsHandshake
                return [.startTLS]
            }
            if configuration.tlsPolicy == .required || reply.code == .serviceNotAvailable {
                return fail(.startTLSRejected(reply))
            }
            startTLSRefused = true
            transcript.note("STARTTLS refused, going on without TLS")
            return afterHello()
        case .tlsHandshake:
            return fail(.unexpectedReply(reply, expected: "nothing (TLS handshake)"))
        case .authPlain:
            if reply.code.isPositiveCompletion { return authenticated(.plain) }
            if reply.code == .authContinue, let credentials = configuration.credentials {
                // Some servers ask again even after an initial response: answer with the same message.
                return send(.authResponse(Self.plainMessage(credentials)))
            }
            return fail(.authFailed(reply))
        case .authLogin(let step):
            guard let credentials = configuration.credentials else { return fail(.invalidState("AUTH without credentials")) }
            switch step {
            case 0 where reply.code == .authContinue:
                phase = .authLogin(step: 1)
                return send(.authResponse(Base64.encode(Array(credentials.username.utf8))))
            case 1 where reply.code == .authContinue:
                phase = .authLogin(step: 2)
                return send(.authResponse(Base64.encode(Array(credentials.password.utf8))))
            case 2 where reply.code.isPositiveCompletion:
                return authenticated(.login)
            default:
                return fail(.authFailed(reply))
            }
        case .ready:
            if reply.code == .serviceNotAvailable { return fail(.connectionLost("the next command (server sent 421)")) }
            return fail(.unexpectedReply(reply, expected: "nothing"))
        case .transaction:
            return handleTransactionReply(reply)
        case .quitting:
            phase = .closed
            return [.close]
        case .closed:
            return []
        }
    }

    /// After EHLO/HELO: STARTTLS, then AUTH, then ready.
    private mutating func afterHello() -> [SMTPClientAction] {
        if !isTLS {
            switch configuration.tlsPolicy {
            case .none:
                break
            case .opportunistic:
                if capabilities.startTLS, !startTLSRefused {
                    phase = .startTLS
                    return send(.startTLS)
                }
            case .required:
                guard capabilities.startTLS else { return fail(.startTLSNotOffered) }
                phase = .startTLS
                return send(.startTLS)
            }
        }
        guard let credentials = configuration.credentials else { return becomeReady() }
        guard isTLS || configuration.allowPlaintextAuth else { return fail(.authRequiresTLS) }
        guard let mechanism = credentials.mechanisms.first(where: { capabilities.authMechanisms.contains($0.rawValue) }) else {
            return fail(.authNotOffered(offered: capabilities.authMechanisms.sorted()))
        }
        switch mechanism {
        case .plain:
            phase = .authPlain
            return send(.auth(mechanism: "PLAIN", initialResponse: Self.plainMessage(credentials)))
        case .login:
            phase = .authLogin(step: 0)
            return send(.auth(mechanism: "LOGIN", initialResponse: nil))
        }
    }

    private mutating func authenticated(_ mechanism: SMTPClientAuthMechanism) -> [SMTPClientAction] {
        authenticatedMechanism = mechanism
        return becomeReady()
    }

    private mutating func becomeReady() -> [SMTPClientAction] {
        phase = .ready
        return [.ready]
    }

    /// message = [authzid] UTF8NUL authcid UTF8NUL passwd   (RFC 4616 §2), base64.
    static func plainMessage(_ credentials: SMTPClientCredentials) -> String {
        SASLPlain.encode(
            SASLPlainCredentials(
                authorizationID: nil, authenticationID: credentials.username,
                password: credentials.password))
    }

    // MARK: - Helpers

    mutating func send(_ command: SMTPClientCommand) -> [SMTPClientAction] {
        transcript.client(command.transcriptLine)
        return [.send(command.encoded)]
    }

    mutating func fail(_ error: SMTPClientError) -> [SMTPClientAction] {
        phase = .closed
        failure = error
        transaction = nil
        transcript.note("failed: \(error)")
        return [.failed(error), .close]
    }
}
