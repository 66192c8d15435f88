/// One mail transaction as the client sends it (RFC 5321 §3.3: MAIL, RCPT..., DATA) and its outcome per
/// recipient. Parameters: SIZE (RFC 1870), BODY=8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531),
/// RET/ENVID/NOTIFY/ORCPT (RFC 3461 §4).
import MailCore

public struct SMTPClientRecipient: Hashable, Sendable {
    /// `local@domain`, without angle brackets.
    public var address: String
    /// RCPT NOTIFY= (sent only when the server offers DSN).
    public var notify: DSNNotify?
    /// RCPT ORCPT=, decoded (`rfc822;a@b.example`); sent xtext-encoded only when the server offers DSN.
    public var originalRecipient: String?

    public init(address: String, notify: DSNNotify? = nil, originalRecipient: String? = nil) {
        self.address = address
        self.notify = notify
        self.originalRecipient = originalRecipient
    }
}

public struct SMTPClientEnvelope: Hashable, Sendable {
    /// The reverse-path without angle brackets; "" for the null sender `<>`.
    public var sender: String
    public var recipients: [SMTPClientRecipient]
    /// The message size in octets as stored (sent as SIZE=, and checked against the server's limit).
    public var size: Int64
    /// The body is 8-bit MIME: BODY=8BITMIME is sent when the server offers it (and omitted otherwise,
    /// as Postfix does, rather than converting the body).
    public var eightBitMIME: Bool
    /// The message needs SMTPUTF8; a server without it gets no MAIL (5.6.7 for every recipient).
    public var smtpUTF8: Bool
    public var envelopeID: String?
    public var dsnReturn: DSNReturn?

    public init(
        sender: String, recipients: [SMTPClientRecipient], size: Int64, eightBitMIME: Bool = false,
        smtpUTF8: Bool = false, envelopeID: String? = nil, dsnReturn: DSNReturn? = nil
    ) {
        self.sender = sender
        self.recipients = recipients
        self.size = size
        self.eightBitMIME = eightBitMIME
        self.smtpUTF8 = smtpUTF8
        self.envelopeID = envelopeID
        self.dsnReturn = dsnReturn
    }
}

/// Which step of the transaction decided a recipient's outcome.
public enum SMTPClientStage: String, Hashable, Sendable {
    /// Decided by the client before MAIL (SIZE too big, SMTPUTF8 not offered, unusable address).
    case local
    case mail
    case rcpt
    case data
    /// The reply after the final "." (RFC 5321 §4.1.1.4).
    case body
}

/// The outcome for one recipient.
public struct SMTPRecipientResult: Hashable, Sendable {
    public enum Status: String, Hashable, Sendable {
        case delivered
        case temporaryFailure
        case permanentFailure
    }

    public var recipient: SMTPClientRecipient
    public var status: Status
    /// The reply that decided it (for a `.local` decision a reply the client made up, as Postfix does).
    public var reply: SMTPReply
    public var stage: SMTPClientStage

    public init(recipient: SMTPClientRecipient, status: Status, reply: SMTPReply, stage: SMTPClientStage) {
        self.recipient = recipient
        self.status = status
        self.reply = reply
        self.stage = stage
    }

    public var isDelivered: Bool { status == .delivered }
    public var isTemporary: Bool { status == .temporaryFailure }

    /// Status from a failure reply: 5yz permanent, anything else temporary.
    static func failure(_ recipient: SMTPClientRecipient, _ reply: SMTPReply, _ stage: SMTPClientStage) -> Self {
        Self(
            recipient: recipient, status: reply.code.isPermanentFailure ? .permanentFailure : .temporaryFailure,
            reply: reply, stage: stage)
    }
}

/// The outcome of one transaction: one result per recipient, in the envelope's order.
public struct SMTPTransactionResult: Hashable, Sendable {
    public var recipients: [SMTPRecipientResult]
    /// The server offered DSN (RFC 3461 §5.2.3: without it, NOTIFY=SUCCESS recipients get a "relayed" DSN).
    public var dsnOffered: Bool
    /// The connection cannot be used for another transaction (the server closed it, or left it in DATA).
    public var connectionClosed: Bool

    public init(recipients: [SMTPRecipientResult], dsnOffered: Bool, connectionClosed: Bool = false) {
        self.recipients = recipients
        self.dsnOffered = dsnOffered
        self.connectionClosed = connectionClosed
    }

    public var delivered: [SMTPRecipientResult] { recipients.filter { $0.status == .delivered } }
    public var temporaryFailures: [SMTPRecipientResult] { recipients.filter { $0.status == .temporaryFailure } }
    public var permanentFailures: [SMTPRecipientResult] { recipients.filter { $0.status == .permanentFailure } }
}
