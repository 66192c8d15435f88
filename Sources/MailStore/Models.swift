import Foundation
import MailCore

/// A local domain. Adding one makes SMTP accept mail for it.
public struct DomainInfo: Hashable, Sendable {
    /// The canonical domain name: lower case, non-ASCII labels as A-labels (`xn--…`, see
    /// `IDNA.canonicalDomain`), whichever spelling it was added with.
    public var name: String
    /// Lookup key (`local@domain`) of the mailbox that receives `postmaster@name`, if the admin chose one.
    public var postmaster: String?
    public var createdAt: Date

    public init(name: String, postmaster: String?, createdAt: Date) {
        self.name = name
        self.postmaster = postmaster
        self.createdAt = createdAt
    }

    /// The name for display: A-labels shown as Unicode (`bücher.example`); equals `name` for ASCII names.
    public var unicodeName: String { IDNA.toUnicode(name) }
}

/// A mailbox: an address that can receive mail and (with a password) log in to POP3.
public struct MailboxInfo: Hashable, Sendable {
    public var id: Int64
    /// The lookup key: `localpart@domain`, lower case, the domain canonical (`EmailAddress.lookupKey`).
    public var address: String
    /// The canonical name of the mailbox's domain (`DomainInfo.name`).
    public var domain: String
    /// PHC-format slow hash (see MailAuth), or nil when no password was set (cannot log in).
    public var passwordHash: String?
    /// The SCRAM-SHA-256 verifier (MailAuth `SCRAMVerifier`), made with the password; nil = none yet.
    public var scramVerifier: String?
    /// A locked mailbox still receives mail but refuses logins.
    public var isLocked: Bool
    /// Admin mailboxes receive postmaster mail for domains without a chosen postmaster.
    public var isAdmin: Bool
    public var createdAt: Date
    /// Number of messages currently in the mailbox.
    public var messageCount: Int
    /// Sum of the stored sizes of those messages, in octets.
    public var totalSize: Int64
    /// The limits the administrator set (`petrel mailbox quota`); `.unlimited` when none.
    public var quota: MailboxQuota

    public init(
        id: Int64, address: String, domain: String, passwordHash: String?, isLocked: Bool, isAdmin: Bool,
        createdAt: Date, messageCount: Int = 0, totalSize: Int64 = 0, scramVerifier: String? = nil,
        quota: MailboxQuota = .unlimited
    ) {
        self.scramVerifier = scramVerifier
        self.quota = quota
        self.id = id
        self.address = address
        self.domain = domain
        self.passwordHash = passwordHash
        self.isLocked = isLocked
        self.isAdmin = isAdmin
        self.createdAt = createdAt
        self.messageCount = messageCount
        self.totalSize = totalSize
    }
}

/// A mailbox's quota (RFC 9208 resources STORAGE and MESSAGE), counted over all its IMAP folders.
/// nil means no limit of that kind.
public struct MailboxQuota: Hashable, Sendable {
    /// The most octets the mailbox's messages may take together.
    public var storageLimit: Int64?
    /// The most messages the mailbox may hold.
    public var messageLimit: Int64?

    public init(storageLimit: Int64? = nil, messageLimit: Int64? = nil) {
        self.storageLimit = storageLimit
        self.messageLimit = messageLimit
    }

    public static let unlimited = MailboxQuota()

    public var isUnlimited: Bool { storageLimit == nil && messageLimit == nil }

    /// THE quota rule, shared by SMTP (MailPolicy `MailboxQuotaPolicy`) and the IMAP stores (APPEND, COPY):
    /// adding `messages` messages of `octets` octets in all keeps the mailbox within both limits.
    /// Nothing fits a mailbox already at or over a limit (`octets` counts at least one octet per message).
    public func admits(_ usage: MailboxUsage, adding octets: Int64, messages: Int64 = 1) -> Bool {
        if let limit = messageLimit, usage.messages.addingReportingOverflow(messages).partialValue > limit { return false }
        if let limit = storageLimit {
            let added = max(octets, messages)
            let (total, overflow) = usage.storage.addingReportingOverflow(added)
            if overflow || total > limit { return false }
        }
        return true
    }
}

/// What a mailbox holds now: messages and octets over all its folders.
public struct MailboxUsage: Hashable, Sendable {
    public var messages: Int64
    /// Octets: the sum of the stored message sizes (trace headers included).
    public var storage: Int64

    public init(messages: Int64, storage: Int64) {
        self.messages = messages
        self.storage = storage
    }
}

/// A mailbox's quota and its usage, read together (`UserDirectory.quotaStatus`).
public struct MailboxQuotaStatus: Hashable, Sendable {
    public var quota: MailboxQuota
    public var usage: MailboxUsage

    public init(quota: MailboxQuota, usage: MailboxUsage) {
        self.quota = quota
        self.usage = usage
    }
}

/// What a recipient address means to this server.
public enum RecipientResolution: Hashable, Sendable {
    /// Deliver to this mailbox.
    case mailbox(id: Int64, address: String)
    /// The domain is local but no such mailbox exists (RCPT gets 550 5.1.1).
    case unknownUser
    /// The domain is not one of ours (relay policy decides).
    case notLocal
}

/// The body of a message being delivered: small ones in memory, large ones spooled to a file
/// while they arrived, so memory stays bounded whatever the size.
public enum MessageBody: Sendable {
    case bytes([UInt8])
    /// A spool file of `size` octets. The store reads it in chunks; the caller deletes it afterwards.
    case file(path: String, size: Int64)

    public var size: Int64 {
        switch self {
        case .bytes(let b): return Int64(b.count)
        case .file(_, let size): return size
        }
    }
}

/// A message accepted by SMTP, ready to be made durable.
public struct IncomingMessage: Sendable {
    /// The id given to the client in the 250 reply and used in logs.
    public var queueID: String
    public var sender: MailPath
    /// Mailbox ids of the local recipients; one delivery record each. Duplicates are delivered once.
    public var localRecipients: [Int64]
    public var receivedAt: Date
    /// Trace header lines to store in front of the body (`Return-Path:`, `Received:`), CRLF-terminated.
    public var traceHeaders: [UInt8]
    /// The message as received (CRLF line endings, dot-unstuffed).
    public var body: MessageBody
    /// Non-local recipients: one queue entry each (see Queue.swift), in the same transaction.
    /// Duplicates (same address, case-insensitive) are queued once.
    public var remoteRecipients: [OutboundRecipient]
    /// DSN and transport properties for the queue entries.
    public var envelope: OutboundEnvelope
    /// What the receiver knows about `body` (nothing by default); see `storedForm`.
    public var bodyForm: BodyForm

    public init(
        queueID: String, sender: MailPath, localRecipients: [Int64], receivedAt: Date,
        traceHeaders: [UInt8], body: MessageBody, remoteRecipients: [OutboundRecipient] = [],
        envelope: OutboundEnvelope = OutboundEnvelope(), bodyForm: BodyForm = []
    ) {
        self.bodyForm = bodyForm
        self.queueID = queueID
        self.sender = sender
        self.localRecipients = localRecipients
        self.receivedAt = receivedAt
        self.traceHeaders = traceHeaders
        self.body = body
        self.remoteRecipients = remoteRecipients
        self.envelope = envelope
    }

    /// Octets stored: trace headers plus body.
    public var storedSize: Int64 { Int64(traceHeaders.count) + body.size }

    /// The form of the stored octets (trace headers, then the body): the trace headers are looked at
    /// (they are short, and a message check may have added fields to them), the body is taken at its
    /// receiver's word.
    public var storedForm: BodyForm {
        bodyForm.isEmpty ? [] : BodyForm.concatenation(prefix: BodyForm.scan(traceHeaders), rest: bodyForm)
    }
}

/// One message in a mailbox, as POP3 and `petrel mailbox show` list it. Comes from the index, not the body.
public struct MailboxMessage: Hashable, Sendable {
    /// The delivery record id: unique across the store and never reused.
    public var deliveryID: Int64
    public var queueID: String
    /// Envelope sender as text: `<>` or `<a@b>`.
    public var sender: String
    public var receivedAt: Date
    /// Exact stored size in octets (what RETR sends before dot-stuffing).
    public var size: Int64

    public init(deliveryID: Int64, queueID: String, sender: String, receivedAt: Date, size: Int64) {
        self.deliveryID = deliveryID
        self.queueID = queueID
        self.sender = sender
        self.receivedAt = receivedAt
        self.size = size
    }
}

/// Errors a store reports. The message is meant for an administrator.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidDomain(String)
    case domainExists(String)
    case domainNotFound(String)
    /// Removing a domain that still has mailboxes needs `force`.
    case domainNotEmpty(String, mailboxes: Int)
    case mailboxExists(String)
    case mailboxNotFound(String)
    case messageNotFound(Int64)
    /// The address's domain is not a local domain.
    case notLocalDomain(String)
    /// The backend failed (disk full, I/O error, corrupt database...).
    case backend(String)

    public var description: String {
        switch self {
        case .invalidDomain(let d): return "invalid domain name '\(d)'"
        case .domainExists(let d): return "domain \(d) already exists"
        case .domainNotFound(let d): return "domain \(d) does not exist"
        case .domainNotEmpty(let d, let n): return "domain \(d) still has \(n) mailbox(es); remove them first or use --force"
        case .mailboxExists(let a): return "mailbox \(a) already exists"
        case .mailboxNotFound(let a): return "mailbox \(a) does not exist"
        case .messageNotFound(let id): return "message \(id) does not exist"
        case .notLocalDomain(let d): return "\(d) is not a local domain; add it first with 'petrel domain add \(d)'"
        case .backend(let m): return "storage error: \(m)"
        }
    }
}
