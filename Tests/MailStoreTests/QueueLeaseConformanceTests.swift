/// Conformance suite for queue leases (Queue.swift: `claimQueueEntries`, `renewQueueLeases`,
/// `completeLeasedAttempts`, `releaseQueueLeases`), run on every backend with TWO store instances on the
/// same data: two `SQLiteMailStore`s on one file, two `PostgresMailStore`s on one schema (two nodes), and
/// for the in-memory store two owners claiming from one instance. Times are explicit, so lease expiry is
/// tested without waiting.
import Foundation
import MailCore
import MailStore
import MailStorePostgres
import MailStoreSQLite
import Testing

extension Backend {
    /// A fresh store plus a second instance on the same data (the in-memory store: the same instance).
    func makePair() throws -> (Fixture, any MailStore) {
        switch self {
        case .memory:
            let f = try make()
            return (f, f.store)
        case .sqlite:
            let f = try make()
            return (f, try SQLiteMailStore(directory: f.directory))
        case .postgresql:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-store-pg-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            let first = try Self.postgresStore(schema: schema)
            return (Fixture(store: first, directory: dir), try Self.postgresStore(schema: schema))
        }
    }
}

@Suite struct QueueLeaseConformanceTests {
    let t0 = queueEpoch.addingTimeInterval(3600)

    /// Two store instances ("node A", "node B") and a message with `count` remote recipients.
    func setUp(_ backend: Backend, recipients count: Int = 3) async throws -> (Fixture, a: any MailStore, b: any MailStore, [Int64]) {
        let (f, second) = try backend.makePair()
        let recipients = (0..<count).map { remote("r\($0)@remote.test") }
        _ = try await f.store.deliver(outbound(remote: recipients, queueID: "QL"))
        let ids = try await f.store.queueEntries().map(\.id)
        #expect(ids.count == count)
        return (f, f.store, second, ids)
    }

    func claim(_ s: any MailStore, _ owner: String, at now: Date, lease: TimeInterval = 60, limit: Int = 100, ids: [Int64]? = nil) async throws
        -> [QueueEntry]
    {
        try await s.claimQueueEntries(
            QueueClaim(owner: owner, now: now, leaseUntil: now.addingTimeInterval(lease), limit: limit, entryIDs: ids))
    }

    func close(_ f: Fixture, _ b: any MailStore) async {
        if b as AnyObject !== f.store as AnyObject { try? await b.close() }
        await f.cleanup()
    }

    @Test(arguments: Backend.allCases)
    func claimsAreExclusiveAcrossInstances(_ backend: Backend) async throws {
        let (f, a, b, ids) = try await setUp(backend)
        let claimedA = try await claim(a, "node-a", at: t0, limit: 2)
        #expect(claimedA.map(\.id) == Array(ids.prefix(2)))
        #expect(claimedA.allSatisfy { $0.lease == QueueLease(owner: "node-a", until: t0.addingTimeInterval(60)) })
        // B sees only what nobody leases, and claims only that.
        #expect(try await b.dueQueueEntries(now: t0, limit: 10, excluding: []).map(\.id) == [ids[2]])
        let claimedB = try await claim(b, "node-b", at: t0)
        #expect(claimedB.map(\.id) == [ids[2]])
        #expect(try await claim(a, "node-a", at: t0).isEmpty)
        #expect(try await claim(b, "node-b", at: t0, ids: ids).isEmpty)
        // The listing shows who holds what.
        let owners = try await a.queueEntries().map { $0.lease?.owner }
        #expect(owners == ["node-a", "node-a", "node-b"])
        await close(f, b)
    }

    @Test(arguments: Backend.allCases)
    func claimByIDsTakesOnlyThoseThatAreDue(_ backend: Backend) async throws {
        let (f, a, b, ids) = try await setUp(backend)
        #expect(try await claim(a, "node-a", at: t0, ids: [ids[1]]).map(\.id) == [ids[1]])
        // ids[1] is taken, ids[0] is free; an unknown id is ignored.
        #expect(try await claim(b, "node-b", at: t0, ids: [ids[0], ids[1], 999_999]).map(\.id) == [ids[0]])
        #expect(try await claim(b, "node-b", at: t0, ids: []).isEmpty)
        // Held and not yet due entries are never claimed.
        #expect(try await a.setQueueHeld(true, entryIDs: [ids[2]]) == 1)
        #expect(try await claim(b, "node-b", at: t0).isEmpty)
        await close(f, b)
    }

    @Test(arguments: Backend.allCases)
    func anExpiredLeaseIsClaimableAndItsOwnerLosesTheResult(_ backend: Backend) async throws {
        let (f, a, b, ids) = try await setUp(backend, recipients: 1)
        #expect(try await claim(a, "node-a", at: t0).count == 1)
        // Still held one second before the end…
        #expect(try await claim(b, "node-b", at: t0.addingTimeInterval(59)).isEmpty)
        // …and free at its end: node A died or stalled.
        let later = t0.addingTimeInterval(61)
        #expect(try await claim(b, "node-b", at: later).map(\.id) == ids)
        let report = outbound(remote: [remote("sender@origin.test")], queueID: "QR")
        // A comes back with a result: refused, and its report is not stored either.
        let lost = try await a.completeLeasedAttempts(
            [LeasedAttempt(entryIDs: ids, updates: [.remove(entryID: ids[0])], notifications: [report])], owner: "node-a",
            now: later.addingTimeInterval(1))
        #expect(lost == [.leaseLost(entryIDs: ids)])
        #expect(try await b.queueEntries().map(\.id) == ids)
        #expect(try await f.storedBodies() == 1)
        // B's result counts.
        let recorded = try await b.completeLeasedAttempts(
            [LeasedAttempt(entryIDs: ids, updates: [.remove(entryID: ids[0])], notifications: [report])], owner: "node-b",
            now: later.addingTimeInterval(2))
        #expect(recorded == [.recorded])
        #expect(try await a.queueEntries().map(\.recipient.address.description) == ["sender@origin.test"])
        await close(f, b)
    }

    @Test(arguments: Backend.allCases)
    func renewalKeepsOthersAwayUntilTheNewEnd(_ backend: Backend) async throws {
        let (f, a, b, ids) = try await setUp(backend, recipients: 2)
        #expect(try await claim(a, "node-a", at: t0, ids: [ids[0]]).count == 1)
        let renewed = try await a.renewQueueLeases(ids, owner: "node-a", now: t0.addingTimeInterval(30), leaseUntil: t0.addingTimeInterval(120))
        // Only what A holds is renewed: ids[1] was never A's.
        #expect(renewed == [ids[0]])
        #expect(try await claim(b, "node-b", at: t0.addingTimeInterval(90), ids: [ids[0]]).isEmpty)
        #expect(try await a.queueEntries(matching: String(ids[0])).first?.lease?.until == t0.addingTimeInterval(120))
        // B cannot renew A's lease; once it has run out, A cannot either.
        #expect(try await b.renewQueueLeases(ids, owner: "node-b", now: t0.addingTimeInterval(90), leaseUntil: t0.addingTimeInterval(500)).isEmpty)
        #expect(try await a.renewQueueLeases(ids, owner: "node-a", now: t0.addingTimeInterval(121), leaseUntil: t0.addingTimeInterval(500)).isEmpty)
        #expect(try await claim(b, "node-b", at: t0.addingTimeInterval(121), ids: [ids[0]]).count == 1)
        await close(f, b)
    }

    @Test(arguments: Backend.allCases)
    func aRecordedAttemptEndsTheLeaseAndRetriesLater(_ backend: Backend) async throws {
        let (f, a, b, ids) = try await setUp(backend, recipients: 2)
        #expect(try await claim(a, "node-a", at: t0).count == 2)
        let next = t0.addingTimeInterval(300)
        let report = outbound(remote: [remote("sender@origin.test")], queueID: "QD")
        let results = try await a.completeLeasedAttempts(
            [
                LeasedAttempt(
                    entryIDs: [ids[0]], updates: [.retryLater(entryID: ids[0], nextAttempt: next, attemptedAt: t0, error: "451 later")],
                    notifications: []),
                LeasedAttempt(entryIDs: [ids[1]], updates: [.markDelayNotified(entryID: ids[1])], notifications: [report])
            ], owner: "node-a", now: t0.addingTimeInterval(1))
        #expect(results == [.recorded, .recorded])
        let entries = try await b.queueEntries()
        let first = try #require(entries.first { $0.id == ids[0] })
        #expect(first.lease == nil && first.attempts == 1 && first.nextAttempt == next && first.lastError == "451 later")
        let second = try #require(entries.first { $0.id == ids[1] })
        #expect(second.lease == nil && second.delayNotified)
        #expect(entries.count == 3) // the report is queued
        // Not due yet for anyone; due again at `next`.
        #expect(try await claim(b, "node-b", at: t0.addingTimeInterval(2), ids: [ids[0]]).isEmpty)
        #expect(try await claim(b, "node-b", at: next, ids: [ids[0]]).count == 1)
        // A result for an entry that is not leased at all is refused too.
        let stray = try await a.completeLeasedAttempts(
            [LeasedAttempt(entryIDs: [ids[1]], updates: [.remove(entryID: ids[1])], notifications: [])], owner: "node-a", now: next)
        #expect(stray == [.leaseLost(entryIDs: [ids[1]])])
        await close(f, b)
    }

    @Test(arguments: Backend.allCases)
    func oneLostAttemptDoesNotCostTheOthers(_ backend: Backend) async throws {
        let (f, a, b, ids) = try await setUp(backend, recipients: 3)
        #expect(try await claim(a, "node-a", at: t0, ids: [ids[0], ids[1]]).count == 2)
        #expect(try await claim(b, "node-b", at: t0, ids: [ids[2]]).count == 1)
        let results = try await a.completeLeasedAttempts(
            [
                LeasedAttempt(entryIDs: [ids[0]], updates: [.remove(entryID: ids[0])], notifications: []),
                LeasedAttempt(entryIDs: [ids[1], ids[2]], updates: [.remove(entryID: ids[1]), .remove(entryID: ids[2])], notifications: [])
            ], owner: "node-a", now: t0.addingTimeInterval(1))
        #expect(results == [.recorded, .leaseLost(entryIDs: [ids[2]])])
        #expect(try await b.queueEntries().map(\.id) == [ids[1], ids[2]])
        await close(f, b)
    }

    @Test(arguments: Backend.allCases)
    func releasedEntriesAreClaimableAtOnce(_ backend: Backend) async throws {
        let (f, a, b, ids) = try await setUp(backend, recipients: 2)
        #expect(try await claim(a, "node-a", at: t0).count == 2)
        #expect(try await b.releaseQueueLeases(ids, owner: "node-b") == 0)
        #expect(try await a.releaseQueueLeases([ids[1]], owner: "node-a") == 1)
        #expect(try await claim(b, "node-b", at: t0).map(\.id) == [ids[1]])
        await close(f, b)
    }

    @Test(arguments: Backend.allCases)
    func aRestartedOwnerHandsBackEveryLeaseOfItsEarlierRun(_ backend: Backend) async throws {
        let (f, a, b, ids) = try await setUp(backend, recipients: 3)
        #expect(try await claim(a, "node-a", at: t0, ids: [ids[0], ids[1]]).count == 2)
        #expect(try await claim(b, "node-b", at: t0, ids: [ids[2]]).count == 1)
        // "node-a" died with two leases; started again under the same id, it releases both, and only them.
        #expect(try await b.releaseAllQueueLeases(owner: "node-a") == 2)
        #expect(try await a.releaseAllQueueLeases(owner: "node-a") == 0)
        #expect(try await claim(a, "node-a", at: t0).map(\.id) == [ids[0], ids[1]])
        #expect(try await b.renewQueueLeases([ids[2]], owner: "node-b", now: t0, leaseUntil: t0.addingTimeInterval(60)) == [ids[2]])
        await close(f, b)
    }

    @Test(arguments: Backend.allCases)
    func theSummaryCountsALeasedEntryDueWhenItsLeaseEnds(_ backend: Backend) async throws {
        let (f, a, b, _) = try await setUp(backend, recipients: 1)
        #expect(try await claim(a, "node-a", at: t0, lease: 120).count == 1)
        let summary = try await b.queueSummary(now: t0.addingTimeInterval(1))
        #expect(summary.new == 1)
        #expect(summary.nextDue == t0.addingTimeInterval(120))
        // Once the lease ran out, the entry is due (as it was before the claim).
        #expect(try await b.queueSummary(now: t0.addingTimeInterval(121)).nextDue == queueEpoch)
        await close(f, b)
    }

    @Test(arguments: Backend.allCases)
    func racingClaimersNeverShareAnEntry(_ backend: Backend) async throws {
        let (f, a, b, ids) = try await setUp(backend, recipients: 40)
        let start = t0
        func drain(_ s: any MailStore, _ owner: String) async throws -> [Int64] {
            var mine: [Int64] = []
            while true {
                let got = try await s.claimQueueEntries(
                    QueueClaim(owner: owner, now: start, leaseUntil: start.addingTimeInterval(60), limit: 3))
                if got.isEmpty { return mine }
                mine += got.map(\.id)
            }
        }
        async let fromA = drain(a, "node-a")
        async let fromB = drain(b, "node-b")
        let (x, y) = try await (fromA, fromB)
        #expect(Set(x).isDisjoint(with: y))
        #expect(Set(x).union(y) == Set(ids))
        #expect(x.count + y.count == ids.count)
        await close(f, b)
    }
}
