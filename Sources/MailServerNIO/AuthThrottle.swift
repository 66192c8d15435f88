/// Slows down password guessing: every failed login makes the next answer to the same client IP and
/// to the same account wait longer (doubling from `baseDelay` up to `maxDelay`). Failures are forgotten
/// after `forgetAfter` without new ones; a successful login clears the account's count.
import Foundation
import MailCore
import NIOConcurrencyHelpers

public final class AuthThrottle: Sendable {
    public struct Settings: Sendable {
        public var baseDelay: Double
        public var maxDelay: Double
        public var forgetAfter: Double
        public init(baseDelay: Double = 1, maxDelay: Double = 30, forgetAfter: Double = 900) {
            self.baseDelay = baseDelay
            self.maxDelay = maxDelay
            self.forgetAfter = forgetAfter
        }
    }

    private struct Entry { var failures: Int; var last: Date }
    private struct State { var byIP: [IPAddress: Entry] = [:]; var byAccount: [String: Entry] = [:] }

    private let state = NIOLockedValueBox(State())
    public let settings: Settings
    private let now: @Sendable () -> Date

    public init(settings: Settings = .init(), now: @escaping @Sendable () -> Date = { Date() }) {
        self.settings = settings
        self.now = now
    }

    /// Records a failure and returns how long (seconds) to wait before answering it.
    public func recordFailure(ip: IPAddress?, account: String) -> Double {
        let t = now()
        return state.withLockedValue { s in
            func bump(_ e: Entry?) -> Entry {
                guard let e, t.timeIntervalSince(e.last) < settings.forgetAfter else { return Entry(failures: 1, last: t) }
                return Entry(failures: e.failures + 1, last: t)
            }
            var n = 0
            if let ip { let e = bump(s.byIP[ip]); s.byIP[ip] = e; n = max(n, e.failures) }
            let key = account.lowercased()
            let e = bump(s.byAccount[key]); s.byAccount[key] = e; n = max(n, e.failures)
            if s.byIP.count > 100_000 { s.byIP = [:] }          // bounded memory under a flood
            if s.byAccount.count > 100_000 { s.byAccount = [:] }
            return min(settings.maxDelay, settings.baseDelay * pow(2, Double(min(n - 1, 30))))
        }
    }

    public func recordSuccess(account: String) {
        _ = state.withLockedValue { $0.byAccount.removeValue(forKey: account.lowercased()) }
    }
}
