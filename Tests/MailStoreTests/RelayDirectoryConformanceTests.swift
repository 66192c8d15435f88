/// Conformance suite for `RelayDirectory` (RelayDirectory.swift), run against every backend: add is
/// idempotent, remove reports absence, lists are independent, the listing order is fixed, bad values
/// are refused, and a second SQLite connection (the CLI next to the server) sees the changes.
import Foundation
import MailCore
import MailStore
import MailStoreSQLite
import Testing

@Suite struct RelayDirectoryConformanceTests {
    @Test(arguments: Backend.allCases)
    func addListRemove(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        #expect(try await s.accessEntries().isEmpty)
        #expect(try await s.addAccessEntry("192.0.2.0/24", to: .relayNetwork))
        #expect(try await s.addAccessEntry("192.0.2.0/24", to: .relayNetwork) == false)
        #expect(try await s.addAccessEntry("192.0.2.0/24", to: .connectionDeny))
        #expect(try await s.addAccessEntry("10.0.0.0/8", to: .relayNetwork))
        #expect(try await s.addAccessEntry("partner.example", to: .relayClientDomain))
        #expect(try await s.addAccessEntry("2001:db8::/32", to: .connectionAllow))
        let listed = try await s.accessEntries().map { "\($0.list) \($0.value)" }
        #expect(
            listed == [
                "relay-network 10.0.0.0/8", "relay-network 192.0.2.0/24", "relay-domain partner.example",
                "connection-allow 2001:db8::/32", "connection-deny 192.0.2.0/24"
            ])
        #expect(try await s.removeAccessEntry("192.0.2.0/24", from: .relayNetwork))
        #expect(try await s.removeAccessEntry("192.0.2.0/24", from: .relayNetwork) == false)
        #expect(try await s.removeAccessEntry("nothing.example", from: .relayClientDomain) == false)
        // The same value in another list is untouched.
        #expect(try await s.accessEntries().contains { $0.list == .connectionDeny && $0.value == "192.0.2.0/24" })
        #expect(try await s.accessEntries().count == 4)
    }

    @Test(arguments: Backend.allCases)
    func refusesUnstorableValues(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        for bad in ["", "a\nb", String(repeating: "x", count: 256), "tab\there"] {
            await #expect(throws: StoreError.self) { try await f.store.addAccessEntry(bad, to: .relayClientDomain) }
        }
        #expect(try await f.store.accessEntries().isEmpty)
    }

    @Test func secondProcessSeesChanges() async throws {
        let f = try Backend.sqlite.make()
        defer { Task { await f.cleanup() } }
        let other = try SQLiteMailStore(directory: f.directory)
        #expect(try await other.addAccessEntry("198.51.100.7/32", to: .connectionDeny))
        #expect(try await f.store.accessEntries().map(\.value) == ["198.51.100.7/32"])
        #expect(try await f.store.removeAccessEntry("198.51.100.7/32", from: .connectionDeny))
        #expect(try await other.accessEntries().isEmpty)
        try await other.close()
    }

    @Test(arguments: Backend.allCases)
    func closedStoreFails(_ backend: Backend) async throws {
        let f = try backend.make()
        try await f.store.close()
        await #expect(throws: StoreError.self) { try await f.store.accessEntries() }
        await f.cleanup()
    }
}
