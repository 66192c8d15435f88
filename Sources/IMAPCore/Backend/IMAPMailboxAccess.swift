/// The mailbox-access protocol: what the IMAP core needs from a store, for one authenticated user. The
/// store backends (SQLite, PostgreSQL) implement it; `IMAPTestSupport.InMemoryIMAPStore` is the
/// reference implementation the session tests run against (as go-imap v2's `imapmemserver`).
///
/// The protocol deals in mailbox names (Unicode, `/` as hierarchy delimiter, `INBOX` canonical) and UIDs
/// only: message sequence numbers are the session's business (`IMAPSequenceTracker`). Every method is
/// `async` and throws `IMAPBackendError`, so a network database fits without blocking an event loop.
///
/// Requirements (the conformance suite in `Tests/IMAPCoreTests/MailboxAccessConformance.swift` checks them):
/// - UIDs in a mailbox are assigned strictly ascending and never reused while its UIDVALIDITY stays;
///   a new message becomes visible only after every message with a lower UID is visible (assign UIDs
///   in commit order, e.g. under a row lock on the mailbox's counter).
/// - Every change to a message (new, flags changed, expunged) gets a MODSEQ from a per-mailbox counter
///   that only grows (RFC 7162 §3.1); `highestModSeq` is the largest assigned. Expunged messages leave a
///   tombstone (UID, MODSEQ) so `changes` and `vanished` can report them; when tombstones older than a
///   MODSEQ were purged, those calls say so (`.unknown` / nil) and the core falls back.
/// - `INBOX` always exists and cannot be deleted (it may be renamed: RFC 9051 §6.3.6, its messages move).
public protocol IMAPMailboxAccess: Sendable {
    // MARK: Mailboxes

    /// Every mailbox of the user, with its special use and subscription. LIST patterns, selection and
    /// return options are applied by the core.
    func listMailboxes() async throws(IMAPBackendError) -> [IMAPMailboxInfo]
    /// Creates a mailbox (and missing parents, RFC 9051 §6.3.4). `.alreadyExists` if it exists.
    func createMailbox(_ name: String, specialUse: [String]) async throws(IMAPBackendError)
    /// Deletes a mailbox and its messages. `.nonexistent`; `.hasChildren` when it has inferiors (Petrel
    /// does not keep \Noselect placeholders); `.cannot` for INBOX.
    func deleteMailbox(_ name: String) async throws(IMAPBackendError)
    /// Renames a mailbox and its inferiors; renaming INBOX moves its messages to a new mailbox
    /// (RFC 9051 §6.3.6).
    func renameMailbox(_ name: String, to newName: String) async throws(IMAPBackendError)
    /// Subscribes or unsubscribes. SUBSCRIBE of a name that does not exist is `.nonexistent` (RFC 9051
    /// §6.3.7 lets a server validate it); UNSUBSCRIBE of any name succeeds, subscribed or not, existing or
    /// not (§6.3.8), and deleting a mailbox keeps its subscription (§6.3.7 SHOULD NOT remove it).
    func setSubscribed(_ name: String, _ subscribed: Bool) async throws(IMAPBackendError)
    /// STATUS counts (RFC 9051 §6.3.11).
    func status(_ name: String) async throws(IMAPBackendError) -> IMAPMailboxStatus

    // MARK: Selected mailbox

    /// Opens a mailbox: its identity, counters, and every UID (ascending) for the session's view.
    func select(_ name: String) async throws(IMAPBackendError) -> IMAPMailboxSnapshot
    /// Claims the messages that are \Recent (RFC 3501 §2.3.2) for the calling session: those with UID ≥
    /// the mailbox's first recent UID, which moves to UIDNEXT in the same transaction, so no two sessions
    /// ever claim the same message. Returns the claimed UIDs as `first..<uidNext` (empty when none).
    /// `.mailboxGone` if the mailbox was deleted.
    func claimRecent(in mailbox: IMAPMailboxID) async throws(IMAPBackendError) -> Range<UInt32>
    /// What changed since `modSeq` (the session's last known HIGHESTMODSEQ): messages with UID ≥
    /// `uidNext` (new), flag changes of older messages, and expunged older messages.
    func changes(in mailbox: IMAPMailboxID, sinceModSeq modSeq: UInt64, knownUIDNext uidNext: UInt32)
        async throws(IMAPBackendError) -> IMAPMailboxChanges
    /// Index data and, as asked, the header or the whole message of the given UIDs (missing UIDs are
    /// left out). With `changedSince`, only messages whose MODSEQ is greater (RFC 7162 §3.1.4).
    func fetch(in mailbox: IMAPMailboxID, uids: [UInt32], content: IMAPFetchContent, changedSince: UInt64?)
        async throws(IMAPBackendError) -> [IMAPStoredMessage]
    /// Changes flags. With `unchangedSince`, messages whose MODSEQ is greater are not changed and are
    /// reported in `failed` (RFC 7162 §3.1.3). Every change increments the MODSEQ.
    func store(in mailbox: IMAPMailboxID, uids: [UInt32], _ operation: IMAPFlagOperation, unchangedSince: UInt64?)
        async throws(IMAPBackendError) -> IMAPStoreResult
    /// Removes the messages flagged \Deleted (only those among `uids` when given, UID EXPUNGE); returns
    /// the UIDs removed, ascending.
    func expunge(in mailbox: IMAPMailboxID, uids: [UInt32]?) async throws(IMAPBackendError) -> [UInt32]
    /// The UIDs among `uids` that match `query` (ascending). A default implementation evaluates the query
    /// in the core over `fetch`; a SQL store can answer flag, date and size keys from its index.
    func search(in mailbox: IMAPMailboxID, _ query: IMAPSearchQuery, uids: [UInt32]) async throws(IMAPBackendError) -> [UInt32]
    /// UIDs in `uids` expunged after `modSeq` (RFC 7162 §3.2.6 VANISHED (EARLIER)); nil when the
    /// tombstones no longer reach back that far.
    func vanished(in mailbox: IMAPMailboxID, sinceModSeq modSeq: UInt64, uids: [ClosedRange<UInt32>])
        async throws(IMAPBackendError) -> [UInt32]?

    // MARK: Messages in any mailbox

    /// Stores a message (RFC 9051 §6.3.12). `.nonexistent` (TRYCREATE), `.overQuota`, `.tooBig`.
    func append(to name: String, _ message: IMAPAppendMessage) async throws(IMAPBackendError) -> IMAPAppendResult
    /// Copies messages (RFC 9051 §6.4.7) keeping flags and internal date; UIDs in source order.
    func copy(from mailbox: IMAPMailboxID, uids: [UInt32], to name: String) async throws(IMAPBackendError) -> IMAPCopyResult
    /// Moves messages atomically (RFC 6851): copy, then expunge from the source (tombstones written).
    func move(from mailbox: IMAPMailboxID, uids: [UInt32], to name: String) async throws(IMAPBackendError) -> IMAPCopyResult

    // MARK: Quota (RFC 9208)

    /// The user's quota (root ""): STORAGE in KiB and MESSAGE counts; empty when unlimited.
    func quota() async throws(IMAPBackendError) -> [IMAPQuotaResource]
}

extension IMAPMailboxAccess {
    /// Evaluates the query in the core: fetches what the keys need (index data, the header, or the whole
    /// message) in batches and matches with `IMAPSearchEvaluator`.
    public func search(in mailbox: IMAPMailboxID, _ query: IMAPSearchQuery, uids: [UInt32]) async throws(IMAPBackendError) -> [UInt32] {
        let content = query.contentNeeded
        let batch = content == .full ? 200 : 2000
        var matches: [UInt32] = []
        var start = 0
        while start < uids.count {
            let slice = Array(uids[start..<min(uids.count, start + batch)])
            start += batch
            for message in try await fetch(in: mailbox, uids: slice, content: content, changedSince: nil)
            where IMAPSearchEvaluator.matches(query, message) {
                matches.append(message.metadata.uid)
            }
        }
        return matches.sorted()
    }
}
