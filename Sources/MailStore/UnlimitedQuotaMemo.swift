/// RCPT's quota check without a second store read (issue 17, issue 21): the recipient look-up
/// (`resolveRecipient`) also reads whether the mailbox has quota limits and leaves "no limits" here;
/// the check of the same RCPT right after (`quotaStatus(mailboxID:usageOnlyIfLimited: true)`) takes it.
///
/// Each answer is used once (`take`), so it never outlives its RCPT: the next RCPT looks the mailbox up
/// again and sees a limit the CLI (another process) set meanwhile. Answers are counted per mailbox:
/// sessions that look up the same mailbox at once (a busy recipient) each leave one and each check takes
/// one, instead of the second look-up's answer replacing the first and one check reading again. A look-up
/// that sees limits drops every answer of its mailbox, so a check only ever takes an answer when the
/// latest look-up of that mailbox saw none. An answer whose check never comes (a recipient refused for
/// another reason) expires `ttl` after the mailbox's latest look-up; a limit set through the same store
/// clears the memo at once (`clear()`). Only "no limits" is kept: a mailbox with limits always has its
/// usage read. Expiry is on a monotonic clock (a timer, docs/ARCHITECTURE.md "Time"); the memo holds at
/// most `capacity` mailboxes and starts over when full, so its memory is bounded whatever the traffic.
import Synchronization

public final class UnlimitedQuotaMemo: Sendable {
    private struct Answers {
        /// Look-ups whose check has not come yet.
        var count: Int
        /// When the newest of them expires.
        var expires: ContinuousClock.Instant
    }

    private let state = Mutex<[Int64: Answers]>([:])
    /// How long a "no limits" answer waits for its check; zero turns the memo off.
    public let ttl: Duration
    public let capacity: Int

    public init(ttl: Duration, capacity: Int = 4096) {
        self.ttl = ttl
        self.capacity = max(1, capacity)
    }

    /// Records what the look-up read: `unlimited` when the mailbox has neither limit. A look-up that saw
    /// limits drops every answer still waiting for that mailbox.
    public func remember(mailboxID: Int64, unlimited: Bool) {
        guard ttl > .zero else { return }
        let expires = ContinuousClock.now + ttl
        let capacity = self.capacity
        // updateValue/removeValue, not the subscript's in-place modify: that one's coroutine frame is
        // allocated on the heap here (about 7 allocations per RCPT, bench/allocs_server.sh).
        state.withLock { memo in
            let waiting = memo[mailboxID]
            if unlimited {
                if memo.count >= capacity, waiting == nil { memo.removeAll(keepingCapacity: true) }
                memo.updateValue(Answers(count: (waiting?.count ?? 0) + 1, expires: expires), forKey: mailboxID)
            } else if waiting != nil {
                memo.removeValue(forKey: mailboxID)
            }
        }
    }

    /// Whether a look-up saw `mailboxID` without quota limits less than `ttl` ago; one answer is used up.
    public func take(_ mailboxID: Int64) -> Bool {
        guard ttl > .zero else { return false }
        let now = ContinuousClock.now
        return state.withLock { memo in
            guard let answers = memo[mailboxID] else { return false }
            guard answers.expires > now, answers.count > 1 else {
                memo.removeValue(forKey: mailboxID)
                return answers.expires > now
            }
            memo.updateValue(Answers(count: answers.count - 1, expires: answers.expires), forKey: mailboxID)
            return true
        }
    }

    public func clear() {
        state.withLock { $0.removeAll() }
    }
}
