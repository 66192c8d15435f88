/// Actions `SMTPServerSession` asks the adapter to perform, and the values they carry
/// (envelope with trace headers, RFC 5321 §4.4; per-transaction log summary).
import Foundation
import MailCore

public enum SMTPServerAction: Sendable {
    case send(SMTPReply)
    /// Is this sender domain local? (Only with `rejectUnauthenticatedLocalSender`.) Answer with `.senderDomainChecked`.
    case checkSenderDomain(String)
    /// Look the recipient up; answer with `.recipientResolved`.
    case resolveRecipient(RecipientQuery)
    /// After `.send(354)`: switch to DATA mode, run a `DataDecoder`; answer with `.dataReceived`.
    case receiveData
    /// BDAT: read exactly `size` octets (keep == false: discard them, they MUST still be consumed,
    /// RFC 3030 §2); answer with `.chunkReceived`. Also emitted for size 0. For a kept LAST chunk
    /// (`SMTPServerSession.isAwaitingLastChunk`) the adapter calls `ChunkDecoder.finish` before answering.
    case receiveChunk(size: Int, keep: Bool)
    /// Store the spooled body with this envelope; answer with `.messageStored`.
    case storeMessage(SMTPEnvelope)
    /// Drop the spooled (partial) body.
    case discardMessage
    /// After `.send(220 2.0.0 Ready to start TLS)`: flush, DISCARD every buffered input byte
    /// (RFC 3207 §4.2, CVE-2011-0411), run the TLS handshake, then answer `.tlsEstablished`.
    /// On handshake failure just close.
    case startTLS
    /// Verify these credentials (applying any failure delay); answer `.authenticated`.
    case authenticate(username: String, password: String)
    /// SCRAM-SHA-256: find the user's stored SCRAM credentials; answer `.scramParameters`.
    case lookupSCRAM(username: String)
    /// SCRAM-SHA-256 finished: `proofValid` tells whether the client proved the password. Check the
    /// account (locked?), apply any failure delay; answer `.authenticated`.
    case authenticateSCRAM(username: String, proofValid: Bool)
    /// One log line per transaction.
    case transactionEnded(SMTPTransactionSummary)
    /// Flush pending output, then close.
    case close
}

public struct SMTPEnvelope: Sendable {
    public var queueID: String
    public var sender: MailPath
    /// Accepted recipients in order, without duplicates (a bare Postmaster is postmaster@<hostname>).
    public var recipients: [EmailAddress]
    /// From `.localMailbox` decisions, in order, without duplicates.
    public var localMailboxIDs: [Int64]
    /// "Return-Path: <…>\r\nReceived: …\r\n" to prepend to the body.
    public var traceHeaders: [UInt8]
    public var receivedAt: Date
    public var bodyType: BodyType
    public var smtpUTF8: Bool
    /// MAIL SIZE=
    public var declaredSize: Int?
    /// Body octets received (DATA after unstuffing, or the sum of BDAT chunks), without trace headers.
    public var bodySize: Int64
    /// From `.relay` decisions, in order, without duplicates: to be queued for outbound delivery.
    public var remoteRecipients: [RemoteRecipient] = []
    /// MAIL ENVID= (RFC 3461 §4.4), decoded.
    public var envelopeID: String?
    /// MAIL RET= (RFC 3461 §4.3).
    public var dsnReturn: DSNReturn?
    /// The EHLO/HELO name and the AUTH identity of the session (for message authentication at end of DATA).
    public var heloName: String? = nil
    public var authenticatedUser: String? = nil
    /// Local recipients whose RCPT asked for NOTIFY=SUCCESS, in order, without duplicates; empty when
    /// the sender is `<>` (no report about a report, RFC 3461 §6.2). Once the message is stored each
    /// is owed a "delivered" DSN (RFC 3461 §5.2.3): the adapter stores it with the message.
    public var localSuccessNotices: [LocalSuccessNotice] = []
}

/// A local recipient that asked for a success report (RFC 3461 §4.1 NOTIFY=SUCCESS), with its ORCPT.
public struct LocalSuccessNotice: Hashable, Sendable {
    public var address: EmailAddress
    /// ORCPT as decoded (RFC 3461 §4.2).
    public var originalRecipient: String?

    public init(address: EmailAddress, originalRecipient: String? = nil) {
        self.address = address
        self.originalRecipient = originalRecipient
    }
}

/// A recipient accepted for relaying, with its DSN parameters (RFC 3461 §4.1, §4.2).
public struct RemoteRecipient: Hashable, Sendable {
    public var address: EmailAddress
    /// Routing domain from the `.relay` decision.
    public var domain: String
    public var notify: DSNNotify?
    public var originalRecipient: String?

    public init(address: EmailAddress, domain: String, notify: DSNNotify? = nil, originalRecipient: String? = nil) {
        self.address = address
        self.domain = domain
        self.notify = notify
        self.originalRecipient = originalRecipient
    }
}

public struct SMTPTransactionSummary: Sendable {
    /// Set when stored.
    public var queueID: String?
    public var heloName: String?
    public var sender: MailPath?
    public var recipients: [EmailAddress]
    public var size: Int64?
    /// The AUTH user of the session, if any (RFC 4954).
    public var authenticatedUser: String?
    /// The TLS parameters of the session, if TLS is active and the adapter reported them.
    public var tls: TLSInfo?
    /// The final reply of the transaction (250 queued, or the rejection / the reply that aborted it).
    public var reply: SMTPReply
}
