import Foundation
import MailCore
import Testing

@testable import MailServerNIO

/// The bound of logins in flight (AuthThrottle.swift, issue 13): per client IP (IPv6: per /64), per
/// account, exact counts, slots given back.
@Suite struct AuthThrottleTests {
    @Test func perIPBound() throws {
        let throttle = AuthThrottle(settings: .init(maxConcurrentPerIP: 2, maxConcurrentPerAccount: 100))
        let ip = IPAddress("192.0.2.7")
        let first = try #require(throttle.beginLogin(ip: ip, account: "a@x.test"))
        let second = try #require(throttle.beginLogin(ip: ip, account: "b@x.test"))
        #expect(throttle.beginLogin(ip: ip, account: "c@x.test") == nil)
        // Another address is not affected.
        let other = try #require(throttle.beginLogin(ip: IPAddress("192.0.2.8"), account: "c@x.test"))
        #expect(throttle.loginsInFlight(ip: ip).ip == 2)
        throttle.endLogin(first)
        let third = try #require(throttle.beginLogin(ip: ip, account: "c@x.test"))
        for slot in [second, third, other] { throttle.endLogin(slot) }
        #expect(throttle.loginsInFlight(ip: ip).ip == 0)
        #expect(throttle.loginsInFlight(ip: IPAddress("192.0.2.8")).ip == 0)
    }

    @Test func perAccountBoundIsCaseInsensitiveAndSpansAddresses() throws {
        let throttle = AuthThrottle(settings: .init(maxConcurrentPerIP: 100, maxConcurrentPerAccount: 1))
        let slot = try #require(throttle.beginLogin(ip: IPAddress("192.0.2.1"), account: "Alice@Example.Test"))
        #expect(throttle.beginLogin(ip: IPAddress("198.51.100.9"), account: "alice@example.test") == nil)
        #expect(throttle.beginLogin(ip: nil, account: "ALICE@EXAMPLE.TEST") == nil)
        #expect(throttle.loginsInFlight(ip: nil, account: "alice@example.test").account == 1)
        throttle.endLogin(slot)
        #expect(throttle.beginLogin(ip: IPAddress("198.51.100.9"), account: "alice@example.test") != nil)
    }

    @Test func ipv6CountsPerSlash64ButMappedIPv4PerAddress() throws {
        let throttle = AuthThrottle(settings: .init(maxConcurrentPerIP: 1, maxConcurrentPerAccount: 100))
        _ = try #require(throttle.beginLogin(ip: IPAddress("2001:db8:1:2::5"), account: "a"))
        #expect(throttle.beginLogin(ip: IPAddress("2001:db8:1:2:ffff::9"), account: "b") == nil)
        #expect(throttle.beginLogin(ip: IPAddress("2001:db8:1:3::5"), account: "b") != nil)
        _ = try #require(throttle.beginLogin(ip: IPAddress("::ffff:192.0.2.1"), account: "c"))
        #expect(throttle.beginLogin(ip: IPAddress("::ffff:192.0.2.2"), account: "d") != nil)
    }

    @Test func zeroMeansNoBound() {
        let throttle = AuthThrottle(settings: .init(maxConcurrentPerIP: 0, maxConcurrentPerAccount: 0))
        for _ in 0..<1000 { #expect(throttle.beginLogin(ip: IPAddress("192.0.2.7"), account: "a") != nil) }
    }

    @Test func failureDelayStillDoubles() {
        let throttle = AuthThrottle(settings: .init(baseDelay: 1, maxDelay: 5))
        let delays = (0..<5).map { _ in throttle.recordFailure(ip: IPAddress("192.0.2.7"), account: "a") }
        #expect(delays == [1, 2, 4, 5, 5])
    }

    /// Failures are forgotten `forgetAfter` after the last one, measured on the injected clock: just
    /// before, the delay keeps doubling; after, it starts again from `baseDelay`.
    @Test func failuresAreForgottenAfterQuietTimeOnTheInjectedClock() {
        let clock = ManualMailClock(Date(timeIntervalSince1970: 1_800_000_000))
        let throttle = AuthThrottle(settings: .init(baseDelay: 1, maxDelay: 64, forgetAfter: 900), clock: clock)
        let ip = IPAddress("192.0.2.7")
        #expect(throttle.recordFailure(ip: ip, account: "a") == 1)
        #expect(throttle.recordFailure(ip: ip, account: "a") == 2)
        clock.advance(899)
        #expect(throttle.recordFailure(ip: ip, account: "a") == 4)
        clock.advance(900)
        #expect(throttle.recordFailure(ip: ip, account: "a") == 1)
        // Another account from the same IP shares the IP's count; a fresh IP and account start at 1.
        #expect(throttle.recordFailure(ip: ip, account: "b") == 2)
        #expect(throttle.recordFailure(ip: IPAddress("198.51.100.1"), account: "c") == 1)
        // A success clears the account, not the IP.
        throttle.recordSuccess(account: "b")
        clock.advance(10)
        #expect(throttle.recordFailure(ip: IPAddress("198.51.100.2"), account: "b") == 1)
        #expect(throttle.recordFailure(ip: ip, account: "d") == 4)
    }
}
