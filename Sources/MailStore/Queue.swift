/// The outbound queue: models and the `QueueStore` protocol.
///
/// A message accepted for non-local recipients gets one queue entry per such recipient, written in the
/// same transaction (and fsync) as the message itself (`MessageStore.deliver`). The delivery agent picks
/// due entries, tries them, and reports the results back in one transaction together with any
/// notification messages (NDRs, delay DSNs) those results produce, so a crash can never lose a bounce
/// nor the entry it reports on. Bodies are shared with local deliveries (`messages` table) and removed
/// only when neither a delivery nor a queue entry references them.
import Foundation
import MailCore

/// One non-local recipient of an accepted message.
public struct OutboundRecipient: Hashable, Sendable {
    /// The address as accepted (the local part and domain as the client wrote them; a store writes its
    /// `description` and parses it back once, where the entry is read).
    public var address: EmailAddress
    /// RCPT NOTIFY= (RFC 3461 §4.1); nil when not given (then `DSNNotify.default` applies).
    public var notify: DSNNotify?
    /// RCPT ORCPT= (RFC 3461 §4.2), decoded: `addr-type;address`, e.g. `rfc822;a@b.example`.
    public var originalRecipient: String?

    public init(address: EmailAddress, notify: DSNNotify? = nil, originalRecipient: String? = nil) {
        self.address = address
        self.notify = notify
        self.originalRecipient = originalRecipient
    }

    /// The routing domain the entry is delivered to: `EmailAddress.routingDomain` (lower case, A-labels,
    /// or the literal, e.g. `[192.0.2.1]`). Only addresses that have one are queued (MailPolicy
    /// `RecipientRouting` refuses the others); the lower-cased domain stands in otherwise and resolves nowhere.
    public var domain: String { address.routingDomain ?? address.domain }

    /// The notifications this recipient asked for (the default when none was given).
    public var effectiveNotify: DSNNotify { notify ?? .default }
}

/// Message-level DSN and transport properties, stored with the message for outbound delivery.
public struct OutboundEnvelope: Hashable, Sendable {
    /// MAIL ENVID= (RFC 3461 §4.4), decoded.
    public var envelopeID: String?
    /// MAIL RET= (RFC 3461 §4.3).
    public var dsnReturn: DSNReturn?
    /// MAIL BODY=8BITMIME was given (RFC 6152): the peer must offer 8BITMIME.
    public var eightBitMIME: Bool
    /// MAIL SMTPUTF8 was given (RFC 6531): the peer must offer SMTPUTF8.
    public var smtpUTF8: Bool

    public init(envelopeID: String? = nil, dsnReturn: DSNReturn? = nil, eightBitMIME: Bool = false, smtpUTF8: Bool = false) {
        self.envelopeID = envelopeID
        self.dsnReturn = dsnReturn
        self.eightBitMIME = eightBitMIME
        self.smtpUTF8 = smtpUTF8
    }
}

/// Whether the scheduler may pick an entry.
public enum QueueState: String, Hashable, Sendable, CaseIterable {
    /// Waiting for `nextAttempt` (never tried yet when `attempts == 0`, deferred otherwise).
    case active
    /// Put on hold by the administrator (`petrel queue hold`): never picked until released.
    case held
}

/// One recipient of one queued message, as the queue holds it.
public struct QueueEntry: Hashable, Sendable {
    /// Unique, never reused.
    public var id: Int64
    /// The stored message (body id) this entry delivers.
    public var messageID: Int64
    /// The queue id given to the client in the 250 reply (shared by the message's entries).
    public var queueID: String
    /// The envelope sender (`.null` for a report).
    public var sender: MailPath
    public var recipient: OutboundRecipient
    public var envelope: OutboundEnvelope
    public var state: QueueState
    /// Delivery attempts made so far.
    public var attempts: Int
    /// When the message was accepted (Arrival-Date of a DSN; the expiry counts from it).
    public var arrivedAt: Date
    public var nextAttempt: Date
    public var lastAttempt: Date?
    /// The last temporary error (remote reply or connection error), for `petrel queue list` and DSNs.
    public var lastError: String?
    /// A delay DSN was already sent for this entry.
    public var delayNotified: Bool
    /// Stored size of the message in octets (trace headers included).
    public var size: Int64
    /// The node working on this entry and until when (nil: nobody; an expired lease is listed as it was
    /// stored: anyone may claim the entry again).
    public var lease: QueueLease?

    public init(
        id: Int64, messageID: Int64, queueID: String, sender: MailPath, recipient: OutboundRecipient,
        envelope: OutboundEnvelope, state: QueueState, attempts: Int, arrivedAt: Date, nextAttempt: Date,
        lastAttempt: Date?, lastError: String?, delayNotified: Bool, size: Int64, lease: QueueLease? = nil
    ) {
        self.lease = lease
        self.id = id
        self.messageID = messageID
        self.queueID = queueID
        self.sender = sender
        self.recipient = recipient
        self.envelope = envelope
        self.state = state
        self.attempts = attempts
        self.arrivedAt = arrivedAt
        self.nextAttempt = nextAttempt
        self.lastAttempt = lastAttempt
        self.lastError = lastError
        self.delayNotified = delayNotified
        self.size = size
    }
}

/// Who works on a queue entry, and until when: a node claims due entries for a while
/// (`QueueStore.claimQueueEntries`), renews the lease during long transfers and records the results
/// only while it still holds it. An entry whose lease has passed may be claimed by any node (its
/// owner died or stalled); the old owner's late results are then refused (`LeasedAttemptResult.leaseLost`).
public struct QueueLease: Hashable, Sendable {
    /// The node id (`[server] node_id`).
    public var owner: String
    public var until: Date

    public init(owner: String, until: Date) {
        self.owner = owner
        self.until = until
    }

    /// True while the lease keeps others away.
    public func isHeld(at now: Date) -> Bool { until > now }
}

/// A request to claim queue work (`QueueStore.claimQueueEntries`).
public struct QueueClaim: Hashable, Sendable {
    /// The claiming node.
    public var owner: String
    public var now: Date
    /// The end of the lease the claimed entries get.
    public var leaseUntil: Date
    /// Most entries claimed.
    public var limit: Int
    /// Only these entries (the agent's planned batches); nil: any due entries, oldest `nextAttempt` first.
    public var entryIDs: [Int64]?

    public init(owner: String, now: Date, leaseUntil: Date, limit: Int, entryIDs: [Int64]? = nil) {
        self.owner = owner
        self.now = now
        self.leaseUntil = leaseUntil
        self.limit = limit
        self.entryIDs = entryIDs
    }
}

/// The results of one attempt (one message's entries), to be recorded only under their lease.
public struct LeasedAttempt: Sendable {
    /// The entries the attempt was about: every one must still be leased by the owner.
    public var entryIDs: [Int64]
    public var updates: [QueueUpdate]
    /// The reports the results produce (stored only when the results are).
    public var notifications: [IncomingMessage]

    public init(entryIDs: [Int64], updates: [QueueUpdate], notifications: [IncomingMessage]) {
        self.entryIDs = entryIDs
        self.updates = updates
        self.notifications = notifications
    }
}

/// What became of one `LeasedAttempt`.
public enum LeasedAttemptResult: Hashable, Sendable {
    /// Updates and notifications recorded; the leases of its entries ended.
    case recorded
    /// Nothing of the attempt was recorded: these entries were no longer leased by the owner (the lease
    /// expired and another node claimed the entry, or the entry was deleted). The other node's attempt
    /// counts; this one is dropped, so its results are never applied twice.
    case leaseLost(entryIDs: [Int64])
}

/// What happened to one queue entry in a delivery attempt.
public enum QueueUpdate: Hashable, Sendable {
    /// Delivered (2xx) or failed for good (5xx, expiry, ...): the entry is removed.
    case remove(entryID: Int64)
    /// Try again at `nextAttempt`; `attempts` is incremented, `lastAttempt` set to `attemptedAt`.
    case retryLater(entryID: Int64, nextAttempt: Date, attemptedAt: Date, error: String)
    /// A delay DSN was queued for this entry (it stays queued).
    case markDelayNotified(entryID: Int64)
}

/// Counts for `petrel status` and metrics.
public struct QueueSummary: Hashable, Sendable {
    /// Active entries never tried yet.
    public var new: Int
    /// Active entries tried at least once (deferred).
    public var deferred: Int
    public var held: Int
    /// The arrival time of the oldest entry, if any.
    public var oldestArrival: Date?
    /// The earliest `nextAttempt` among active entries, if any (the scheduler sleeps until then).
    public var nextDue: Date?

    public init(new: Int = 0, deferred: Int = 0, held: Int = 0, oldestArrival: Date? = nil, nextDue: Date? = nil) {
        self.new = new
        self.deferred = deferred
        self.held = held
        self.oldestArrival = oldestArrival
        self.nextDue = nextDue
    }

    public var total: Int { new + deferred + held }
}

/// One row of `QueueStore.queueListing`: an entry, or a row that could not be read.
public enum QueueListing: Sendable {
    case entry(QueueEntry)
    case damaged(id: Int64, reason: String)
}

extension QueueStore {
    public func queueListing() async throws -> [QueueListing] { try await queueEntries().map { .entry($0) } }

    public func queueWakeUps() -> AsyncStream<Void> { AsyncStream { _ in } }
}

/// The outbound queue of a store. Every method is safe to call concurrently and from several processes
/// (the CLI manages the queue of a running server).
public protocol QueueStore: Sendable {
    /// Active entries with `nextAttempt <= now` that no node holds a lease on (none, or expired at
    /// `now`), oldest `nextAttempt` first, at most `limit`, skipping the ids in `excluding`. A look, not a
    /// claim: another node may claim them first.
    func dueQueueEntries(now: Date, limit: Int, excluding: Set<Int64>) async throws -> [QueueEntry]

    /// Claims due, unleased (or expired) active entries for `claim.owner` until `claim.leaseUntil`, in
    /// one transaction, and returns them with their new lease. Two claimers, in this process or another
    /// node, never get the same entry while its lease runs (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    func claimQueueEntries(_ claim: QueueClaim) async throws -> [QueueEntry]
    /// Extends `owner`'s unexpired leases on `entryIDs` to `leaseUntil`; returns the ids renewed (an id
    /// missing from the answer is no longer this owner's: its lease was lost).
    func renewQueueLeases(_ entryIDs: [Int64], owner: String, now: Date, leaseUntil: Date) async throws -> Set<Int64>
    /// Records attempts in ONE durable transaction (the reports with the updates, as `completeAttempt`),
    /// each only if every one of its entries is still leased by `owner` at `now`; a recorded attempt
    /// ends its entries' leases. One result per attempt, in order.
    func completeLeasedAttempts(_ attempts: [LeasedAttempt], owner: String, now: Date) async throws -> [LeasedAttemptResult]
    /// Gives up `owner`'s leases on `entryIDs` (work not started); returns how many were released.
    func releaseQueueLeases(_ entryIDs: [Int64], owner: String) async throws -> Int
    /// Gives up every lease `owner` holds, whatever the entry: a node starting again under the id of a run
    /// that died (kill -9, power loss) hands back what that run had claimed, so its entries go out at once
    /// instead of when the leases run out. Returns how many were released.
    func releaseAllQueueLeases(owner: String) async throws -> Int
    /// Rings when another node (or process) queued work: PostgreSQL `LISTEN`. The default never rings
    /// (one process per SQLite file or in-memory store: the local doorbell is enough).
    func queueWakeUps() -> AsyncStream<Void>
    /// Every entry (held ones too), by id.
    func queueEntries() async throws -> [QueueEntry]
    /// Every row of the queue, by id, for listings: a row the store cannot read is reported as damaged
    /// (its id and why) instead of failing the whole listing. The default is `queueEntries()`.
    func queueListing() async throws -> [QueueListing]
    /// The entries whose id is `id`, or whose queue id is `id` (all recipients of that message).
    func queueEntries(matching id: String) async throws -> [QueueEntry]

    /// Applies the results of an attempt and queues the notifications they produce, in ONE durable
    /// transaction: either all of it happens or none. Each notification is stored like an accepted
    /// message (local deliveries and/or new queue entries). Bodies nothing references any more are removed.
    /// Updates of entries that no longer exist (deleted meanwhile) are ignored.
    /// Returns the delivery ids of local deliveries, per notification, in order.
    /// With no updates it stores several messages atomically: the SMTP server uses that for a message and
    /// the "delivered" report about it (NOTIFY=SUCCESS for a local mailbox, RFC 3461 §5.2.3).
    @discardableResult
    func completeAttempt(_ updates: [QueueUpdate], notifications: [IncomingMessage]) async throws -> [[Int64]]

    /// Reads up to `maxLength` octets of a stored message from `offset` (empty at the end).
    /// `.messageNotFound` when no queue entry references the message.
    func readQueuedMessage(messageID: Int64, offset: Int64, maxLength: Int) async throws -> [UInt8]

    /// Holds or releases entries; returns how many changed. Releasing makes them due at once.
    func setQueueHeld(_ held: Bool, entryIDs: [Int64]) async throws -> Int
    /// Makes entries (all active ones when nil) due now; returns how many.
    func retryQueueEntries(_ entryIDs: [Int64]?, now: Date) async throws -> Int
    /// Deletes entries without any notification (the administrator's `petrel queue delete`); returns how many.
    func deleteQueueEntries(_ entryIDs: [Int64]) async throws -> Int

    func queueSummary(now: Date) async throws -> QueueSummary
}
