/// RCPT's quota check without a second store read (issue 17, issue 21): the recipient look-up
/// (`resolveRecipient`) also reads whether the mailbox has quota limits and leaves "no limits" here;
/// the check of the same RCPT right after (`quotaStatus(mailboxID:usageOnlyIfLimited: true)`) takes it.
///
/// Each answer is used once (`take`), so it never outlives its RCPT: the next RCPT looks the mailbox up
/// again and sees a limit the CLI (another process) set meanwhile. An answer whose check never comes
/// (a recipient refused for another reason) expires after `ttl`; a limit set through the same store
/// clears the memo at once (`clear()`). Only "no limits" is kept: a mailbox with limits always has its
/// usage read. Expiry is on a monotonic clock (a timer, docs/ARCHITECTURE.md "Time"); the memo holds at
/// most `capacity` mailboxes and starts over when full, so its memory is bounded whatever the traffic.
import Synchronization

public final class UnlimitedQuotaMemo: Sendable {
    private let state = Mutex<[Int64: ContinuousClock.Instant]>([:])
    /// How long a "no limits" answer waits for its check; zero turns the memo off.
    public let ttl: Duration
    public let capacity: Int

    public init(ttl: Duration, capacity: Int = 4096) {
        self.ttl = ttl
        self.capacity = max(1, capacity)
    }

    /// Records what the look-up read: `unlimited` when the mailbox has neither limit.
    public func remember(mailboxID: Int64, unlimited: Bool) {
        guard ttl > .zero else { return }
        let expires = ContinuousClock.now + ttl
        let capacity = self.capacity
        state.withLock { memo in
            if unlimited {
                if memo.count >= capacity, memo[mailboxID] == nil { memo.removeAll(keepingCapacity: true) }
                memo[mailboxID] = expires
            } else if memo[mailboxID] != nil {
                memo[mailboxID] = nil
            }
        }
    }

    /// Whether the look-up saw `mailboxID` without quota limits less than `ttl` ago; the answer is used up.
    public func take(_ mailboxID: Int64) -> Bool {
        guard ttl > .zero else { return false }
        let now = ContinuousClock.now
        return state.withLock { memo in
            guard let expires = memo.removeValue(forKey: mailboxID) else { return false }
            return expires > now
        }
    }

    public func clear() {
        state.withLock { $0.removeAll() }
    }
}
