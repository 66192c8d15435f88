import Foundation
import MailCore
import Testing

@testable import MailQueue

@Suite struct RetryScheduleTests {
    let arrived = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func defaults() {
        let s = RetrySchedule.default
        #expect(s.intervals == [300, 900, 1800, 3600, 7200, 14_400])
        #expect(s.expireAfter == 5 * 86_400)
        #expect(s.delayWarningAfter == TimeInterval(14_400))
    }

    @Test(arguments: [(0, 300.0), (1, 300.0), (2, 900.0), (3, 1800.0), (6, 14_400.0), (7, 14_400.0), (500, 14_400.0), (-3, 300.0)])
    func intervalsWithLastRepeating(attempts: Int, expected: TimeInterval) {
        #expect(RetrySchedule.default.interval(afterAttempts: attempts) == expected)
        let last = Date(timeIntervalSince1970: 1000)
        #expect(RetrySchedule.default.nextAttempt(after: attempts, lastAttempt: last) == last.addingTimeInterval(expected))
    }

    @Test func expiryBoundary() {
        let s = RetrySchedule.default
        #expect(!s.isExpired(arrivedAt: arrived, now: arrived.addingTimeInterval(5 * 86_400 - 1)))
        #expect(s.isExpired(arrivedAt: arrived, now: arrived.addingTimeInterval(5 * 86_400)))
        #expect(s.isExpired(arrivedAt: arrived, now: arrived.addingTimeInterval(6 * 86_400)))
    }

    @Test func lastAttemptIsClampedToExpiryThenExpires() throws {
        let s = try RetrySchedule(intervals: [3600], expireAfter: 3 * 3600, delayWarningAfter: nil)
        // Normal retry.
        #expect(s.outcome(afterFailureAt: arrived, attempts: 1, arrivedAt: arrived) == .retry(at: arrived.addingTimeInterval(3600)))
        // A failure 2.5 h in: the next candidate (3.5 h) is past expiry (3 h) → the last attempt AT expiry.
        let late = arrived.addingTimeInterval(2.5 * 3600)
        #expect(s.outcome(afterFailureAt: late, attempts: 3, arrivedAt: arrived) == .retry(at: arrived.addingTimeInterval(3 * 3600)))
        // The attempt at expiry fails: expired.
        #expect(s.outcome(afterFailureAt: arrived.addingTimeInterval(3 * 3600), attempts: 4, arrivedAt: arrived) == .expire)
        // Long after expiry (server was down): still only one attempt, then expired.
        #expect(s.outcome(afterFailureAt: arrived.addingTimeInterval(100 * 3600), attempts: 1, arrivedAt: arrived) == .expire)
    }

    @Test func delayWarning() throws {
        let s = RetrySchedule.default
        let fourHours = arrived.addingTimeInterval(4 * 3600)
        #expect(!s.needsDelayWarning(arrivedAt: arrived, now: fourHours.addingTimeInterval(-1), alreadyNotified: false))
        #expect(s.needsDelayWarning(arrivedAt: arrived, now: fourHours, alreadyNotified: false))
        #expect(!s.needsDelayWarning(arrivedAt: arrived, now: fourHours, alreadyNotified: true))
        #expect(!s.needsDelayWarning(arrivedAt: arrived, now: arrived.addingTimeInterval(6 * 86_400), alreadyNotified: false))
        let never = try RetrySchedule(delayWarningAfter: nil)
        #expect(!never.needsDelayWarning(arrivedAt: arrived, now: arrived.addingTimeInterval(86_400), alreadyNotified: false))
    }

    @Test func validation() {
        #expect(throws: RetryScheduleError.noIntervals) { try RetrySchedule(intervals: []) }
        #expect(throws: RetryScheduleError.invalidInterval(index: 1, value: 0)) { try RetrySchedule(intervals: [60, 0]) }
        #expect(throws: RetryScheduleError.invalidInterval(index: 0, value: -5)) { try RetrySchedule(intervals: [-5]) }
        #expect(throws: RetryScheduleError.invalidExpiry(0)) { try RetrySchedule(expireAfter: 0) }
        #expect(throws: RetryScheduleError.invalidDelayWarning(-1)) { try RetrySchedule(delayWarningAfter: -1) }
        #expect(RetryScheduleError.invalidInterval(index: 1, value: 0).description.contains("#2"))
        #expect(RetryScheduleError.noIntervals.description.contains("at least one interval"))
    }

    @Test func parsesIntervalLists() throws {
        #expect(try RetrySchedule.parseIntervals("5m, 15m,1h") == [300, 900, 3600])
        #expect(try RetrySchedule.parseIntervals("2w,1D , 30") == [1_209_600, 86_400, 30])
        #expect(throws: DurationText.Error.self) { try RetrySchedule.parseIntervals("5m,,1h") }
        #expect(throws: DurationText.Error(value: "5x", reason: "unknown unit 'x' (use s, m, h, d or w)")) {
            try RetrySchedule.parseIntervals("5m, 5x")
        }
    }
}
