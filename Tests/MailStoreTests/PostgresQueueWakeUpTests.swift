/// PostgreSQL wake-ups across nodes: a message queued through one store instance (one node) rings the
/// `queueWakeUps()` stream of another on the same schema (NOTIFY in the enqueue transaction, a dedicated
/// LISTEN connection), not one on another schema; after the listening connection is killed the store
/// reconnects, LISTENs again and rings once for what it may have missed.
import Foundation
import MailCore
import MailStore
import MailStorePostgres
import MailTestSupport
import Synchronization
import Testing

@Suite struct PostgresQueueWakeUpTests {
    /// Counts the rings of a wake-up stream (consumed in a task of its own until `stop()`).
    final class RingCounter: Sendable {
        private let count = Mutex(0)
        private let task = Mutex<Task<Void, Never>?>(nil)

        init(_ stream: AsyncStream<Void>) {
            let made = Task {
                for await _ in stream { self.count.withLock { $0 += 1 } }
            }
            task.withLock { $0 = made }
        }

        var value: Int { count.withLock { $0 } }

        func stop() { task.withLock { $0?.cancel() } }

        /// True when the count passes `old` within `seconds`.
        func rings(after old: Int, within seconds: Double) async -> Bool {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while ContinuousClock.now < deadline {
                if value > old { return true }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return value > old
        }
    }

    func schema() -> String { "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }

    /// Waits until the listening connection of `schema` shows up in pg_stat_activity.
    func waitForListener(_ cluster: PostgresTestCluster, schema: String) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let count = try cluster.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %petrel_queue_\(schema)%'")
            if count.trimmingCharacters(in: .whitespacesAndNewlines) == "1" { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("no LISTEN connection for \(schema)")
    }

    @Test(.enabled(if: PostgresTestCluster.shouldRun))
    func aMessageQueuedOnOneNodeWakesTheOther() async throws {
        let cluster = try PostgresTestCluster.shared.get()
        let name = schema()
        let nodeA = try Backend.postgresStore(schema: name)
        let nodeB = try Backend.postgresStore(schema: name)
        let elsewhere = try Backend.postgresStore(schema: schema())
        defer {
            Task {
                try? await nodeA.close()
                try? await nodeB.close()
                try? await elsewhere.close()
            }
        }
        _ = try await nodeA.queueSummary(now: Date()) // migrates
        let wakeB = RingCounter(nodeB.queueWakeUps())
        let wakeOther = RingCounter(elsewhere.queueWakeUps())
        defer {
            wakeB.stop()
            wakeOther.stop()
        }
        try await waitForListener(cluster, schema: name)
        // A local-only message announces nothing.
        _ = try await nodeA.addDomain("example.test")
        let box = try await nodeA.addMailbox(address("a@example.test"), passwordHash: nil, isAdmin: false)
        _ = try await nodeA.deliver(outbound(local: [box.id], remote: [], queueID: "QLOCAL"))
        #expect(await !wakeB.rings(after: 0, within: 0.5))
        // A message with a remote recipient does, on its schema's channel only.
        _ = try await nodeA.deliver(outbound(remote: [remote("x@remote.test")], queueID: "QWAKE"))
        #expect(await wakeB.rings(after: 0, within: 10))
        #expect(await !wakeOther.rings(after: 0, within: 0.5))
        // An administrator's retry rings too.
        let before = wakeB.value
        #expect(try await nodeA.retryQueueEntries(nil, now: Date()) == 1)
        #expect(await wakeB.rings(after: before, within: 10))
    }

    @Test(.enabled(if: PostgresTestCluster.shouldRun))
    func theListenerReconnectsAndListensAgain() async throws {
        let cluster = try PostgresTestCluster.shared.get()
        let name = schema()
        let nodeA = try Backend.postgresStore(schema: name)
        let nodeB = try Backend.postgresStore(schema: name)
        defer {
            Task {
                try? await nodeA.close()
                try? await nodeB.close()
            }
        }
        _ = try await nodeA.queueSummary(now: Date())
        let wakeB = RingCounter(nodeB.queueWakeUps())
        defer { wakeB.stop() }
        try await waitForListener(cluster, schema: name)
        // The database ends the listening connection (a restart, a failover, an administrator).
        _ = try cluster.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %petrel_queue_\(name)%'")
        // Back within a few seconds: one ring for what may have been missed while it was away…
        #expect(await wakeB.rings(after: 0, within: 15))
        try await waitForListener(cluster, schema: name)
        // …and notifications arrive again.
        let before = wakeB.value
        _ = try await nodeA.deliver(outbound(remote: [remote("x@remote.test")], queueID: "QAGAIN"))
        #expect(await wakeB.rings(after: before, within: 10))
    }
}
