/// Slows down password guessing, in two ways that work together:
///
/// - **Failure delay.** Every failed login makes the next answer to the same client IP and to the same
///   account wait longer (doubling from `baseDelay` up to `maxDelay`). Failures are forgotten after
///   `forgetAfter` without new ones; a successful login clears the account's count.
/// - **Logins in flight.** A login is "in flight" from the moment its password check starts until its
///   answer is due — for a failure that includes the whole failure delay, whether or not the client
///   is still connected (a client that hangs up after a few hundred milliseconds, having seen no 235 /
///   +OK, must not get its slot back early). At most `maxConcurrentPerIP` logins per client IP
///   (IPv6: per /64 network, what one customer usually holds) and `maxConcurrentPerAccount` per account
///   are in flight; a login over either bound is refused at once without checking the password
///   (`beginLogin` returns nil). So one IP makes at most `maxConcurrentPerIP` guesses per
///   (`maxDelay` + hash time) once its delay has grown — see docs/CONFIGURATION.md "Logins".
import Foundation
import MailCore
import Synchronization

public final class AuthThrottle: Sendable {
    public struct Settings: Sendable {
        public var baseDelay: Double
        public var maxDelay: Double
        public var forgetAfter: Double
        /// Logins in flight per client IP (IPv6: per /64); 0: no bound.
        public var maxConcurrentPerIP: Int
        /// Logins in flight per account (the login name, case-insensitive); 0: no bound.
        public var maxConcurrentPerAccount: Int
        public init(
            baseDelay: Double = 1, maxDelay: Double = 30, forgetAfter: Double = 900,
            maxConcurrentPerIP: Int = 8, maxConcurrentPerAccount: Int = 4
        ) {
            self.baseDelay = baseDelay
            self.maxDelay = maxDelay
            self.forgetAfter = forgetAfter
            self.maxConcurrentPerIP = maxConcurrentPerIP
            self.maxConcurrentPerAccount = maxConcurrentPerAccount
        }
    }

    /// One login in flight: give it back with `endLogin` exactly once.
    public struct LoginSlot: Sendable, Hashable {
        let network: IPAddress?
        let account: String
    }

    private struct Entry { var failures: Int; var last: Date }
    private struct State {
        var byIP: [IPAddress: Entry] = [:]
        var byAccount: [String: Entry] = [:]
        var inFlightByNetwork: [IPAddress: Int] = [:]
        var inFlightByAccount: [String: Int] = [:]
    }

    private let state = Mutex(State())
    public let settings: Settings
    /// When failures happened and whether `forgetAfter` has passed (the server's `MailClock`).
    private let clock: any MailClock

    public init(settings: Settings = .init(), clock: any MailClock = WallClock()) {
        self.settings = settings
        self.clock = clock
    }

    /// Records a failure and returns how long (seconds) to wait before answering it.
    public func recordFailure(ip: IPAddress?, account: String) -> Double {
        let t = clock.now
        return state.withLock { s in
            func bump(_ e: Entry?) -> Entry {
                guard let e, t.timeIntervalSince(e.last) < settings.forgetAfter else { return Entry(failures: 1, last: t) }
                return Entry(failures: e.failures + 1, last: t)
            }
            var n = 0
            if let ip { let e = bump(s.byIP[ip]); s.byIP[ip] = e; n = max(n, e.failures) }
            let key = account.lowercased()
            let e = bump(s.byAccount[key]); s.byAccount[key] = e; n = max(n, e.failures)
            if s.byIP.count > 100_000 { s.byIP = [:] } // bounded memory under a flood
            if s.byAccount.count > 100_000 { s.byAccount = [:] }
            return min(settings.maxDelay, settings.baseDelay * pow(2, Double(min(n - 1, 30))))
        }
    }

    public func recordSuccess(account: String) {
        _ = state.withLock { $0.byAccount.removeValue(forKey: account.lowercased()) }
    }

    /// Starts a login for `account` from `ip`: a slot, or nil when that IP (network) or that account
    /// already has as many logins in flight as allowed. The counts are exact (a slot is an entry in a
    /// table, removed by `endLogin`), so their memory is bounded by the logins actually running.
    public func beginLogin(ip: IPAddress?, account: String) -> LoginSlot? {
        let slot = LoginSlot(network: ip.map(Self.network), account: account.lowercased())
        return state.withLock { s in
            if let network = slot.network, settings.maxConcurrentPerIP > 0,
                s.inFlightByNetwork[network, default: 0] >= settings.maxConcurrentPerIP
            {
                return nil
            }
            if settings.maxConcurrentPerAccount > 0,
                s.inFlightByAccount[slot.account, default: 0] >= settings.maxConcurrentPerAccount
            {
                return nil
            }
            if let network = slot.network { s.inFlightByNetwork[network, default: 0] += 1 }
            s.inFlightByAccount[slot.account, default: 0] += 1
            return slot
        }
    }

    /// Ends a login started with `beginLogin` (after its answer, or after its failure delay).
    public func endLogin(_ slot: LoginSlot) {
        state.withLock { s in
            if let network = slot.network {
                let left = s.inFlightByNetwork[network, default: 1] - 1
                s.inFlightByNetwork[network] = left > 0 ? left : nil
            }
            let left = s.inFlightByAccount[slot.account, default: 1] - 1
            s.inFlightByAccount[slot.account] = left > 0 ? left : nil
        }
    }

    /// Logins in flight from `ip`'s network and for `account` (for tests and status).
    public func loginsInFlight(ip: IPAddress?, account: String? = nil) -> (ip: Int, account: Int) {
        state.withLock { s in
            (
                ip.map { s.inFlightByNetwork[Self.network($0), default: 0] } ?? 0,
                account.map { s.inFlightByAccount[$0.lowercased(), default: 0] } ?? 0
            )
        }
    }

    /// The key of the per-IP bound: an IPv4 address itself (also written as `::ffff:a.b.c.d`, as a
    /// dual-stack listener reports it), an IPv6 address's /64 network.
    static func network(_ ip: IPAddress) -> IPAddress {
        guard ip.isIPv6 else { return ip }
        if ip.bytes.prefix(10).allSatisfy({ $0 == 0 }), ip.bytes[10] == 0xFF, ip.bytes[11] == 0xFF { return ip }
        return IPAddress(bytes: Array(ip.bytes.prefix(8)) + Array(repeating: 0, count: 8)) ?? ip
    }
}
