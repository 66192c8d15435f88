/// The SASL PLAIN mechanism (RFC 4616), shared by POP3 AUTH (RFC 5034) and SMTP AUTH (RFC 4954).
///
/// The server side only: decode the client's base64 response and split it into the authorization
/// identity, authentication identity and password. Checking the password is the caller's job.
/// Petrel does not support acting on behalf of another identity: `effectiveUsername` is nil when an
/// authorization identity different from the authentication identity was requested (RFC 4616 §2
/// lets the server refuse it; callers should answer exactly as for a wrong password).

/// The three fields of a PLAIN message.
public struct SASLPlainCredentials: Hashable, Sendable {
    /// The identity to act as, when the client sent one (never empty).
    public var authorizationID: String?
    /// The identity whose password this is (never empty).
    public var authenticationID: String
    /// The clear-text password (never empty).
    public var password: String

    public init(authorizationID: String? = nil, authenticationID: String, password: String) {
        self.authorizationID = authorizationID
        self.authenticationID = authenticationID
        self.password = password
    }

    /// The login name to verify: the authentication identity, when the authorization identity is
    /// absent or names the same identity (compared case-insensitively); nil when the client asked to
    /// act as someone else (not supported).
    public var effectiveUsername: String? {
        guard let authz = authorizationID else { return authenticationID }
        return authz.lowercased() == authenticationID.lowercased() ? authenticationID : nil
    }
}

/// Why a PLAIN response was refused. `description` is safe to show to the client.
public enum SASLPlainError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The response was not strict base64 (RFC 5034 §4, RFC 4954 §4: reject with an error).
    case invalidBase64
    /// The decoded message does not match the RFC 4616 §2 grammar.
    case malformedMessage

    public var description: String {
        switch self {
        case .invalidBase64: return "Invalid base64 data"
        case .malformedMessage: return "Malformed PLAIN message"
        }
    }
}

public enum SASLPlain {
    /// The mechanism name as advertised in CAPA / EHLO.
    public static let mechanismName = "PLAIN"

    /// Parses a decoded PLAIN message.
    ///
    /// RFC 4616 §2:
    /// ```
    /// message   = [authzid] UTF8NUL authcid UTF8NUL passwd
    /// authcid   = 1*SAFE ; MUST accept up to 255 octets
    /// authzid   = 1*SAFE ; MUST accept up to 255 octets
    /// passwd    = 1*SAFE ; MUST accept up to 255 octets
    /// UTF8NUL   = %x00 ; UTF-8 encoded NUL character
    /// SAFE      = UTF1 / UTF2 / UTF3 / UTF4 ; any UTF-8 encoded Unicode character except NUL
    /// ```
    public static func parse(_ message: some Collection<UInt8>) throws(SASLPlainError) -> SASLPlainCredentials {
        let fields = message.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3 else { throw .malformedMessage }
        let authzBytes = fields[0], authcBytes = fields[1], passBytes = fields[2]
        // A third NUL would end up inside the password field; SAFE excludes NUL.
        guard !authcBytes.isEmpty, !passBytes.isEmpty, !passBytes.contains(0) else { throw .malformedMessage }
        guard let authc = String(validating: authcBytes, as: UTF8.self),
            let pass = String(validating: passBytes, as: UTF8.self),
            let authz = String(validating: authzBytes, as: UTF8.self)
        else { throw .malformedMessage }
        return SASLPlainCredentials(authorizationID: authz.isEmpty ? nil : authz, authenticationID: authc, password: pass)
    }

    /// Decodes a base64 client response and parses it as a PLAIN message.
    /// An empty response (`=` in an initial response, or an empty line) decodes to an empty message,
    /// which is malformed.
    public static func decode(base64 response: some Collection<UInt8>) throws(SASLPlainError) -> SASLPlainCredentials {
        guard let decoded = Base64.decode(response) else { throw .invalidBase64 }
        return try parse(decoded)
    }

    /// Encodes a PLAIN message as a client would send it (for tests and an SMTP client).
    public static func encode(_ credentials: SASLPlainCredentials) -> String {
        var message: [UInt8] = Array((credentials.authorizationID ?? "").utf8)
        message.append(0)
        message += Array(credentials.authenticationID.utf8)
        message.append(0)
        message += Array(credentials.password.utf8)
        return Base64.encode(message)
    }
}
