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
    public init(intervals: [TimeInterval] = RetrySchedule.defaultIntervals,
                expireAfter: TimeInterval = RetrySchedule.defaultExpireAfter,
                delayWarningAfter: TimeInterval? = RetrySchedule.defaultDelayWarningAfter) throws(RetryScheduleError) {
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

    /// Parses a comma-separated list of durations, e.g. `"5m, 15m, 30m, 1h"`.
    /// intervals = duration *( *WSP "," *WSP duration )
    public static func parseIntervals(_ text: String) throws(DurationParseError) -> [TimeInterval] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        var result: [TimeInterval] = []
        for item in items {
            result.append(try ConfigDuration.parse(String(item.trimmingCharacters(in: .whitespaces))))
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

/// Durations in configuration values and CLI options: `30s`, `15m`, `4h`, `5d`, `2w`, or a plain
/// integer meaning seconds.
public enum ConfigDuration {
    /// The largest accepted value: 100 years, so arithmetic on dates never overflows.
    public static let maximum: TimeInterval = 100 * 365 * 86_400

    /// duration = 1*18DIGIT [ "s" / "m" / "h" / "d" / "w" ]   (unit case-insensitive, no spaces)
    public static func parse(_ text: String) throws(DurationParseError) -> TimeInterval {
        var digits = Substring(text)
        var multiplier: Int64 = 1
        if let last = text.last, !last.isASCII || !last.isNumber {
            switch last {
            case "s", "S": multiplier = 1
            case "m", "M": multiplier = 60
            case "h", "H": multiplier = 3600
            case "d", "D": multiplier = 86_400
            case "w", "W": multiplier = 7 * 86_400
            default: throw DurationParseError(value: text, reason: "unknown unit '\(last)' (use s, m, h, d or w)")
            }
            digits = digits.dropLast()
        }
        guard !digits.isEmpty else {
            throw DurationParseError(value: text, reason: "expected a number, e.g. 30s, 15m, 4h, 5d or 600")
        }
        guard digits.count <= 18, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let number = Int64(digits) else {
            throw DurationParseError(value: text, reason: "expected a whole number of s, m, h, d or w, e.g. 30s, 15m, 4h, 5d or 600")
        }
        let (seconds, overflow) = number.multipliedReportingOverflow(by: multiplier)
        guard !overflow, TimeInterval(seconds) <= maximum else {
            throw DurationParseError(value: text, reason: "too large (at most 100 years)")
        }
        return TimeInterval(seconds)
    }

    /// A short human form: "5d", "4h", "1h30m", "45s", "0s" (whole seconds).
    public static func format(_ seconds: TimeInterval) -> String {
        guard seconds.isFinite else { return "\(seconds)s" }
        var rest = Int64(max(0, min(seconds, maximum)).rounded(.down))
        if rest == 0 { return "0s" }
        var out = ""
        for (unit, size) in [("d", Int64(86_400)), ("h", 3600), ("m", 60), ("s", 1)] where rest >= size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        return out
    }
}

/// A duration value that does not parse; the description names the value.
public struct DurationParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public let value: String
    public let reason: String
    public init(value: String, reason: String) {
        self.value = value
        self.reason = reason
    }
    public var description: String { "invalid duration \"\(value)\": \(reason)" }
}
