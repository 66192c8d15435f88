/// The AUTHORIZATION state of `POP3ServerSession`: STLS (RFC 2595 §4), USER/PASS (RFC 1939 §7),
/// AUTH PLAIN / LOGIN (RFC 5034 §4 with RFC 4616 and the LOGIN draft, through `SASLServerExchange`),
/// QUIT (RFC 1939 §6) and the answers to `.authenticate` and `.tlsEstablished`, with the response
/// codes of RFC 2449 §8 and RFC 3206.
///
/// Choices:
/// - Login without TLS when `allowPlaintextAuth` is false: `-ERR [AUTH] Plaintext authentication
///   disallowed on non-secure connections` (Dovecot's wording; RFC 3206 §5 AUTH fits better than
///   SYS/PERM because the client can fix it by using STLS). It does not count as a failed login.
/// - STLS: `-ERR` without a code when already TLS, when not available, or after USER; success is
///   `+OK Begin TLS negotiation`, then a fresh AUTHORIZATION state without a new greeting.
/// - A PLAIN authorization identity other than the user is answered as a wrong password.
import MailCore

extension POP3ServerSession {
    static let plaintextDisallowed = POP3Response.err(.auth, "Plaintext authentication disallowed on non-secure connections")
    static let authFailed = POP3Response.err(.auth, "Authentication failed")

    mutating func authorizationCommand(_ command: POP3Command) -> [POP3ServerAction] {
        switch command {
        case .user(let name):
            guard plaintextAuthAllowed else { return [send(Self.plaintextDisallowed)] }
            pendingUser = name
            return [send(.ok("Send PASS"))]
        case .pass(let password):
            guard plaintextAuthAllowed else { return [send(Self.plaintextDisallowed)] }
            guard let name = pendingUser else { return protocolError(.err("No username given, send USER first")) }
            pendingUser = nil
            return startAuthentication(username: name, password: password)
        case .auth(let mechanism, let initialResponse):
            pendingUser = nil
            guard let mechanism else {
                return protocolError(.err("AUTH requires a SASL mechanism, see CAPA"))
            }
            guard let sasl = SASLMechanism(name: mechanism), sasl != .scramSHA256 || configuration.offerSCRAM else {
                return [send(.err("Unsupported authentication mechanism"))]
            }
            guard plaintextAuthAllowed else { return [send(Self.plaintextDisallowed)] }
            // RFC 5034 §4: "=" is an empty initial response (the exchange handles it).
            var exchange = SASLServerExchange(mechanism: sasl, initialResponse: initialResponse)
            let step = exchange.start()
            saslExchange = exchange
            return saslStep(step)
        case .apop:
            return [send(.err("APOP not supported"))]
        case .stls:
            return startTLS()
        case .quit:
            return close(sending: .ok("Petrel POP3 server signing off"))
        case .capa:
            return [send(capabilities())]
        case .stat, .list, .retr, .dele, .noop, .rset, .top, .uidl:
            return protocolError(.err("Command not valid in AUTHORIZATION state, log in first"))
        }
    }

    /// The line after a `+ ` challenge (RFC 5034 §4: base64, or `*` to cancel).
    mutating func saslResponse(_ bytes: [UInt8]) -> [POP3ServerAction] {
        pending = .none
        guard var exchange = saslExchange else { return [] }
        let step = exchange.receive(bytes)
        saslExchange = exchange
        return saslStep(step)
    }

    /// Turns one exchange step into a response or an `.authenticate` request.
    mutating func saslStep(_ step: SASLServerExchange.Step) -> [POP3ServerAction] {
        switch step {
        case .challenge(let challenge):
            pending = .saslResponse
            return [send(.continuation(Base64.encode(challenge)))]
        case .credentials(let name, let password):
            saslExchange = nil
            return startAuthentication(username: name, password: password)
        case .cancelled:
            saslExchange = nil
            return [send(.err("Authentication cancelled"))]
        case .malformed(let reason):
            saslExchange = nil
            return protocolError(.err(reason))
        case .authorizationDenied(let authenticationID):
            // Acting as another user is not supported; answer exactly as for a wrong password.
            saslExchange = nil
            username = authenticationID
            return authenticationFailed(Self.authFailed)
        case .lookupSCRAM(let name):
            pending = .scramLookup
            return [.lookupSCRAM(username: name)]
        case .scramVerified(let name), .scramFailed(let name):
            saslExchange = nil
            username = name
            pending = .authentication
            let valid: Bool
            if case .scramVerified = step { valid = true } else { valid = false }
            return [.authenticateSCRAM(username: name, proofValid: valid)]
        }
    }

    /// STLS (RFC 2595 §4): only in AUTHORIZATION, before USER, when available and not yet TLS.
    mutating func startTLS() -> [POP3ServerAction] {
        guard !isTLS else { return [send(.err("TLS already active"))] }
        guard configuration.tlsAvailable else { return [send(.err("STLS not available"))] }
        guard pendingUser == nil else { return [send(.err("STLS not allowed after USER"))] }
        pending = .tls
        return [send(.ok("Begin TLS negotiation")), .startTLS]
    }

    /// The handshake finished. After STLS: a fresh AUTHORIZATION state, no greeting (RFC 2595 §4).
    /// With implicit TLS: only record the parameters, whenever they come.
    mutating func tlsEstablished(_ info: TLSInfo) -> [POP3ServerAction] {
        if configuration.implicitTLS {
            tlsInfo = info
            return []
        }
        guard pending == .tls else { return [] }
        pending = .none
        isTLS = true
        tlsInfo = info
        pendingUser = nil
        username = nil
        saslExchange = nil
        return []
    }

    mutating func startAuthentication(username name: String, password: String) -> [POP3ServerAction] {
        username = name
        pending = .authentication
        return [.authenticate(username: name, password: password)]
    }

    /// The adapter's answer to `.authenticate`.
    mutating func authenticated(_ result: POP3LoginAnswer) -> [POP3ServerAction] {
        switch result {
        case .success(let id, let entries):
            let drop = POP3Maildrop(entries)
            maildrop = drop
            mailboxID = id
            holdsMaildrop = true
            state = .transaction
            return [send(.ok("Logged in, maildrop has \(drop.visibleCount) messages (\(drop.visibleSize) octets)"))]
        case .invalidCredentials:
            return authenticationFailed(Self.authFailed)
        case .locked:
            return authenticationFailed(.err(.auth, "Mailbox is locked by the administrator"))
        case .inUse:
            return [send(.err(.inUse, "Mailbox is in use by another session"))]
        case .temporaryFailure:
            return [send(.err(.sysTemp, "Temporary failure, try again later"))]
        case .tooManyLogins:
            // RFC 2449 §8.1.2 / RFC 3206 §4: SYS/TEMP, the client may try again later. The connection
            // closes, so one connection cannot spin on refused logins.
            return close(sending: .err(.sysTemp, "Too many logins in progress, try again later"))
        }
    }

    /// Counts a failed login; after `maxAuthFailures` the reply is followed by a close.
    mutating func authenticationFailed(_ response: POP3Response) -> [POP3ServerAction] {
        authFailures += 1
        if authFailures >= configuration.maxAuthFailures {
            return close(sending: response)
        }
        return [send(response)]
    }
}
