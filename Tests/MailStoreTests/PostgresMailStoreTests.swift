/// What only the PostgreSQL store has (the conformance suites run on it like on the others): the real
/// cluster is there, the connections commit synchronously, migrations are numbered and a newer schema
/// is refused, concurrent deliveries share transactions, and large bodies are stored in parts and read
/// back by range exactly.
import Foundation
import MailCore
import MailStore
import MailStorePostgres
import MailTestSupport
import Testing

@Suite struct PostgresMailStoreTests {
    /// Fails under CI=true when PostgreSQL is missing (a missing peer is an error there); otherwise the
    /// PostgreSQL tests are skipped with this test's reason.
    @Test(.enabled(if: PostgresTestCluster.shouldRun, Comment(rawValue: PostgresTestCluster.skipReason)))
    func clusterAvailable() throws {
        let cluster = try PostgresTestCluster.shared.get()
        #expect(try cluster.psql("SELECT 1").trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        #expect(try cluster.psql("SHOW listen_addresses").trimmingCharacters(in: .whitespacesAndNewlines) == "127.0.0.1")
    }

    @Test(.enabled(if: PostgresTestCluster.shouldRun))
    func connectionsCommitSynchronously() async throws {
        let store = try Backend.postgresStore()
        defer { Task { try? await store.close() } }
        // Even when the database's default says otherwise, the store's connections commit synchronously.
        let cluster = try PostgresTestCluster.shared.get()
        _ = try cluster.psql("ALTER DATABASE petrel SET synchronous_commit = off")
        defer { _ = try? cluster.psql("ALTER DATABASE petrel RESET synchronous_commit") }
        #expect(try await store.serverSetting("synchronous_commit") == "on")
        #expect(try await store.schemaVersion() == PostgresMailStore.latestSchemaVersion)
    }

    @Test(.enabled(if: PostgresTestCluster.shouldRun))
    func newerSchemaIsRefused() async throws {
        let schema = "t_newer_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let first = try Backend.postgresStore(schema: schema)
        try await first.prepare()
        try await first.close()
        let cluster = try PostgresTestCluster.shared.get()
        _ = try cluster.psql("INSERT INTO \(schema).petrel_migrations VALUES (999, 'v999-future', 0)")
        let second = try Backend.postgresStore(schema: schema)
        defer { Task { try? await second.close() } }
        await #expect {
            try await second.prepare()
        } throws: { error in
            "\(error)".contains("newer") && "\(error)".contains("999")
        }
        // Nothing else runs on it either.
        await #expect(throws: StoreError.self) { try await second.domains() }
    }

    @Test(.enabled(if: PostgresTestCluster.shouldRun))
    func migrationIsIdempotentAcrossInstances() async throws {
        let schema = "t_twice_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        // Two stores (two nodes) starting at once on an empty schema: one migrates, the other waits.
        let a = try Backend.postgresStore(schema: schema)
        let b = try Backend.postgresStore(schema: schema)
        async let pa: Void = a.prepare()
        async let pb: Void = b.prepare()
        _ = try await (pa, pb)
        _ = try await a.addDomain("example.test")
        #expect(try await b.isLocalDomain("example.test"))
        #expect(try await b.schemaVersion() == PostgresMailStore.latestSchemaVersion)
        try await a.close()
        try await b.close()
    }

    @Test(.enabled(if: PostgresTestCluster.shouldRun))
    func concurrentDeliveriesShareTransactions() async throws {
        let store = try Backend.postgresStore()
        defer { Task { try? await store.close() } }
        _ = try await store.addDomain("example.test")
        let box = try await store.addMailbox(address("a@example.test"), passwordHash: nil, isAdmin: false).id
        try await store.prepare()
        let before = store.deliverTransactionCount
        let count = 64
        let ids = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for i in 0..<count {
                group.addTask { try await store.deliver(message(to: [box], queueID: "G\(i)")) }
            }
            var all: [Int64] = []
            for try await ids in group { all += ids }
            return all
        }
        #expect(Set(ids).count == count)
        #expect(try await store.messages(mailboxID: box).count == count)
        let transactions = store.deliverTransactionCount - before
        #expect(transactions >= 1)
        #expect(transactions < count, "\(count) concurrent deliveries took \(transactions) transactions: no group commit")
    }

    @Test(.enabled(if: PostgresTestCluster.shouldRun))
    func largeBodyIsStoredInPartsAndReadByRange() async throws {
        let store = try Backend.postgresStore()
        defer { Task { try? await store.close() } }
        _ = try await store.addDomain("example.test")
        let box = try await store.addMailbox(address("a@example.test"), passwordHash: nil, isAdmin: false).id
        let trace = Array("Received: from big\r\n".utf8)
        let body = patternBytes(3 * PostgresMailStore.partSize + 12_345)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-pg-big-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(body)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let ids = try await store.deliver(
            IncomingMessage(
                queueID: "BIG", sender: .null, localRecipients: [box], receivedAt: Date(timeIntervalSince1970: 1_700_000_000),
                traceHeaders: trace, body: .file(path: path, size: Int64(body.count))))
        let whole = trace + body
        let delivery = try #require(ids.first)
        let part = PostgresMailStore.partSize
        // Ranges inside a part, across one and two part boundaries, at the very end and past it.
        for (offset, length) in [(0, 10), (part - 3, 7), (part - 1, part + 2), (2 * part + 5, 100), (whole.count - 4, 100), (whole.count, 10)] {
            let got = try await store.readMessage(mailboxID: box, deliveryID: delivery, offset: Int64(offset), maxLength: length)
            let end = min(whole.count, offset + length)
            #expect(got == Array(whole[min(offset, end)..<end]), "range \(offset)+\(length)")
        }
        #expect(try await readAll(store, mailbox: box, delivery: delivery, chunk: 100_000) == whole)
        let listing = try await store.retrievableMessages(mailboxID: box)
        let message = try #require(listing.first)
        let chunk = try await store.readBytes(mailboxID: box, message: message, offset: Int64(part - 10), maxLength: 20)
        #expect(chunk == Array(whole[(part - 10)..<(part + 10)]))
    }
}
