/// Settings of one SMTP server session (limits from RFC 5321 §4.5.3.1, RFC 1870 SIZE) and the
/// injected clock and queue-id generator that keep the session deterministic in tests.
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
    /// Clock for the Received header date.
    public var now: @Sendable () -> Date
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
        self.now = { Date() }
        self.makeQueueID = { QueueID.generate() }
    }
}
