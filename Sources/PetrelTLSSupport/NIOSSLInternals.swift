/// The one place that reaches into what swift-nio-ssl 2.37 keeps private — the SSL_CTX of a context (to
/// turn session tickets off) and the SSL of a connection (to name the negotiated cipher) — by reflection
/// on its stored properties `NIOSSLContext.sslContext` and `NIOSSLHandler.connection.ssl`, then the two
/// BoringSSL calls of CPetrelTLS. Used by the server side (MailServerNIO's `TLSInternals`) and the client
/// side (MailDelivery's SMTP client). If a NIOSSL release renames the fields, the lookups return nil:
/// tickets stay on and the cipher shows as "unknown", and the tests (PetrelTLSSupportTests, TLSTests) fail
/// so the change is noticed. No RFC: TLS versions are named as OpenSSL names them (RFC 8446 = "TLSv1.3").
import CPetrelTLS
import MailCore
import NIOSSL

public enum NIOSSLInternals {
    /// Turns off TLS session tickets on a server context. Returns true when they were turned off.
    @discardableResult
    public static func disableSessionTickets(_ context: NIOSSLContext) -> Bool {
        guard let ctx = pointer(child(context, "sslContext")) else { return false }
        petrel_tls_disable_session_tickets(UnsafeMutableRawPointer(ctx))
        return true
    }

    /// Makes a server context pick the TLS 1.2 cipher suite in its own order of preference (the order
    /// of `TLSCipherPolicy.tls12CipherSuites`) rather than the client's. Returns true when it was set.
    @discardableResult
    public static func preferServerCiphers(_ context: NIOSSLContext) -> Bool {
        guard let ctx = pointer(child(context, "sslContext")) else { return false }
        petrel_tls_prefer_server_ciphers(UnsafeMutableRawPointer(ctx))
        return true
    }

    /// Version and cipher of a finished handshake ("TLS" / "unknown" when not known).
    /// Must be called on the channel's event loop.
    public static func info(of handler: NIOSSLHandler) -> TLSInfo {
        let version: String
        switch handler.tlsVersion {
        case .tlsv13?: version = "TLSv1.3"
        case .tlsv12?: version = "TLSv1.2"
        case .tlsv11?: version = "TLSv1.1"
        case .tlsv1?: version = "TLSv1"
        default: version = "TLS"
        }
        var cipher = "unknown"
        if let connection = child(handler, "connection"), let ssl = pointer(child(connection, "ssl")),
            let name = petrel_tls_cipher_name(UnsafeRawPointer(ssl))
        {
            cipher = String(cString: name)
        }
        return TLSInfo(version: version, cipher: cipher)
    }

    /// The stored property `label` of `subject` or of one of its superclasses.
    static func child(_ subject: Any, _ label: String) -> Any? {
        var mirror: Mirror? = Mirror(reflecting: subject)
        while let m = mirror {
            if let value = m.children.first(where: { $0.label == label })?.value { return value }
            mirror = m.superclassMirror
        }
        return nil
    }

    /// An `OpaquePointer`, or an `Optional<OpaquePointer>` wrapped in `Any`, unwrapped.
    static func pointer(_ value: Any?) -> OpaquePointer? {
        guard let value else { return nil }
        if let p = value as? OpaquePointer { return p }
        let m = Mirror(reflecting: value)
        if m.displayStyle == .optional, let inner = m.children.first?.value as? OpaquePointer { return inner }
        return nil
    }
}
