/// STARTTLS (RFC 3207 §4, §4.2), implicit TLS (RFC 8314 §3.3) and AUTH (RFC 4954 §4, §6) for
/// `SMTPServerSession`. The SASL exchange itself is `SASLServerExchange` (MailCore).
///
/// Choices:
/// - STARTTLS when TLS is not configured: 502 5.5.1 (Postfix), not 454 4.7.0.
/// - Check order for STARTTLS: already TLS (503), not available (502), no EHLO/HELO (503),
///   in a transaction (503). For AUTH: no EHLO/HELO, already authenticated, in a transaction (503),
///   no TLS and no plaintext AUTH (538), unknown mechanism (504).
/// - After `.tlsEstablished` the session forgets the EHLO name, any transaction, any AUTH and any
///   running SASL exchange (RFC 3207 §4.2) and sends nothing; error and AUTH-failure counters stay.
/// - 535 counts towards `maxAuthFailures` only; a malformed exchange (501 5.5.2) counts towards
///   `maxErrors`; a cancelled one (501 5.0.0) counts towards neither.
import MailCore

extension SMTPServerSession {
    // MARK: - STARTTLS

    /// starttls = "STARTTLS" CRLF  (RFC 3207 §4; arguments were refused by the parser, 501 5.5.4)
    mutating func startTLS() -> [SMTPServerAction] {
        guard !isTLS else { return reject(.tlsAlreadyActive) }
        guard configuration.tlsAvailable else { return reject(.tlsNotAvailable) }
        guard hello != nil else { return reject(.needHello) }
        guard transaction == nil else { return reject(.transactionInProgress) }
        pending = .startTLS
        return [.send(.readyToStartTLS), .startTLS]
    }

    /// The handshake finished. After STARTTLS: reset to the state after the greeting (RFC 3207 §4.2),
    /// no reply. With implicit TLS: only record the parameters, whenever they come.
    mutating func tlsEstablished(_ info: TLSInfo) -> [SMTPServerAction] {
        if configuration.implicitTLS {
            tlsInfo = info
            return []
        }
        guard case .startTLS? = pending else { return [] }
        pending = nil
        isTLS = true
        tlsInfo = info
        hello = nil
        transaction = nil // STARTTLS is refused inside a transaction; nothing to end
        authenticatedUser = nil
        saslExchange = nil
        return []
    }

    // MARK: - AUTH

    /// AUTH mechanism [initial-response] (RFC 4954 §4): checks order and policy, then starts the exchange.
    mutating func auth(mechanism name: String, initialResponse: String?) -> [SMTPServerAction] {
        guard hello != nil else { return reject(.needHello) }
        guard authenticatedUser == nil else { return reject(.alreadyAuthenticated) }
        guard transaction == nil else { return reject(.transactionInProgress) }
        guard isTLS || configuration.allowPlaintextAuth else { return reject(.encryptionRequired) }
        guard let mechanism = SASLMechanism(name: name), mechanism != .scramSHA256 || configuration.offerSCRAM else {
            return reject(.unknownMechanism)
        }
        var exchange = SASLServerExchange(mechanism: mechanism, initialResponse: initialResponse)
        let step = exchange.start()
        saslExchange = exchange
        return authStep(step)
    }

    /// A continuation line of the running exchange (RFC 4954 §4: base64 or "*").
    mutating func authContinuation(_ bytes: [UInt8]) -> [SMTPServerAction] {
        guard bytes.count + 2 <= max(Self.authLineLength, configuration.maxCommandLineLength) else {
            return lineTooLong()
        }
        guard var exchange = saslExchange else { return [] }
        let step = exchange.receive(bytes)
        saslExchange = exchange
        return authStep(step)
    }

    /// Turns one exchange step into replies and actions.
    mutating func authStep(_ step: SASLServerExchange.Step) -> [SMTPServerAction] {
        switch step {
        case .challenge(let challenge):
            return [.send(.authChallenge(challenge))]
        case .credentials(let username, let password):
            saslExchange = nil
            pending = .authentication
            return [.authenticate(username: username, password: password)]
        case .cancelled:
            saslExchange = nil
            return [.send(.authCancelled)]
        case .malformed(let reason):
            saslExchange = nil
            return reject(.authMalformed(reason))
        case .authorizationDenied:
            saslExchange = nil
            return authFailed()
        case .lookupSCRAM(let username):
            pending = .scramLookup
            return [.lookupSCRAM(username: username)]
        case .scramVerified(let username):
            saslExchange = nil
            pending = .authentication
            return [.authenticateSCRAM(username: username, proofValid: true)]
        case .scramFailed(let username):
            saslExchange = nil
            pending = .authentication
            return [.authenticateSCRAM(username: username, proofValid: false)]
        }
    }

    /// The adapter's answer to `.authenticate` (RFC 4954 §6).
    mutating func authenticated(_ outcome: SMTPAuthAnswer) -> [SMTPServerAction] {
        switch outcome {
        case .success(let user):
            authenticatedUser = user
            return [.send(.authSucceeded)]
        case .invalidCredentials:
            return authFailed()
        case .temporaryFailure:
            return [.send(.authTemporaryFailure)]
        case .tooManyLogins:
            return closeWith(.tooManyLoginsInProgress(hostname: configuration.hostname))
        }
    }

    /// 535 5.7.8, counted; at `maxAuthFailures` followed by 421 4.7.0 and close.
    mutating func authFailed() -> [SMTPServerAction] {
        authFailures += 1
        var actions: [SMTPServerAction] = [.send(.authInvalid)]
        if authFailures >= configuration.maxAuthFailures {
            actions += closeWith(.tooManyAuthFailures(hostname: configuration.hostname))
        }
        return actions
    }
}
