import Foundation
import Logging
import MailCore
import MailPolicy
import MailServerNIO
import MailStore
import Testing

/// AccessControl.swift: configured + data-directory rules merged, live refresh, invalid entries
/// skipped, and the greeting-time screen (deny, allow list, per-minute rate).
@Suite struct AccessControlTests {
    static let configured = RelayRules(allowAuthenticated: true, allowedNetworks: [IPNetwork("192.0.2.0/24")].compactMap { $0 })

    @Test func storeEntriesAreMergedOnRefresh() async throws {
        let store = InMemoryMailStore()
        let access = AccessControl(relay: Self.configured, store: store)
        #expect(access.relayRules.allowedNetworks.map(\.description) == ["192.0.2.0/24"])
        _ = try await store.addAccessEntry("198.51.100.0/24", to: .relayNetwork)
        _ = try await store.addAccessEntry("192.0.2.0/24", to: .relayNetwork) // duplicate of the config
        _ = try await store.addAccessEntry("partner.example", to: .relayClientDomain)
        _ = try await store.addAccessEntry("203.0.113.0/24", to: .connectionDeny)
        // Not applied before the refresh.
        #expect(access.relayRules.allowedClientDomains.isEmpty)
        await access.refresh()
        let snap = access.snapshot
        #expect(snap.relay.allowedNetworks.map(\.description) == ["192.0.2.0/24", "198.51.100.0/24"])
        #expect(snap.relay.allowedClientDomains == ["partner.example"])
        #expect(snap.connections.deny.map(\.description) == ["203.0.113.0/24"])
        // Removing from the store removes it at the next refresh; the configured entries stay.
        _ = try await store.removeAccessEntry("198.51.100.0/24", from: .relayNetwork)
        await access.refresh()
        #expect(access.relayRules.allowedNetworks.map(\.description) == ["192.0.2.0/24"])
    }

    @Test func invalidStoreEntriesAreSkipped() {
        var reported: [String] = []
        let entries = [
            AccessEntry(list: .relayNetwork, value: "10.0.0.1/8", addedAt: Date()),
            AccessEntry(list: .relayClientDomain, value: "bad..example", addedAt: Date()),
            AccessEntry(list: .connectionAllow, value: "2001:db8::/32", addedAt: Date())
        ]
        let snap = AccessControl.merge(relay: .closed, connections: .open, entries: entries) { e, _ in reported.append(e.value) }
        #expect(reported == ["10.0.0.1/8", "bad..example"])
        #expect(snap.relay.allowedNetworks.isEmpty)
        #expect(snap.connections.allow.map(\.description) == ["2001:db8::/32"])
    }

    @Test func screenDeniesThenRateLimits() async throws {
        let store = InMemoryMailStore()
        let access = AccessControl(
            relay: .closed, connections: ConnectionRules(deny: [IPNetwork("198.51.100.0/24")].compactMap { $0 }),
            store: store, maxConnectionRatePerIP: 2)
        #expect(access.screen(IPAddress("198.51.100.9"), now: 0) == .denied)
        #expect(access.screen(IPAddress("192.0.2.1"), now: 0) == nil)
        #expect(access.screen(IPAddress("192.0.2.1"), now: 1) == nil)
        #expect(access.screen(IPAddress("192.0.2.1"), now: 2) == .rateLimited)
        #expect(access.screen(IPAddress("192.0.2.1"), now: 61_000_000_000) == nil)
        // An allow entry from the data directory closes the door for everybody else.
        _ = try await store.addAccessEntry("203.0.113.0/24", to: .connectionAllow)
        await access.refresh()
        #expect(access.screen(IPAddress("192.0.2.2"), now: 70_000_000_000) == .denied)
        #expect(access.screen(IPAddress("203.0.113.5"), now: 70_000_000_000) == nil)
    }

    /// The listener's screen reads the injected clock: the per-minute window ends when the clock has
    /// moved a minute, not before.
    @Test func screenRateWindowFollowsTheInjectedClock() {
        let clock = ManualMailClock(Date(timeIntervalSince1970: 1_800_000_000))
        let access = AccessControl(relay: .closed, store: nil, maxConnectionRatePerIP: 1, clock: clock)
        let ip = IPAddress("192.0.2.1")
        #expect(access.screen(ip) == nil)
        #expect(access.screen(ip) == .rateLimited)
        clock.advance(59)
        #expect(access.screen(ip) == .rateLimited)
        clock.advance(61)
        #expect(access.screen(ip) == nil)
        #expect(access.screen(ip) == .rateLimited)
    }

    @Test func refreshLoopPicksUpChanges() async throws {
        let store = InMemoryMailStore()
        let access = AccessControl(relay: .closed, store: store, refreshInterval: .milliseconds(20))
        let task = access.startRefreshing()
        defer { task.cancel() }
        _ = try await store.addAccessEntry("192.0.2.0/24", to: .relayNetwork)
        var seen = false
        for _ in 0..<100 where !seen {
            try await Task.sleep(for: .milliseconds(20))
            seen = !access.relayRules.allowedNetworks.isEmpty
        }
        #expect(seen)
    }

    @Test func refreshLoopSleepsOnTheInjectedClock() async throws {
        let store = InMemoryMailStore()
        let clock = ManualMailClock(Date(timeIntervalSince1970: 1_000_000))
        let access = AccessControl(relay: .closed, store: store, refreshInterval: .seconds(2), clock: clock)
        let task = Task { await access.runRefreshing() }
        defer { task.cancel() }
        // The first refresh ran and the loop sleeps on the manual clock.
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while clock.sleeperCount == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(clock.sleeperCount == 1)
        _ = try await store.addAccessEntry("192.0.2.0/24", to: .relayNetwork)
        // Wall time passing does not refresh; the clock's time does.
        try await Task.sleep(for: .milliseconds(100))
        #expect(access.relayRules.allowedNetworks.isEmpty)
        clock.advance(2)
        while access.relayRules.allowedNetworks.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(!access.relayRules.allowedNetworks.isEmpty)
        task.cancel()
        await task.value
    }

    @Test func unreadableStoreKeepsThePreviousRules() async throws {
        let store = InMemoryMailStore()
        _ = try await store.addAccessEntry("192.0.2.0/24", to: .relayNetwork)
        let access = AccessControl(relay: .closed, store: store)
        await access.refresh()
        try await store.close()
        await access.refresh()
        #expect(access.relayRules.allowedNetworks.map(\.description) == ["192.0.2.0/24"])
    }
}
