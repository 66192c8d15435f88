/// What the network adapter reports about an established TLS session, shared by the SMTP
/// (RFC 3207 STARTTLS, RFC 8314 implicit TLS) and POP3 (RFC 2595 STLS, RFC 8314) cores.
///
/// The cores only record it: for `SMTPServerSession.tlsInfo` / `POP3ServerSession.tlsInfo`, the
/// transaction log line and the `(using … with cipher …)` comment of the `Received:` header.

/// The negotiated protocol version and cipher suite, e.g. `TLSv1.3` / `TLS_AES_256_GCM_SHA384`.
public struct TLSInfo: Hashable, Sendable, CustomStringConvertible {
    /// The protocol version as OpenSSL names it ("TLSv1.2", "TLSv1.3").
    public var version: String
    /// The cipher suite name ("TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384").
    public var cipher: String

    public init(version: String, cipher: String) {
        self.version = version
        self.cipher = cipher
    }

    /// "TLSv1.3 TLS_AES_256_GCM_SHA384", for logs.
    public var description: String { "\(version) \(cipher)" }
}
