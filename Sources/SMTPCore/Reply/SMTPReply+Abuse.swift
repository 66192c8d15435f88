/// Replies of the abuse defences (relay control issue): anti-spoofing of local sender domains
/// (RFC 5321 §3.3 leaves sender checks to local policy; 550 5.7.1 per RFC 3463 §3.8 "delivery not
/// authorized"), too many invalid recipients (421 4.7.0, RFC 5321 §3.8 closing), a client that talks
/// before the greeting (554 5.5.0, RFC 5321 §4.3.1 / §3.1 "the client waits for the greeting") and
/// connection-control refusals at greeting time (554 5.7.1, RFC 5321 §3.1).
import MailCore

extension SMTPReply {
    /// `[smtp] reject_unauthenticated_local_sender`: an unauthenticated client claims a local sender domain.
    public static func localSenderNotAuthenticated(_ address: String) -> SMTPReply {
        SMTPReply(
            .mailboxUnavailable, .deliveryNotAuthorized,
            "<\(address)>: Sender address rejected: authentication required for a local sender domain")
    }
    /// The sender domain could not be looked up.
    public static func temporarySenderLookupFailure(_ address: String) -> SMTPReply {
        SMTPReply(.localError, .tempSystem, "<\(address)>: Temporary lookup failure, try again later")
    }
    public static func tooManyInvalidRecipients(hostname: String) -> SMTPReply {
        SMTPReply(.serviceNotAvailable, .tempSecurity, "\(hostname) Error: too many invalid recipients")
    }
    /// Sent instead of the greeting to a client that sent data before it (then close).
    public static func talkedBeforeGreeting(hostname: String) -> SMTPReply {
        SMTPReply(
            .transactionFailed, EnhancedStatusCode(.permanentFailure, 5, 0),
            "\(hostname) Error: SMTP protocol synchronization (data sent before the greeting)")
    }
    /// Sent instead of the greeting to a client the connection control lists refuse (then close).
    public static func connectionDenied(hostname: String) -> SMTPReply {
        SMTPReply(.transactionFailed, .deliveryNotAuthorized, "\(hostname) Error: access denied for your address")
    }
    /// Sent instead of the greeting to a client over the per-minute connection rate (then close).
    public static func connectionRateExceeded(hostname: String) -> SMTPReply {
        SMTPReply(.serviceNotAvailable, .tempSecurity, "\(hostname) Error: too many connections from your address, try again later")
    }
}
