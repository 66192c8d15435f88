/// Conformance suite for `MaildropLocking` (MaildropLocking.swift), run with two store instances on one
/// database (SQLite: two stores on one file; PostgreSQL: two stores, i.e. two pools, on one schema;
/// in-memory: one store, two owners): a lease held by A is refused to B, released → B gets it, A's lease
/// expired → B takes it over and A can no longer renew it, renewing keeps it, and the rules follow the
/// injected `MailClock`, not the system's.
import Foundation
import MailCore
import MailStore
import MailStorePostgres
import MailStoreSQLite
import MailTestSupport
import Testing

@Suite struct MaildropLockConformanceTests {
    static let start = Date(timeIntervalSince1970: 1_600_000_000)

    struct Pair {
        let a: any MailStore
        let b: any MailStore
        let clock: ManualMailClock
        let directory: String
        let mailbox: Int64
        let other: Int64

        func cleanup() async {
            try? await a.close()
            try? await b.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// Two stores on one database, sharing one manual clock, with mailboxes a and b.
    func pair(_ backend: Backend) async throws -> Pair {
        let clock = ManualMailClock(Self.start)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-locks-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let a: any MailStore
        let b: any MailStore
        switch backend {
        case .memory:
            a = InMemoryMailStore(clock: clock)
            b = a
        case .sqlite:
            a = try SQLiteMailStore(directory: dir, clock: clock)
            b = try SQLiteMailStore(directory: dir, clock: clock)
        case .postgresql:
            let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            a = try Backend.postgresStore(schema: schema, clock: clock)
            b = try Backend.postgresStore(schema: schema, clock: clock)
        }
        _ = try await a.addDomain("example.test")
        let mailbox = try await a.addMailbox(address("a@example.test"), passwordHash: nil, isAdmin: false).id
        let other = try await a.addMailbox(address("b@example.test"), passwordHash: nil, isAdmin: false).id
        return Pair(a: a, b: b, clock: clock, directory: dir, mailbox: mailbox, other: other)
    }

    @Test(arguments: Backend.allCases)
    func heldLockIsRefusedToAnotherStoreUntilReleased(_ backend: Backend) async throws {
        let p = try await pair(backend)
        defer { Task { await p.cleanup() } }
        let leaseA = try #require(try await p.a.acquireMaildropLock(mailboxID: p.mailbox, owner: "node-a/1", duration: .seconds(60)))
        #expect(leaseA.mailboxID == p.mailbox)
        #expect(leaseA.owner == "node-a/1")
        #expect(leaseA.expiresAt == Self.start.addingTimeInterval(60))
        // B (another instance, another node) is refused; so is a second session of A's own node.
        #expect(try await p.b.acquireMaildropLock(mailboxID: p.mailbox, owner: "node-b/1", duration: .seconds(60)) == nil)
        #expect(try await p.a.acquireMaildropLock(mailboxID: p.mailbox, owner: "node-a/2", duration: .seconds(60)) == nil)
        // Another mailbox is independent.
        #expect(try await p.b.acquireMaildropLock(mailboxID: p.other, owner: "node-b/1", duration: .seconds(60)) != nil)
        // B's release of a lease that is not its own changes nothing.
        try await p.b.releaseMaildropLock(MaildropLease(mailboxID: p.mailbox, owner: "node-b/1", expiresAt: leaseA.expiresAt))
        #expect(try await p.b.acquireMaildropLock(mailboxID: p.mailbox, owner: "node-b/1", duration: .seconds(60)) == nil)
        // Released by A → B gets it at once.
        try await p.a.releaseMaildropLock(leaseA)
        let leaseB = try #require(try await p.b.acquireMaildropLock(mailboxID: p.mailbox, owner: "node-b/1", duration: .seconds(60)))
        #expect(leaseB.owner == "node-b/1")
        // A's old lease cannot be renewed: it is B's now.
        #expect(try await p.a.renewMaildropLock(leaseA, duration: .seconds(60)) == nil)
        #expect(try await p.a.acquireMaildropLock(mailboxID: p.mailbox, owner: "node-a/1", duration: .seconds(60)) == nil)
    }

    @Test(arguments: Backend.allCases)
    func expiredLeaseIsTakenOverAndItsHolderLosesIt(_ backend: Backend) async throws {
        let p = try await pair(backend)
        defer { Task { await p.cleanup() } }
        let leaseA = try #require(try await p.a.acquireMaildropLock(mailboxID: p.mailbox, owner: "node-a/1", duration: .seconds(30)))
        p.clock.advance(29)
        #expect(try await p.b.acquireMaildropLock(mailboxID: p.mailbox, owner: "node-b/1", duration: .seconds(30)) == nil)
        p.clock.advance(1) // exactly at expires_at: expired
        let leaseB = try #require(try await p.b.acquireMaildropLock(mailboxID: p.mailbox, owner: "node-b/1", duration: .seconds(30)))
        #expect(leaseB.expiresAt == Self.start.addingTimeInterval(60))
        // A (a node that was stalled or partitioned) comes back: its renewal fails, it does not get it back.
        #expect(try await p.a.renewMaildropLock(leaseA, duration: .seconds(30)) == nil)
        #expect(try await p.a.acquireMaildropLock(mailboxID: p.mailbox, owner: "node-a/1", duration: .seconds(30)) == nil)
        // A's late release does not free B's lock.
        try await p.a.releaseMaildropLock(leaseA)
        #expect(try await p.a.acquireMaildropLock(mailboxID: p.mailbox, owner: "node-a/2", duration: .seconds(30)) == nil)
    }

    @Test(arguments: Backend.allCases)
    func renewalKeepsTheLockPastItsFirstExpiry(_ backend: Backend) async throws {
        let p = try await pair(backend)
        defer { Task { await p.cleanup() } }
        var lease = try #require(try await p.a.acquireMaildropLock(mailboxID: p.mailbox, owner: "node-a/1", duration: .seconds(30)))
        for _ in 0..<4 {
            p.clock.advance(20)
            lease = try #require(try await p.a.renewMaildropLock(lease, duration: .seconds(30)))
            #expect(lease.expiresAt == p.clock.now.addingTimeInterval(30))
            #expect(try await p.b.acquireMaildropLock(mailboxID: p.mailbox, owner: "node-b/1", duration: .seconds(30)) == nil)
        }
        // 80 s after the first lease of 30 s: still A's. Without renewal it runs out.
        p.clock.advance(30)
        #expect(try await p.b.acquireMaildropLock(mailboxID: p.mailbox, owner: "node-b/1", duration: .seconds(30)) != nil)
    }

    @Test(arguments: Backend.allCases)
    func unknownMailboxIsAnErrorAndARemovedMailboxTakesItsLockAlong(_ backend: Backend) async throws {
        let p = try await pair(backend)
        defer { Task { await p.cleanup() } }
        await #expect(throws: StoreError.self) {
            try await p.a.acquireMaildropLock(mailboxID: 999_999, owner: "node-a/1", duration: .seconds(30))
        }
        _ = try #require(try await p.a.acquireMaildropLock(mailboxID: p.other, owner: "node-a/1", duration: .seconds(30)))
        try await p.a.removeMailbox(address("b@example.test"))
        let again = try await p.a.addMailbox(address("b@example.test"), passwordHash: nil, isAdmin: false)
        #expect(try await p.b.acquireMaildropLock(mailboxID: again.id, owner: "node-b/1", duration: .seconds(30)) != nil)
    }

    /// Many sessions on two instances race for one free mailbox: exactly one wins.
    @Test(arguments: Backend.allCases)
    func racingAcquiresHaveExactlyOneWinner(_ backend: Backend) async throws {
        let p = try await pair(backend)
        defer { Task { await p.cleanup() } }
        let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<16 {
                let store = i % 2 == 0 ? p.a : p.b
                let mailbox = p.mailbox
                group.addTask {
                    try await store.acquireMaildropLock(mailboxID: mailbox, owner: "node-\(i % 2)/\(i)", duration: .seconds(30)) != nil
                }
            }
            var count = 0
            for try await won in group where won { count += 1 }
            return count
        }
        #expect(winners == 1)
    }
}
