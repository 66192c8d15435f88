/// When to retry a deferred outbound delivery, when to give up, and when to warn the sender.
///
/// RFC 5321 §4.5.4.1 asks for a retry interval of at least 30 minutes and a give-up time of at least
/// 4–5 days; like Postfix and Exim, Petrel retries sooner at first (5, 15, 30 minutes, then 1, 2, 4
/// hours, the last interval repeating) and gives up after 5 days (Postfix `maximal_queue_lifetime`).
/// A delay DSN (RFC 3464 Action: delayed, RFC 3461 NOTIFY=DELAY) goes out once after 4 hours
/// (Postfix `delay_warning_time`).
///
/// Everything here is a pure function of its arguments (no clock is read), so the scheduler's
/// behaviour is testable with fixed dates.
///
/// The expiry rule, exactly:
/// - `expiry = arrivedAt + expireAfter`.
/// - Every entry is attempted at least once whatever its age (a server that was down for a week still
///   tries each entry once before bouncing it).
/// - After a temporary failure at time `t` following `n` attempts (this one included), the candidate
///   next attempt is `t + interval(n)`:
///   - if `t >= expiry` the entry is expired: no more attempts, a failure DSN is sent (`Outcome.expire`);
///   - else if the candidate is after `expiry`, the next (and last) attempt is AT `expiry`;
///   - else the candidate.
/// So an entry is always attempted at its expiry time (unless it was attempted exactly then already)
/// and a temporary failure at or after it is final.
import Foundation
import MailCore

/// A retry schedule: intervals between attempts, the give-up age and the delay-warning age.
public struct RetrySchedule: Hashable, Sendable {
    /// Seconds between attempt n and n+1 (index n-1); the last one repeats. Non-empty, all > 0.
    public let intervals: [TimeInterval]
    /// Age (from arrival) after which a temporary failure becomes final. > 0.
    public let expireAfter: TimeInterval
    /// Age after which one delay DSN is sent; nil = never.
    public let delayWarningAfter: TimeInterval?

    /// 5m, 15m, 30m, 1h, 2h, 4h (repeating).
    public static let defaultIntervals: [TimeInterval] = [300, 900, 1800, 3600, 7200, 14_400]
    /// 5 days (Postfix `maximal_queue_lifetime`).
    public static let defaultExpireAfter: TimeInterval = 5 * 86_400
    /// 4 hours (Postfix `delay_warning_time`).
    public static let defaultDelayWarningAfter: TimeInterval = 4 * 3600

    /// The default schedule.
    public static let `default` = RetrySchedule(
        validated: defaultIntervals, expireAfter: defaultExpireAfter, delayWarningAfter: defaultDelayWarningAfter)

    /// Validates the values; throws `RetryScheduleError` naming the bad one.
    public init(
        intervals: [TimeInterval] = RetrySchedule.defaultIntervals,
        expireAfter: TimeInterval = RetrySchedule.defaultExpireAfter,
        delayWarningAfter: TimeInterval? = RetrySchedule.defaultDelayWarningAfter
    ) throws(RetryScheduleError) {
        guard !intervals.isEmpty else { throw .noIntervals }
        for (index, interval) in intervals.enumerated() where !(interval.isFinite && interval > 0) {
            throw .invalidInterval(index: index, value: interval)
        }
        guard expireAfter.isFinite, expireAfter > 0 else { throw .invalidExpiry(expireAfter) }
        if let delayWarningAfter, !(delayWarningAfter.isFinite && delayWarningAfter > 0) {
            throw .invalidDelayWarning(delayWarningAfter)
        }
        self.init(validated: intervals, expireAfter: expireAfter, delayWarningAfter: delayWarningAfter)
    }

    private init(validated intervals: [TimeInterval], expireAfter: TimeInterval, delayWarningAfter: TimeInterval?) {
        self.intervals = intervals
        self.expireAfter = expireAfter
        self.delayWarningAfter = delayWarningAfter
    }

    /// The wait after `attempts` attempts (1 = after the first); values below 1 count as 1.
    public func interval(afterAttempts attempts: Int) -> TimeInterval {
        let index = min(max(attempts, 1), intervals.count) - 1
        return intervals.indices.contains(index) ? intervals[index] : (intervals.last ?? 300)
    }

    /// The unclamped next attempt: `lastAttempt + interval(afterAttempts: attempts)`.
    /// Use `outcome(afterFailureAt:attempts:arrivedAt:)` to apply the expiry.
    public func nextAttempt(after attempts: Int, lastAttempt: Date) -> Date {
        lastAttempt.addingTimeInterval(interval(afterAttempts: attempts))
    }

    /// When the entry expires.
    public func expiry(arrivedAt: Date) -> Date { arrivedAt.addingTimeInterval(expireAfter) }

    /// True when a temporary failure at `now` is final (`now >= arrivedAt + expireAfter`).
    public func isExpired(arrivedAt: Date, now: Date) -> Bool {
        now >= expiry(arrivedAt: arrivedAt)
    }

    /// What to do after a temporary failure.
    public enum Outcome: Hashable, Sendable {
        /// Try again at this time (never later than the expiry).
        case retry(at: Date)
        /// Give up: send a failure DSN (status 4.4.7, "delivery time expired") and remove the entry.
        case expire
    }

    /// Applies the rule in the file comment: after `attempts` attempts, the last failing at `failedAt`.
    public func outcome(afterFailureAt failedAt: Date, attempts: Int, arrivedAt: Date) -> Outcome {
        let expiry = expiry(arrivedAt: arrivedAt)
        if failedAt >= expiry { return .expire }
        let candidate = nextAttempt(after: attempts, lastAttempt: failedAt)
        return .retry(at: min(candidate, expiry))
    }

    /// True when a delay DSN is due: a warning age is set, no warning was sent yet, the entry is at
    /// least that old and not yet expired (an expired entry gets a failure DSN instead).
    public func needsDelayWarning(arrivedAt: Date, now: Date, alreadyNotified: Bool) -> Bool {
        guard !alreadyNotified, let delayWarningAfter else { return false }
        return now >= arrivedAt.addingTimeInterval(delayWarningAfter) && !isExpired(arrivedAt: arrivedAt, now: now)
    }

    /// Parses a comma-separated list of durations, e.g. `"5m, 15m, 30m, 1h"` (each item in the
    /// `DurationText` grammar of MailCore: s, m, h, d or w, or plain seconds).
    /// intervals = duration *( *WSP "," *WSP duration )
    public static func parseIntervals(_ text: String) throws(DurationText.Error) -> [TimeInterval] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        var result: [TimeInterval] = []
        for item in items {
            result.append(TimeInterval(try DurationText.parse(String(item.trimmingCharacters(in: .whitespaces)))))
        }
        return result
    }
}

/// A schedule value that cannot be used.
public enum RetryScheduleError: Error, Hashable, Sendable, CustomStringConvertible {
    case noIntervals
    case invalidInterval(index: Int, value: TimeInterval)
    case invalidExpiry(TimeInterval)
    case invalidDelayWarning(TimeInterval)

    public var description: String {
        switch self {
        case .noIntervals:
            return "the retry schedule needs at least one interval (e.g. \"5m, 15m, 30m, 1h, 2h, 4h\")"
        case .invalidInterval(let index, let value):
            return "retry interval #\(index + 1) is \(value) seconds; every interval must be more than 0"
        case .invalidExpiry(let value):
            return "the queue lifetime is \(value) seconds; it must be more than 0 (e.g. \"5d\")"
        case .invalidDelayWarning(let value):
            return "the delay warning time is \(value) seconds; it must be more than 0, or absent for no warnings"
        }
    }
}
