/// The positive answers of RCPT's look-up (`resolveRecipient`: this address is mailbox N), kept for a
/// short time so that a busy recipient does not cost a round trip to the database per message (issue 16).
///
/// Only "the mailbox exists" is kept (with whether it has quota limits), never "unknown user" or "not
/// local": a domain or mailbox added on any node is seen at once. A quota set on another node is obeyed
/// after at most `ttl` (one set through this store clears the cache at once). One removed on another node may still be accepted at RCPT for up to `ttl`;
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

    private struct State {
        var byKey: [String: Entry] = [:]
        /// Mailboxes the look-up found without quota limits, until when: RCPT's quota check right after
        /// (`quotaStatus(usageOnlyIfLimited: true)`) needs no round trip for them.
        var unlimited: [Int64: ContinuousClock.Instant] = [:]
    }

    private let state = Mutex(State())
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
        return state.withLock { state in
            guard let entry = state.byKey[key] else { return nil }
            guard entry.expires > now else {
                state.byKey[key] = nil
                return nil
            }
            return entry.mailboxID
        }
    }

    /// `unlimited`: the mailbox has no quota limits (as read with the look-up).
    func remember(_ key: String, mailboxID: Int64, unlimited: Bool) {
        guard ttl > .zero else { return }
        let expires = ContinuousClock.now + ttl
        let capacity = self.capacity
        state.withLock { state in
            if state.byKey.count >= capacity, state.byKey[key] == nil { state.byKey.removeAll(keepingCapacity: true) }
            if state.unlimited.count >= capacity, state.unlimited[mailboxID] == nil { state.unlimited.removeAll(keepingCapacity: true) }
            state.byKey[key] = Entry(mailboxID: mailboxID, expires: expires)
            if unlimited { state.unlimited[mailboxID] = expires } else { state.unlimited[mailboxID] = nil }
        }
    }

    /// Whether `mailboxID` was seen without quota limits less than `ttl` ago.
    func isUnlimited(_ mailboxID: Int64) -> Bool {
        guard ttl > .zero else { return false }
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let expires = state.unlimited[mailboxID] else { return false }
            guard expires > now else {
                state.unlimited[mailboxID] = nil
                return false
            }
            return true
        }
    }

    func clear() {
        state.withLock { $0 = State() }
    }
}
