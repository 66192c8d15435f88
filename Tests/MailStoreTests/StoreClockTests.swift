/// The rows a store stamps itself (domains, mailboxes, the auto-created postmaster, access entries) carry
/// the injected `MailClock`'s time, in every backend — not the system's.
import Foundation
import MailCore
import MailStore
import MailTestSupport
import Testing

@testable import MailStoreSQLite

@Suite struct StoreClockTests {
    static let start = Date(timeIntervalSince1970: 1_500_000_000)

    func check(_ store: any MailStore, _ clock: ManualMailClock) async throws {
        let domain = try await store.addDomain("clock.example")
        #expect(domain.createdAt == Self.start)
        clock.advance(60)
        let address = try #require(EmailAddress("a@clock.example"))
        let mailbox = try await store.addMailbox(address, passwordHash: nil, isAdmin: false)
        #expect(mailbox.createdAt == Self.start.addingTimeInterval(60))
        clock.advance(60)
        // postmaster@ has no mailbox, no chosen postmaster and no admin: created now.
        let postmaster = try #require(EmailAddress("postmaster@clock.example"))
        _ = try await store.resolveRecipient(postmaster)
        #expect(try await store.mailbox(postmaster)?.createdAt == Self.start.addingTimeInterval(120))
        clock.advance(60)
        #expect(try await store.addAccessEntry("192.0.2.0/24", to: .relayNetwork))
        #expect(try await store.accessEntries().map(\.addedAt) == [Self.start.addingTimeInterval(180)])
    }

    @Test func sqliteStampsWithTheInjectedClock() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-clock-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let clock = ManualMailClock(Self.start)
        let store = try SQLiteMailStore(directory: dir, clock: clock)
        try await check(store, clock)
        try await store.close()
    }

    @Test(.enabled(if: PostgresTestCluster.shouldRun, "no PostgreSQL here (PostgresMailStoreTests.clusterAvailable says why)"))
    func postgresqlStampsWithTheInjectedClock() async throws {
        let clock = ManualMailClock(Self.start)
        let store = try Backend.postgresStore(clock: clock)
        try await check(store, clock)
        try await store.close()
    }

    @Test func inMemoryStampsWithTheInjectedClock() async throws {
        let clock = ManualMailClock(Self.start)
        try await check(InMemoryMailStore(clock: clock), clock)
    }
}
