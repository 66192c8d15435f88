/// The positive answers of RCPT's look-up (`resolveRecipient`: this address is mailbox N), kept for a
/// short time so that a busy recipient does not cost a round trip to the database per message (issue 16).
///
/// Only "the mailbox exists" is kept, never "unknown user" or "not local": a domain or mailbox added on
/// any node is seen at once. One removed on another node may still be accepted at RCPT for up to `ttl`;
/// its delivery then fails inside the store's transaction (the mailbox row is gone), so the client gets
/// a temporary error at the end of DATA and sends again — nothing is misdelivered or lost. Removals
/// through this store clear the cache at once. Expiry is on a monotonic clock: a cache lifetime is a
/// timer, like a connection's deadline, not a wall-clock time (docs/ARCHITECTURE.md "Time").
import Synchronization

final class PostgresRecipientCache: Sendable {
    private struct Entry {
        var mailboxID: Int64
        var expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    /// How long an answer is used; zero turns the cache off.
    let ttl: Duration
    /// Most addresses kept; when full it starts over (bounded memory whatever the traffic).
    let capacity: Int

    init(ttl: Duration, capacity: Int = 4096) {
        self.ttl = ttl
        self.capacity = max(1, capacity)
    }

    /// The mailbox id of `key` (a lookup key) if it was found less than `ttl` ago.
    func mailbox(_ key: String) -> Int64? {
        guard ttl > .zero else { return nil }
        let now = ContinuousClock.now
        return entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.expires > now else {
                entries[key] = nil
                return nil
            }
            return entry.mailboxID
        }
    }

    func remember(_ key: String, mailboxID: Int64) {
        guard ttl > .zero else { return }
        let entry = Entry(mailboxID: mailboxID, expires: ContinuousClock.now + ttl)
        let capacity = self.capacity
        entries.withLock { entries in
            if entries.count >= capacity, entries[key] == nil { entries.removeAll(keepingCapacity: true) }
            entries[key] = entry
        }
    }

    func clear() {
        entries.withLock { $0.removeAll() }
    }
}
