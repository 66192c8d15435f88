/// Session-level failures of the SMTP client: everything that ends a connection rather than deciding one
/// recipient (RFC 5321 §4.5.3.2 timeouts, §3.1 greeting, §4.1.1.1 EHLO/HELO, RFC 3207 STARTTLS, RFC 4954 AUTH).
///
/// `isTemporary` tells the queue whether to retry: every failure is temporary except a 5yz reply to the
/// greeting, EHLO/HELO or AUTH. "TLS required but not offered" is temporary too (Postfix defers it:
/// the peer may be fixed, or another MX may offer it).

public enum SMTPClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// TCP connect failed (refused, unreachable, connect timeout); set by the network adapter.
    case connectFailed(String)
    /// No reply within the time allowed; the text names what the client was waiting for.
    case timeout(String)
    /// The peer closed the connection; the text names what the client was waiting for.
    case connectionLost(String)
    case malformedReply(SMTPReplyParseError)
    /// The greeting was not 220 (RFC 5321 §3.1: 554 means "no service here").
    case greetingRejected(SMTPReply)
    /// EHLO and HELO both failed (or EHLO failed with 4yz).
    case helloRejected(SMTPReply)
    /// The policy requires TLS and the server did not offer STARTTLS.
    case startTLSNotOffered
    /// The policy requires TLS and the server refused STARTTLS.
    case startTLSRejected(SMTPReply)
    case tlsHandshakeFailed(String)
    /// Credentials are configured but TLS is not active and plaintext AUTH is not allowed.
    case authRequiresTLS
    /// Credentials are configured but the server offers none of the configured mechanisms (or no AUTH).
    case authNotOffered(offered: [String])
    case authFailed(SMTPReply)
    /// A reply that makes no sense where it came (e.g. RSET refused, a reply nobody waited for).
    case unexpectedReply(SMTPReply, expected: String)
    /// A local problem ended the session (e.g. the stored message could not be read mid-body: the
    /// connection is closed so the server never sees a truncated message).
    case localFailure(String)
    /// The session was asked to do something in a state that does not allow it (closed, busy).
    case invalidState(String)

    public var isTemporary: Bool {
        switch self {
        case .greetingRejected(let reply), .helloRejected(let reply), .authFailed(let reply):
            return !reply.code.isPermanentFailure
        default:
            return true
        }
    }

    public var description: String {
        switch self {
        case .connectFailed(let text): return "connect failed: \(text)"
        case .timeout(let stage): return "timeout waiting for \(stage)"
        case .connectionLost(let stage): return "connection lost waiting for \(stage)"
        case .malformedReply(let error): return "malformed reply: \(error)"
        case .greetingRejected(let reply): return "greeting rejected: \(reply)"
        case .helloRejected(let reply): return "EHLO/HELO rejected: \(reply)"
        case .startTLSNotOffered: return "TLS is required but the server does not offer STARTTLS"
        case .startTLSRejected(let reply): return "TLS is required but STARTTLS was refused: \(reply)"
        case .tlsHandshakeFailed(let text): return "TLS handshake failed: \(text)"
        case .authRequiresTLS: return "AUTH credentials are configured but the connection is not encrypted"
        case .authNotOffered(let offered):
            return offered.isEmpty
                ? "the server does not offer AUTH"
                : "the server offers no usable AUTH mechanism (offered: \(offered.joined(separator: " ")))"
        case .authFailed(let reply): return "authentication failed: \(reply)"
        case .unexpectedReply(let reply, let expected): return "unexpected reply to \(expected): \(reply)"
        case .localFailure(let text): return "local error: \(text)"
        case .invalidState(let text): return "client session misuse: \(text)"
        }
    }
}
