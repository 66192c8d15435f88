/// The AUTHORIZATION state of `POP3ServerSession`: USER/PASS (RFC 1939 §7), AUTH PLAIN
/// (RFC 5034 §4 with RFC 4616), QUIT (RFC 1939 §6) and the answers to `.authenticate`, with the
/// response codes of RFC 2449 §8 and RFC 3206.
import MailCore

extension POP3ServerSession {
    static let plaintextDisallowed = POP3Response.err(.auth, "Plaintext authentication disallowed on non-secure connections")
    static let authFailed = POP3Response.err(.auth, "Authentication failed")

    mutating func authorizationCommand(_ command: POP3Command) -> [POP3ServerAction] {
        switch command {
        case .user(let name):
            guard configuration.allowPlaintextAuth else { return [send(Self.plaintextDisallowed)] }
            pendingUser = name
            return [send(.ok("Send PASS"))]
        case .pass(let password):
            guard configuration.allowPlaintextAuth else { return [send(Self.plaintextDisallowed)] }
            guard let name = pendingUser else { return protocolError(.err("No username given, send USER first")) }
            pendingUser = nil
            return startAuthentication(username: name, password: password)
        case .auth(let mechanism, let initialResponse):
            pendingUser = nil
            guard let mechanism else {
                return protocolError(.err("AUTH requires a SASL mechanism, see CAPA"))
            }
            guard mechanism == SASLPlain.mechanismName else {
                return [send(.err("Unsupported authentication mechanism"))]
            }
            guard configuration.allowPlaintextAuth else { return [send(Self.plaintextDisallowed)] }
            guard let initialResponse else {
                pending = .saslResponse
                return [send(.continuation(""))]
            }
            // RFC 5034 §4: "=" is an empty initial response.
            return plainResponse(initialResponse == "=" ? [] : Array(initialResponse.utf8))
        case .apop:
            return [send(.err("APOP not supported"))]
        case .stls:
            return [send(.err("STLS not available"))]
        case .quit:
            return close(sending: .ok("Petrel POP3 server signing off"))
        case .capa:
            return [send(capabilities())]
        case .stat, .list, .retr, .dele, .noop, .rset, .top, .uidl:
            return protocolError(.err("Command not valid in AUTHORIZATION state, log in first"))
        }
    }

    /// The line after `+ ` in an AUTH PLAIN exchange (RFC 5034 §4: `*` cancels).
    mutating func saslResponse(_ bytes: [UInt8]) -> [POP3ServerAction] {
        pending = .none
        if bytes == [UInt8(ascii: "*")] {
            return [send(.err("Authentication cancelled"))]
        }
        return plainResponse(bytes)
    }

    /// Decodes and checks a PLAIN response, then asks the adapter to verify it.
    mutating func plainResponse(_ base64: [UInt8]) -> [POP3ServerAction] {
        let credentials: SASLPlainCredentials
        do {
            credentials = try SASLPlain.decode(base64: base64)
        } catch {
            return protocolError(.err(error.description))
        }
        guard let name = credentials.effectiveUsername else {
            // Acting as another user is not supported; answer exactly as for a wrong password.
            username = credentials.authenticationID
            return authenticationFailed(Self.authFailed)
        }
        return startAuthentication(username: name, password: credentials.password)
    }

    mutating func startAuthentication(username name: String, password: String) -> [POP3ServerAction] {
        username = name
        pending = .authentication
        return [.authenticate(username: name, password: password)]
    }

    /// The adapter's answer to `.authenticate`.
    mutating func authenticated(_ result: AuthResult) -> [POP3ServerAction] {
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
