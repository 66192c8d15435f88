/// The server side's names for the two things swift-nio-ssl 2.37 keeps private (session tickets off, the
/// negotiated cipher). The reflection itself lives in PetrelTLSSupport's `NIOSSLInternals`, shared with
/// MailDelivery's SMTP client; this enum forwards to it so MailServerNIO's callers and tests keep their API.
import MailCore
import NIOSSL
import PetrelTLSSupport

public enum TLSInternals {
    /// Turns off TLS session tickets on a server context. Returns true when they were turned off.
    @discardableResult
    public static func disableSessionTickets(_ context: NIOSSLContext) -> Bool {
        NIOSSLInternals.disableSessionTickets(context)
    }

    /// Makes a server context choose the TLS 1.2 cipher suite by its own preference order.
    @discardableResult
    public static func preferServerCiphers(_ context: NIOSSLContext) -> Bool {
        NIOSSLInternals.preferServerCiphers(context)
    }

    /// Version and cipher of a finished handshake. Must be called on the channel's event loop.
    public static func info(of handler: NIOSSLHandler) -> TLSInfo {
        NIOSSLInternals.info(of: handler)
    }
}
