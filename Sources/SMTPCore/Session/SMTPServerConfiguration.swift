/// Settings of one SMTP server session (limits from RFC 5321 §4.5.3.1, RFC 1870 SIZE; TLS per
/// RFC 3207 / RFC 8314; AUTH per RFC 4954; submission per RFC 6409) and the injected clock and
/// queue-id generator that keep the session deterministic in tests.
import Foundation
import MailCore

public struct SMTPServerConfiguration: Sendable {
    /// Used in the greeting, the EHLO reply and the Received header.
    public var hostname: String
    /// Advertised as SIZE; default 50 MiB.
    public var maxMessageSize: Int
    /// Accepted recipients per message, default 100 (then 452 4.5.3).
    public var maxRecipients: Int
    /// Stored messages per connection, default 100 (then 421 4.7.0 and close).
    public var maxMessagesPerConnection: Int
    /// Error replies per connection, default 10 (then 421 4.7.0 and close).
    public var maxErrors: Int
    /// 512 octets including CRLF (RFC 5321 §4.5.3.1.4); the adapter's line framing uses it.
    public var maxCommandLineLength: Int
    /// 1000 octets including CRLF (RFC 5321 §4.5.3.1.6); the DATA/BDAT decoders use it.
    public var maxTextLineLength: Int
    /// STARTTLS is offered (RFC 3207) while the connection is not yet TLS. Default false.
    public var tlsAvailable: Bool
    /// The connection is TLS from its first byte (RFC 8314 §3.3, port 465). Default false.
    public var implicitTLS: Bool
    /// A message submission port (RFC 6409): MAIL needs AUTH first (530 5.7.0). Default false.
    public var isSubmission: Bool
    /// AUTH is offered and allowed without TLS (RFC 4954 §4 recommends against it). Default false.
    public var allowPlaintextAuth: Bool
    /// After AUTH, MAIL FROM must be the authenticated address (case-insensitive) and `<>` is
    /// refused (553 5.7.1). Default true.
    public var requireSenderMatch: Bool
    /// Failed AUTH attempts (535) per connection before 421 4.7.0 and close. Default 3.
    public var maxAuthFailures: Int
    /// Port 25 anti-spoofing: an unauthenticated MAIL FROM whose domain is local gets 550 5.7.1
    /// (checked with `.checkSenderDomain`; never on submission ports, never for `<>`). Default false.
    public var rejectUnauthenticatedLocalSender: Bool = false
    /// Offer SASL SCRAM-SHA-256 (RFC 7677) besides PLAIN and LOGIN. Default false.
    public var offerSCRAM: Bool = false
    /// Mail loop rule (RFC 5321 §6.3): a message that would be stored with more than `hopCount.limit`
    /// `Received:` fields (its own plus the one this server adds) is refused at the end of DATA / BDAT
    /// LAST with 554 5.4.6. The outbound queue applies the same `HopCount`. Default limit 30.
    public var hopCount: HopCount = HopCount()
    /// Clock for the Received header date.
    public var clock: any MailClock
    /// Queue id generator.
    public var makeQueueID: @Sendable () -> String

    public init(hostname: String) {
        self.hostname = hostname
        self.maxMessageSize = 50 * 1024 * 1024
        self.maxRecipients = 100
        self.maxMessagesPerConnection = 100
        self.maxErrors = 10
        self.maxCommandLineLength = 512
        self.maxTextLineLength = 1000
        self.tlsAvailable = false
        self.implicitTLS = false
        self.isSubmission = false
        self.allowPlaintextAuth = false
        self.requireSenderMatch = true
        self.maxAuthFailures = 3
        self.clock = WallClock()
        self.makeQueueID = { QueueID.generate() }
    }
}
