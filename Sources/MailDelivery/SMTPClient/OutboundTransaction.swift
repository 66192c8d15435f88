/// One message to send over an `SMTPClientConnection`, built from the queue's models
/// (`OutboundRecipient`, `OutboundEnvelope`), with the body read from the store in chunks.
import MailCore
import MailStore
import SMTPCore

public struct OutboundTransaction: Sendable {
    /// The reverse-path (`.null` for a report).
    public var sender: MailPath
    public var recipients: [OutboundRecipient]
    public var envelope: OutboundEnvelope
    /// Stored size in octets (SIZE=, and the check against the server's limit).
    public var size: Int64
    /// Reads up to `maxLength` octets of the stored body from `offset`; empty at the end.
    /// The body is expected in CRLF form; bare LF/CR are converted, dot-stuffing is done by the client.
    public var read: @Sendable (_ offset: Int64, _ maxLength: Int) async throws -> [UInt8]

    public init(
        sender: MailPath, recipients: [OutboundRecipient], envelope: OutboundEnvelope, size: Int64,
        read: @escaping @Sendable (_ offset: Int64, _ maxLength: Int) async throws -> [UInt8]
    ) {
        self.sender = sender
        self.recipients = recipients
        self.envelope = envelope
        self.size = size
        self.read = read
    }

    /// A transaction over an in-memory body (tests, small generated messages such as DSNs).
    public init(sender: MailPath, recipients: [OutboundRecipient], envelope: OutboundEnvelope = OutboundEnvelope(), body: [UInt8]) {
        self.init(sender: sender, recipients: recipients, envelope: envelope, size: Int64(body.count)) { offset, maxLength in
            guard offset >= 0, offset < Int64(body.count) else { return [] }
            let start = Int(offset)
            return Array(body[start..<min(body.count, start + max(maxLength, 1))])
        }
    }

    /// The envelope as the pure session takes it (addresses in RFC 5321 text form).
    var clientEnvelope: SMTPClientEnvelope {
        SMTPClientEnvelope(
            sender: sender.address?.description ?? "",
            recipients: recipients.map {
                SMTPClientRecipient(address: $0.address.description, notify: $0.notify, originalRecipient: $0.originalRecipient)
            },
            size: size, eightBitMIME: envelope.eightBitMIME, smtpUTF8: envelope.smtpUTF8,
            envelopeID: envelope.envelopeID, dsnReturn: envelope.dsnReturn)
    }
}

/// The per-recipient outcome of one transaction (results in the order of `OutboundTransaction.recipients`;
/// each result's `recipient.address` is the `OutboundRecipient.address` in text form).
public typealias OutboundTransactionResult = SMTPTransactionResult
