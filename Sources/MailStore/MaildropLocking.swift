/// The POP3 maildrop lock (RFC 1939 §8: "exclusive-access lock on the maildrop"), kept in the store so
/// every node and process on the same data agrees: a lease row `maildrop_locks(mailbox_id, owner,
/// expires_at)`. A session takes it at login, renews it while it lives (a heartbeat well inside the
/// lease time), and deletes it on QUIT, close or connection loss. A holder that dies without releasing
/// (kill -9, a lost node) blocks the mailbox only until `expires_at`; then another owner may take it
/// over. Times come from the store's `MailClock` (nodes keep their clocks in sync, docs/SCALING.md).
///
/// Implemented by every backend (SQLite and PostgreSQL: the same row and rules; in-memory: a table in
/// its state). `MailStore` includes it.
import Foundation

/// A held maildrop lock: who holds it and until when.
public struct MaildropLease: Hashable, Sendable {
    public var mailboxID: Int64
    /// The holder's unique token (one per session; `MaildropLease.makeOwner`).
    public var owner: String
    public var expiresAt: Date

    public init(mailboxID: Int64, owner: String, expiresAt: Date) {
        self.mailboxID = mailboxID
        self.owner = owner
        self.expiresAt = expiresAt
    }

    /// A fresh owner token: the node's `label` (host name, process id: for operators reading the table)
    /// and a random UUID, so two sessions never share one.
    public static func makeOwner(label: String) -> String {
        "\(label.prefix(100))/\(UUID().uuidString)"
    }
}

public protocol MaildropLocking: Sendable {
    /// Takes the lock of `mailboxID` for `owner` until now + `duration`: succeeds when nobody holds it,
    /// when the holder's lease has expired (take-over), or when `owner` already holds it. nil when another
    /// owner's lease is still running. Atomic across processes and nodes sharing the database.
    func acquireMaildropLock(mailboxID: Int64, owner: String, duration: Duration) async throws -> MaildropLease?

    /// Extends a held lease to now + `duration`; nil when `lease.owner` no longer holds the lock (it was
    /// released, or expired and was taken over): the session must stop using the maildrop.
    func renewMaildropLock(_ lease: MaildropLease, duration: Duration) async throws -> MaildropLease?

    /// Gives the lock back (only `lease.owner`'s; a lock taken over meanwhile is left alone).
    func releaseMaildropLock(_ lease: MaildropLease) async throws
}

extension Duration {
    /// The duration in seconds as a `TimeInterval`.
    public var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
