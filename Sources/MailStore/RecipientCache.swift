/// The positive answers of the per-message directory look-ups, kept for a short time so that a busy
/// recipient does not cost a trip to the database per message (issue 16 for PostgreSQL's round trip,
/// issue 21 for SQLite's hand-off to a reading thread): RCPT's `resolveRecipient` ("this address is
/// mailbox N", with whether it has quota limits) and MAIL FROM's `isLocalDomain` ("this domain is ours").
/// Both stores keep one (SQLiteMailStore, PostgresMailStore) and decide the same way.
///
/// Only "exists" is kept, never "unknown user" or "not local": a domain or mailbox added by another
/// process (the CLI beside `petrel serve`, another node) is seen at once. What another process changes
/// is seen after at most `ttl`:
/// - a mailbox it removed may still be accepted at RCPT meanwhile; its delivery then fails inside the
///   store's transaction (the mailbox row is gone), so the client gets a temporary error at the end of
///   DATA and sends again: nothing is misdelivered or lost;
/// - a quota it set is obeyed at RCPT once the "no limits" answer expires;
/// - a domain it removed is still "ours" for MAIL FROM's anti-spoofing check meanwhile.
///
/// A change made through the same store clears the cache at once (`clear()`), and a look-up that was
/// under way when it cleared leaves nothing (`generation`): it may have read the rows from before the
/// change. Expiry is on a monotonic clock (a timer, like a connection's deadline, not a wall-clock time:
/// docs/ARCHITECTURE.md "Time"). Each map holds at most `capacity` entries and starts over when full, so
/// the memory is bounded whatever the traffic.
import Synchronization

public final class RecipientCache: Sendable {
    private struct Entry {
        var mailboxID: Int64
        var expires: ContinuousClock.Instant
    }

    private struct State {
        var generation: UInt64 = 0
        var byKey: [String: Entry] = [:]
        /// Mailboxes the look-up found without quota limits, until when: RCPT's quota check right after
        /// (`quotaStatus(usageOnlyIfLimited: true)`) needs no read for them.
        var unlimited: [Int64: ContinuousClock.Instant] = [:]
        /// Domains found local, until when.
        var localDomains: [String: ContinuousClock.Instant] = [:]
    }

    private let state = Mutex(State())
    /// How long an answer is used; zero turns the cache off.
    public let ttl: Duration
    /// Most entries per map; a full map starts over (bounded memory whatever the traffic).
    public let capacity: Int

    public init(ttl: Duration, capacity: Int = 4096) {
        self.ttl = ttl
        self.capacity = max(1, capacity)
    }

    /// Taken before a look-up and handed to `remember`: a `clear()` in between makes the answer void.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// The mailbox id of `key` (a lookup key) if it was found less than `ttl` ago.
    public func mailbox(_ key: String) -> Int64? {
        guard ttl > .zero else { return nil }
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let entry = state.byKey[key] else { return nil }
            guard entry.expires > now else {
                state.byKey.removeValue(forKey: key)
                return nil
            }
            return entry.mailboxID
        }
    }

    /// What a look-up begun at `generation` found: `key` is mailbox `mailboxID`, `unlimited` when it has
    /// no quota limits.
    public func remember(_ key: String, mailboxID: Int64, unlimited: Bool, generation: UInt64) {
        guard ttl > .zero else { return }
        let expires = ContinuousClock.now + ttl
        let capacity = self.capacity
        // updateValue/removeValue, not the subscript's in-place modify: that one's coroutine frame is
        // allocated on the heap here (bench/allocs_server.sh).
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.byKey.count >= capacity, state.byKey[key] == nil { state.byKey.removeAll(keepingCapacity: true) }
            if state.unlimited.count >= capacity, state.unlimited[mailboxID] == nil { state.unlimited.removeAll(keepingCapacity: true) }
            state.byKey.updateValue(Entry(mailboxID: mailboxID, expires: expires), forKey: key)
            if unlimited {
                state.unlimited.updateValue(expires, forKey: mailboxID)
            } else {
                state.unlimited.removeValue(forKey: mailboxID)
            }
        }
    }

    /// Whether `mailboxID` was seen without quota limits less than `ttl` ago.
    public func isUnlimited(_ mailboxID: Int64) -> Bool {
        guard ttl > .zero else { return false }
        let now = ContinuousClock.now
        return state.withLock { Self.isLive(mailboxID, in: &$0.unlimited, at: now) }
    }

    /// Whether `domain` (a normalized domain key) was found local less than `ttl` ago.
    public func isLocalDomain(_ domain: String) -> Bool {
        guard ttl > .zero else { return false }
        let now = ContinuousClock.now
        return state.withLock { Self.isLive(domain, in: &$0.localDomains, at: now) }
    }

    /// Whether `key` has an answer that has not expired at `now`; an expired one is dropped.
    private static func isLive<Key: Hashable>(_ key: Key, in answers: inout [Key: ContinuousClock.Instant], at now: ContinuousClock.Instant) -> Bool {
        guard let expires = answers[key] else { return false }
        guard expires > now else {
            answers.removeValue(forKey: key)
            return false
        }
        return true
    }

    /// What a look-up begun at `generation` found: `domain` is local.
    public func rememberLocalDomain(_ domain: String, generation: UInt64) {
        guard ttl > .zero else { return }
        let expires = ContinuousClock.now + ttl
        let capacity = self.capacity
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.localDomains.count >= capacity, state.localDomains[domain] == nil {
                state.localDomains.removeAll(keepingCapacity: true)
            }
            state.localDomains.updateValue(expires, forKey: domain)
        }
    }

    /// Forgets every answer, and those of the look-ups under way: called after a change to the
    /// directory made through the store.
    public func clear() {
        state.withLock { state in
            state = State(generation: state.generation &+ 1)
        }
    }
}
