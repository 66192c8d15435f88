/// What the client session negotiates: the name it greets with (RFC 5321 §4.1.1.1), its STARTTLS policy
/// (RFC 3207; RFC 7672 §1.3 on why MX delivery is opportunistic by default), and SMTP AUTH credentials
/// (RFC 4954) for relaying through a smarthost.

/// When to use STARTTLS.
public enum SMTPClientTLSPolicy: String, Hashable, Sendable, CaseIterable {
    /// Never send STARTTLS.
    case none
    /// Use STARTTLS when the server offers it; go on in plaintext when it is not offered or refused
    /// (a failed handshake still fails the connection: it cannot go back to plaintext).
    case opportunistic
    /// Fail (temporarily) when STARTTLS is not offered, refused, or the handshake fails.
    case required
}

/// SASL mechanisms the client can use (RFC 4616 PLAIN, draft-murchison-sasl-login LOGIN).
public enum SMTPClientAuthMechanism: String, Hashable, Sendable {
    case plain = "PLAIN"
    case login = "LOGIN"
}

public struct SMTPClientCredentials: Hashable, Sendable {
    public var username: String
    public var password: String
    /// Mechanisms in the order of preference; the first one the server offers is used.
    public var mechanisms: [SMTPClientAuthMechanism]

    public init(username: String, password: String, mechanisms: [SMTPClientAuthMechanism] = [.plain, .login]) {
        self.username = username
        self.password = password
        self.mechanisms = mechanisms
    }
}

public struct SMTPClientSessionConfiguration: Hashable, Sendable {
    /// The name sent in EHLO/HELO: this host's FQDN (or an address literal), RFC 5321 §4.1.1.1.
    public var heloName: String
    public var tlsPolicy: SMTPClientTLSPolicy
    /// AUTH is done after EHLO (after STARTTLS, when used) when set.
    public var credentials: SMTPClientCredentials?
    /// Allows AUTH over a plaintext connection (otherwise credentials without TLS fail the session).
    public var allowPlaintextAuth: Bool
    /// Lines the transcript keeps (the last ones).
    public var transcriptLimit: Int

    public init(
        heloName: String, tlsPolicy: SMTPClientTLSPolicy = .opportunistic, credentials: SMTPClientCredentials? = nil,
        allowPlaintextAuth: Bool = false, transcriptLimit: Int = 50
    ) {
        self.heloName = heloName
        self.tlsPolicy = tlsPolicy
        self.credentials = credentials
        self.allowPlaintextAuth = allowPlaintextAuth
        self.transcriptLimit = transcriptLimit
    }
}
