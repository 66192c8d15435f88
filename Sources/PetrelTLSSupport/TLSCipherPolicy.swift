/// The TLS 1.2 cipher suites Petrel offers, as server (SMTP, submission, POP3, their implicit-TLS ports)
/// and as client (outbound SMTP): Mozilla's "intermediate" configuration (server-side TLS guidelines 5.x)
/// — ECDHE key exchange with an AEAD cipher only (AES-GCM, ChaCha20-Poly1305), no CBC suites (LUCKY13),
/// no static-RSA key exchange. BoringSSL has no finite-field DHE, so the DHE-RSA suites of that list
/// are left out. TLS 1.3 suites are all AEAD and are not configurable in BoringSSL; TLS 1.2 is the
/// minimum version (RFC 8996, RFC 8314 §4.1).
///
/// The server chooses by this order (`NIOSSLInternals.preferServerCiphers`): AES-128-GCM first, then
/// AES-256-GCM, then ChaCha20-Poly1305, ECDSA before RSA (the certificate decides which one applies).
import NIOSSL

public enum TLSCipherPolicy {
    /// OpenSSL/BoringSSL cipher-list syntax, in order of preference.
    public static let tls12CipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305"
    ].joined(separator: ":")

    /// Applies the policy to a configuration: TLS 1.2 minimum and the AEAD-only TLS 1.2 suites.
    public static func apply(to configuration: inout TLSConfiguration) {
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuites = tls12CipherSuites
    }
}
