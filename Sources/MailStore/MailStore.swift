/// The storage protocols every backend implements: `UserDirectory` (domains, mailboxes, the postmaster
/// rules of RFC 5321 §4.5.1), `MessageStore` (durable local delivery, POP3 access) and, in Queue.swift,
/// `QueueStore` (the outbound queue) and, in RelayDirectory.swift, `RelayDirectory` (relay and connection
/// access lists), in MessageRetrieval.swift, `MessageRetrieval` (POP3 reads) and, in MaildropLocking.swift,
/// `MaildropLocking` (the POP3 lock across nodes), combined as `MailStore`.
import MailCore

/// Domains and mailboxes: what the admin CLI manages and what SMTP/POP3 look up.
/// Every method is safe to call concurrently, from several processes on the same data
/// (the CLI acts on the data of a running server).
public protocol UserDirectory: Sendable {
    func addDomain(_ name: String) async throws -> DomainInfo
    /// Removes a domain. Without `force` it fails with `.domainNotEmpty` while mailboxes exist;
    /// with `force` it removes the mailboxes and their messages too.
    func removeDomain(_ name: String, force: Bool) async throws
    func domains() async throws -> [DomainInfo]
    func isLocalDomain(_ name: String) async throws -> Bool
    /// Chooses the mailbox (lookup key) that receives `postmaster@domain`; nil returns to the default.
    func setPostmaster(domain: String, mailbox: String?) async throws

    /// Creates a mailbox in an existing local domain (`.notLocalDomain` otherwise).
    func addMailbox(_ address: EmailAddress, passwordHash: String?, isAdmin: Bool) async throws -> MailboxInfo
    /// Removes a mailbox and every message only it referenced.
    func removeMailbox(_ address: EmailAddress) async throws
    /// Mailboxes, sorted by address; only those of `domain` when given.
    func mailboxes(domain: String?) async throws -> [MailboxInfo]
    func mailbox(_ address: EmailAddress) async throws -> MailboxInfo?
    func mailbox(id: Int64) async throws -> MailboxInfo?
    /// Sets the password hash and removes the SCRAM verifier (it was made from the old password).
    func setPasswordHash(_ hash: String, for address: EmailAddress) async throws
    /// Sets (or with nil removes) the SCRAM-SHA-256 verifier of a mailbox.
    func setSCRAMVerifier(_ verifier: String?, for address: EmailAddress) async throws
    func setLocked(_ locked: Bool, for address: EmailAddress) async throws
    func setAdmin(_ isAdmin: Bool, for address: EmailAddress) async throws
    /// Sets the mailbox's quota (`.unlimited` removes it). Lowering it below the usage removes nothing:
    /// the mailbox just takes no more mail until it is under the limit again.
    func setQuota(_ quota: MailboxQuota, for address: EmailAddress) async throws
    /// The quota of a mailbox and its usage over all its folders (every delivery row: INBOX and the IMAP
    /// folders), from the index (a scan of the mailbox's entries). nil when the mailbox does not exist.
    /// `usageOnlyIfLimited`: for admission checks (RCPT, APPEND) — a mailbox without limits reports zero
    /// usage without counting its deliveries (the sum costs a scan of the mailbox's index entries).
    func quotaStatus(mailboxID: Int64, usageOnlyIfLimited: Bool) async throws -> MailboxQuotaStatus?

    /// Decides what RCPT TO a given address means. Case-insensitive on the whole address.
    ///
    /// `postmaster@<local domain>` (any case, RFC 5321 §4.5.1) always resolves to a mailbox:
    /// a real `postmaster@domain` mailbox if one exists, else the domain's chosen postmaster,
    /// else the first admin mailbox (lowest id), else a `postmaster@domain` mailbox created on the spot
    /// without a password (the admin sets one with `petrel mailbox passwd`). It is never `.unknownUser`.
    func resolveRecipient(_ address: EmailAddress) async throws -> RecipientResolution
    /// The bare `RCPT TO:<Postmaster>` (RFC 5321 §4.1.1.3): the first admin mailbox, else the
    /// postmaster of the first local domain (as above); `.notLocal` when there is no local domain.
    func resolveBarePostmaster() async throws -> RecipientResolution
}

/// Messages: stored once, with one delivery record per recipient mailbox.
public protocol MessageStore: Sendable {
    /// Makes the message durable: the body once, one delivery record per distinct local recipient and
    /// one outbound queue entry per distinct remote recipient (case-insensitive on the address; state
    /// active, no attempts, due at `receivedAt`, see Queue.swift), all in one transaction that is on
    /// stable storage (fsync'd) before this returns.
    /// Concurrent calls share commits (group commit). Nothing is visible if it throws.
    /// A message without any recipient stores nothing.
    /// Returns the delivery record ids, in the order of `message.localRecipients` (duplicates removed);
    /// empty when every recipient is remote.
    func deliver(_ message: IncomingMessage) async throws -> [Int64]

    /// The messages of a mailbox, oldest first, from the index (bodies are not read).
    func messages(mailboxID: Int64) async throws -> [MailboxMessage]
    /// Reads up to `maxLength` octets of a delivered message from `offset`; an empty result means the end.
    /// The delivery must belong to `mailboxID` (`.messageNotFound` otherwise).
    func readMessage(mailboxID: Int64, deliveryID: Int64, offset: Int64, maxLength: Int) async throws -> [UInt8]
    /// Removes these deliveries from the mailbox in one atomic transaction, and any message body
    /// neither a delivery nor a queue entry references any more. Ids that are already gone are ignored.
    func deleteMessages(mailboxID: Int64, deliveryIDs: [Int64]) async throws
}

/// A complete backend: SQLite (the embedded default), in-memory (tests), PostgreSQL (later).
public protocol MailStore: UserDirectory, MessageStore, MessageRetrieval, MaildropLocking, QueueStore, RelayDirectory {
    /// Flushes and closes. Further calls fail.
    func close() async throws
}

extension UserDirectory {
    /// The quota and the full usage (`quotaStatus(mailboxID:usageOnlyIfLimited: false)`).
    public func quotaStatus(mailboxID: Int64) async throws -> MailboxQuotaStatus? {
        try await quotaStatus(mailboxID: mailboxID, usageOnlyIfLimited: false)
    }
}
