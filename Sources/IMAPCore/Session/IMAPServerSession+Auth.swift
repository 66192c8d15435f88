/// Greeting, CAPABILITY, STARTTLS (RFC 9051 §6.2.1), LOGIN (§6.2.3), AUTHENTICATE with SASL-IR (§6.2.2,
/// RFC 4959), ENABLE (RFC 5161), COMPRESS (RFC 4978).
import MailCore

extension IMAPServerSession {
    /// RFC 9051 §6.1.1 and the extensions: before login only what a client needs to log in (RFC 9051
    /// §7.2.2 allows the list to change after login), then everything.
    public func capabilities() -> [String] {
        var caps = ["IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE"]
        if state == .notAuthenticated {
            if configuration.tlsAvailable, !isTLS { caps.append("STARTTLS") }
            if plaintextAuthAllowed {
                caps += SASLMechanism.allCases.filter { $0 != .scramSHA256 }.map { "AUTH=" + $0.rawValue }
            } else {
                caps.append("LOGINDISABLED")
            }
            return caps
        }
        caps += [
            "NAMESPACE", "UNSELECT", "UIDPLUS", "MOVE", "CHILDREN", "LIST-EXTENDED", "LIST-STATUS",
            "SPECIAL-USE", "CREATE-SPECIAL-USE", "ESEARCH", "SEARCHRES", "STATUS=SIZE", "BINARY",
            "APPENDLIMIT=\(configuration.limits.maxAppendSize)", "UTF8=ACCEPT", "CONDSTORE", "QRESYNC",
            "QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"
        ]
        if configuration.compressionAvailable, !isCompressed { caps.append("COMPRESS=DEFLATE") }
        return caps
    }

    // MARK: - STARTTLS

    /// RFC 9051 §6.2.1: after the OK the client starts the handshake; anything it sent after the command
    /// is discarded (it was sent in the clear: the CVE-2011-0411 class of bug).
    mutating func startTLS(_ tag: String) -> [IMAPServerAction] {
        guard state == .notAuthenticated else { return protocolError(tag: tag, "Already logged in") }
        guard configuration.tlsAvailable, !isTLS else {
            return protocolError(tag: tag, isTLS ? "TLS already active" : "STARTTLS not available")
        }
        framer.discardBuffered()
        pending = .tls
        return [ok(tag, "Begin TLS negotiation now"), .startTLS]
    }

    // MARK: - LOGIN / AUTHENTICATE

    mutating func login(_ tag: String, _ user: [UInt8], _ password: [UInt8]) -> [IMAPServerAction] {
        guard state == .notAuthenticated else { return protocolError(tag: tag, "Already logged in") }
        guard plaintextAuthAllowed else {
            return [no(tag, .privacyRequired, "Plaintext authentication disallowed on non-secure connections")]
        }
        guard let u = String(validating: user, as: UTF8.self), let p = String(validating: password, as: UTF8.self),
            !u.isEmpty
        else {
            return loginFailed(tag)
        }
        username = u
        pending = .authentication(tag: tag)
        return [.authenticate(username: u, password: p)]
    }

    /// RFC 9051 §6.2.2, RFC 4959: `AUTHENTICATE PLAIN [initial-response]`; challenges are `+ base64`,
    /// the client's `*` cancels (tagged BAD).
    mutating func authenticate(_ tag: String, _ mechanismName: String, _ initial: String?) -> [IMAPServerAction] {
        guard state == .notAuthenticated else { return protocolError(tag: tag, "Already logged in") }
        guard plaintextAuthAllowed else {
            return [no(tag, .privacyRequired, "Plaintext authentication disallowed on non-secure connections")]
        }
        // SCRAM needs the stored-key lookup the IMAP adapter does not have yet (docs/IMAP.md).
        guard let mechanism = SASLMechanism(name: mechanismName), mechanism != .scramSHA256 else {
            return [no(tag, .cannot, "Unsupported authentication mechanism")]
        }
        var exchange = SASLServerExchange(mechanism: mechanism, initialResponse: initial)
        let step = exchange.start()
        return saslStep(tag, exchange, step)
    }

    mutating func saslStep(_ tag: String, _ exchange: SASLServerExchange, _ step: SASLServerExchange.Step) -> [IMAPServerAction] {
        switch step {
        case .challenge(let bytes):
            pending = .sasl(tag: tag, exchange)
            return [send(.continuationData(bytes))]
        case .credentials(let user, let password):
            username = user
            pending = .authentication(tag: tag)
            return [.authenticate(username: user, password: password)]
        case .cancelled:
            return protocolError(tag: tag, "Authentication cancelled")
        case .malformed(let text):
            return protocolError(tag: tag, text)
        case .authorizationDenied(let user):
            username = user
            return loginFailed(tag)
        case .lookupSCRAM, .scramVerified, .scramFailed:
            // Not reached: SCRAM is refused before the exchange starts (above).
            return [no(tag, .cannot, "Unsupported authentication mechanism")]
        }
    }

    mutating func authenticated(_ tag: String, _ result: IMAPAuthResult) -> [IMAPServerAction] {
        switch result {
        case .success(let user):
            username = user
            state = .authenticated
            authFailures = 0
            return [ok(tag, "Logged in", .capability(capabilities()))]
        case .invalidCredentials:
            return loginFailed(tag)
        case .disabled:
            return [no(tag, .contactAdmin, "Account disabled")]
        case .temporaryFailure:
            return [no(tag, .unavailable, "Temporary authentication failure, try again later")]
        }
    }

    mutating func loginFailed(_ tag: String) -> [IMAPServerAction] {
        authFailures += 1
        let reply = no(tag, .authenticationFailed, "Authentication failed")
        if authFailures >= configuration.maxAuthFailures {
            return [reply] + close(sending: .untagged(.bye, nil, "Too many authentication failures"))
        }
        return [reply]
    }

    // MARK: - ENABLE, COMPRESS

    /// RFC 5161 §3: only in the authenticated state; the reply lists what was newly enabled.
    /// IMAP4rev2 (RFC 9051 §6.3.1), UTF8=ACCEPT (RFC 6855), CONDSTORE and QRESYNC (RFC 7162; QRESYNC
    /// implies CONDSTORE).
    mutating func enable(_ tag: String, _ names: [String]) -> [IMAPServerAction] {
        guard state == .authenticated else { return protocolError(tag: tag, "ENABLE is only valid before SELECT") }
        var newly: [String] = []
        for name in names {
            let upper = name.uppercased()
            guard ["IMAP4REV2", "UTF8=ACCEPT", "CONDSTORE", "QRESYNC"].contains(upper), !enabled.contains(upper) else {
                continue
            }
            enabled.insert(upper)
            newly.append(upper == "IMAP4REV2" ? "IMAP4rev2" : upper)
            if upper == "QRESYNC", !enabled.contains("CONDSTORE") {
                enabled.insert("CONDSTORE")
                newly.append("CONDSTORE")
            }
        }
        return [send(.data(.enabled(newly))), ok(tag, "ENABLE completed")]
    }

    /// RFC 4978 §3: after the OK both directions are compressed. The client must not send anything before
    /// it sees the OK; octets it sent anyway are already compressed, so they are not framed as commands
    /// but kept in `inputAfterCompress` for the adapter to inflate first (`takeInputAfterCompress`).
    mutating func compress(_ tag: String, _ algorithm: String) -> [IMAPServerAction] {
        guard configuration.compressionAvailable else { return protocolError(tag: tag, "COMPRESS not available") }
        guard !isCompressed else { return [no(tag, .compressionActive, "Compression already active")] }
        guard algorithm == "DEFLATE" else { return protocolError(tag: tag, "Unknown compression algorithm") }
        inputAfterCompress = framer.takeBuffered()
        pending = .compression
        return [ok(tag, "DEFLATE active"), .startCompression]
    }
}
