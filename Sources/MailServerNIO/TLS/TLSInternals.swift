/// Reaches two things swift-nio-ssl 2.37 keeps private — the SSL_CTX of a context (to turn session tickets
/// off) and the SSL of a connection (to name the negotiated cipher) — by reflection on its stored
/// properties `NIOSSLContext.sslContext` and `NIOSSLHandler.connection.ssl`. If a NIOSSL release renames
/// them, the lookups return nil: tickets stay on and the cipher shows as "unknown", and TLSInternalsTests fail
/// so the change is noticed.
import CPetrelTLS
import MailCore
import NIOSSL

public enum TLSInternals {
    static func child(_ subject: Any, _ label: String) -> Any? {
        var mirror: Mirror? = Mirror(reflecting: subject)
        while let m = mirror {
            if let value = m.children.first(where: { $0.label == label })?.value { return value }
            mirror = m.superclassMirror
        }
        return nil
    }

    static func pointer(_ value: Any?) -> OpaquePointer? {
        guard let value else { return nil }
        if let p = value as? OpaquePointer { return p }
        // Optional<OpaquePointer> wrapped in Any
        let m = Mirror(reflecting: value)
        if m.displayStyle == .optional, let inner = m.children.first?.value as? OpaquePointer { return inner }
        return nil
    }

    /// Returns true when tickets were turned off.
    @discardableResult
    public static func disableSessionTickets(_ context: NIOSSLContext) -> Bool {
        guard let ctx = pointer(child(context, "sslContext")) else { return false }
        petrel_tls_disable_session_tickets(UnsafeMutableRawPointer(ctx))
        return true
    }

    /// Version and cipher of a finished handshake. Must be called on the channel's event loop.
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
           let name = petrel_tls_cipher_name(UnsafeRawPointer(ssl)) {
            cipher = String(cString: name)
        }
        return TLSInfo(version: version, cipher: cipher)
    }
}
