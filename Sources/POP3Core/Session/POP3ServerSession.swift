/// The POP3 server session state machine (RFC 1939 §3–§6, RFC 2449, RFC 5034, RFC 2595 STLS,
/// RFC 8314 implicit TLS): a value that takes
/// `POP3ServerEvent`s and returns `POP3ServerAction`s. It never touches sockets or storage.
///
/// States: AUTHORIZATION (greeting, STLS, USER/PASS, AUTH PLAIN/LOGIN) → TRANSACTION (maildrop locked,
/// STAT/LIST/RETR/TOP/DELE/RSET/UIDL/NOOP) → UPDATE (only after QUIT: the marked messages are
/// deleted). A connection that drops or times out never reaches UPDATE, so nothing is deleted.
///
/// The command handlers live in `POP3ServerSession+Authorization.swift` and
/// `POP3ServerSession+Transaction.swift`.
import MailCore

/// One POP3 server session: feed it events with `handle(_:)` and run the actions it returns.
public struct POP3ServerSession: Sendable {
    /// What the session waits for before it reads the next line.
    enum Pending: Hashable, Sendable {
        case none
        /// `.authenticate` was emitted; waiting for `.authenticated`.
        case authentication
        /// `.lookupSCRAM` was emitted; waiting for `.scramParameters`.
        case scramLookup
        /// AUTH sent a `+ ` challenge; the next line is the client's base64 response (RFC 5034 §4).
        case saslResponse
        /// `.startTLS` was emitted; waiting for `.tlsEstablished`.
        case tls
        /// `.sendMessage` was emitted; waiting for `.messageSent`.
        case message
        /// `.commitDeletions` was emitted; waiting for `.updateFinished`.
        case update
    }

    public let configuration: POP3ServerConfiguration
    public internal(set) var state: POP3State = .authorization
    public internal(set) var isClosed = false
    /// The maildrop snapshot; set in TRANSACTION and UPDATE.
    public internal(set) var maildrop: POP3Maildrop?
    /// The mailbox id from the successful login.
    public internal(set) var mailboxID: Int64?
    /// The login name that was verified (or is being verified).
    public internal(set) var username: String?
    /// True once TLS is active: from the start with `implicitTLS`, else after `.tlsEstablished`.
    public internal(set) var isTLS: Bool
    /// What the adapter reported in `.tlsEstablished`.
    public internal(set) var tlsInfo: TLSInfo?

    var pending: Pending = .none
    var greeted = false
    /// The name given by USER, waiting for PASS.
    var pendingUser: String?
    var authFailures = 0
    var errors = 0
    /// True from a successful login until `.releaseMaildrop` was emitted.
    var holdsMaildrop = false
    /// The running SASL exchange while `pending == .saslResponse`.
    var saslExchange: SASLServerExchange?

    public init(configuration: POP3ServerConfiguration) {
        self.configuration = configuration
        self.isTLS = configuration.implicitTLS
    }

    /// Whether USER/PASS and AUTH are allowed now: over TLS, or when plaintext is configured.
    public var plaintextAuthAllowed: Bool { isTLS || configuration.allowPlaintextAuth }

    /// True while the session waits for the adapter's answer to `.authenticate`, `.sendMessage` or
    /// `.commitDeletions`; the adapter buffers lines meanwhile (PIPELINING, RFC 2449 §6.6).
    public var isAwaitingAnswer: Bool {
        switch pending {
        case .authentication, .scramLookup, .message, .update, .tls: return true
        case .none, .saslResponse: return false
        }
    }

    /// True while AUTH waits for the client's next SASL response line (RFC 5034 §4): the adapter's framer
    /// then allows `maxAuthLineLength`.
    public var isAwaitingSASLResponse: Bool { pending == .saslResponse }

    /// True between `.startTLS` and `.tlsEstablished`: the client's TLS handshake is running (its time
    /// counts against the client, not as the server's own work).
    public var isAwaitingTLS: Bool { pending == .tls }

    /// Whether an `AUTH` command line may be longer than `maxCommandLineLength` now (up to
    /// `maxAuthLineLength`, for a long initial response): before login, where AUTH is allowed.
    public var mayAuthenticate: Bool { state == .authorization && plaintextAuthAllowed }

    /// Feeds one event and returns the actions to run, in order.
    public mutating func handle(_ event: POP3ServerEvent) -> [POP3ServerAction] {
        if isClosed {
            // A login that completes after the session closed took the lock: let it go.
            if case .authenticated(.success) = event { return [.releaseMaildrop] }
            return []
        }
        switch event {
        case .connected:
            guard !greeted else { return [] }
            greeted = true
            return [.send(POP3Response.ok("Petrel POP3 server ready").encoded)]
        case .line(let bytes):
            switch pending {
            case .none: return command(bytes)
            case .saslResponse: return saslResponse(bytes)
            case .authentication, .scramLookup, .message, .update, .tls: return [] // adapter bug: it must buffer
            }
        case .lineTooLong:
            // The limit is checked while reading: the line is not read to its end, the session closes.
            switch pending {
            case .none, .saslResponse:
                pending = .none
                saslExchange = nil
                errors += 1
                return close(sending: .err("Line too long, closing connection"))
            case .authentication, .scramLookup, .message, .update, .tls:
                return []
            }
        case .sessionByteLimitExceeded:
            switch pending {
            case .update:
                return [] // the commit is running; its answer closes the session
            case .message, .tls:
                return close() // a reply now would corrupt the multi-line response (or the handshake)
            case .none, .saslResponse, .authentication, .scramLookup:
                return close(sending: .err("Session byte limit exceeded, closing connection"))
            }
        case .authenticated(let result):
            guard pending == .authentication else { return [] }
            pending = .none
            return authenticated(result)
        case .scramParameters(let parameters):
            guard pending == .scramLookup, var exchange = saslExchange else { return [] }
            pending = .none
            let step = exchange.provideSCRAM(parameters)
            saslExchange = exchange
            return saslStep(step)
        case .messageSent(let ok):
            guard pending == .message else { return [] }
            pending = .none
            return ok ? [] : close()
        case .updateFinished(let ok):
            guard pending == .update else { return [] }
            pending = .none
            return updateFinished(ok)
        case .timeout:
            return timeout()
        case .tlsEstablished(let info):
            return tlsEstablished(info)
        }
    }

    // MARK: - Dispatch

    /// Parses and runs one command line.
    mutating func command(_ bytes: [UInt8]) -> [POP3ServerAction] {
        let parsed: POP3Command
        do {
            parsed = try POP3CommandParser.parse(bytes)
        } catch {
            return protocolError(.err(error.description))
        }
        if case .capa = parsed { return [send(capabilities())] }
        switch state {
        case .authorization: return authorizationCommand(parsed)
        case .transaction: return transactionCommand(parsed)
        case .update: return [] // unreachable: no lines are read in UPDATE
        }
    }

    /// RFC 2449 §5: the capabilities. USER and SASL only when plaintext login is allowed now (TLS or
    /// `allowPlaintextAuth`); STLS only in AUTHORIZATION, when available and not yet TLS (RFC 2595 §4).
    func capabilities() -> POP3Response {
        var lines = ["TOP", "UIDL"]
        if plaintextAuthAllowed { lines.append("USER") }
        lines += ["RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
        if plaintextAuthAllowed { lines.append("SASL \(SASLMechanism.advertised(scram: configuration.offerSCRAM))") }
        if configuration.tlsAvailable, !isTLS, state == .authorization { lines.append("STLS") }
        lines.append("IMPLEMENTATION \(POP3Core.implementation)")
        return .ok("Capability list follows", lines: lines)
    }

    // MARK: - Helpers

    func send(_ response: POP3Response) -> POP3ServerAction { .send(response.encoded) }

    /// Counts a protocol error; after `maxErrors` the session closes after the error reply.
    mutating func protocolError(_ response: POP3Response) -> [POP3ServerAction] {
        errors += 1
        if errors >= configuration.maxErrors {
            return close(sending: .err("Too many errors, closing connection"))
        }
        return [send(response)]
    }

    /// Ends the session: optional last reply, lock release if held, close.
    mutating func close(sending response: POP3Response? = nil) -> [POP3ServerAction] {
        var actions: [POP3ServerAction] = []
        if let response { actions.append(send(response)) }
        if holdsMaildrop {
            holdsMaildrop = false
            actions.append(.releaseMaildrop)
        }
        actions.append(.close)
        isClosed = true
        pending = .none
        saslExchange = nil
        return actions
    }

    /// RFC 1939 §3 autologout: close without entering UPDATE.
    mutating func timeout() -> [POP3ServerAction] {
        switch pending {
        case .update:
            return [] // the commit is running; its answer closes the session
        case .message, .tls:
            return close() // a reply now would corrupt the multi-line response (or the handshake) in flight
        case .none, .saslResponse, .authentication, .scramLookup:
            return close(sending: .err("Autologout timer expired, closing connection"))
        }
    }

    mutating func updateFinished(_ ok: Bool) -> [POP3ServerAction] {
        guard ok else {
            return close(sending: .err(.sysTemp, "Some deleted messages not removed"))
        }
        let left = maildrop?.visibleCount ?? 0
        return close(sending: .ok("Petrel POP3 server signing off (\(left) messages left)"))
    }
}
