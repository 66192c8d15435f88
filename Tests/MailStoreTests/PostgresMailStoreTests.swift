/// What only the PostgreSQL store has (the conformance suites run on it like on the others): the real
/// cluster is there, the connections commit synchronously, migrations are numbered and a newer schema
/// is refused, concurrent deliveries share transactions (and a batch written by one statement stores
/// what one message at a time would, a bad message failing alone), and large bodies are stored in parts
/// and read back by range exactly.
import Foundation
import Logging
import MailCore
import MailStore
import MailStorePostgres
import MailTestSupport
import ServiceLifecycle
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct PostgresMailStoreTests {
    /// Fails under CI=true when PostgreSQL is missing (a missing peer is an error there); otherwise the
    /// PostgreSQL tests are skipped with this test's reason.
    @Test(.enabled(if: PostgresTestCluster.shouldRun, Comment(rawValue: PostgresTestCluster.skipReason)))
    func clusterAvailable() throws {
        let cluster = try PostgresTestCluster.shared.get()
        #expect(try cluster.psql("SELECT 1").trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        #expect(try cluster.psql("SHOW listen_addresses").trimmingCharacters(in: .whitespacesAndNewlines) == "127.0.0.1")
    }

    /// The programs the cluster helper runs (pg_ctl, and the server it leaves running) inherit no
    /// descriptor of the test process but standard input, output and error: a socket of a test running
    /// beside it stays that test's alone (a server that closed its end was never seen to close while
    /// the PostgreSQL server held a copy).
    @Test func programsRunForTheClusterInheritNoOtherDescriptor() throws {
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0) // pipe(2): no close-on-exec, like SwiftNIO's sockets
        defer { ends.forEach { close($0) } }
        let listing = try PostgresTestCluster.run("/bin/sh", ["-c", "ls /proc/$$/fd"], as: nil)
        let open = Set(listing.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) })
        #expect(open.isSuperset(of: [0, 1, 2]), "\(listing)")
        #expect(open.isDisjoint(with: ends), "the child holds \(ends) of the test process: \(listing)")
        #expect(open.count <= 4, "\(listing)")
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
        // The first delivery makes the INBOX (one message at a time); every later one goes through the batch statement.
        _ = try await store.deliver(message(to: [box], queueID: "FIRST"))
        let batchedBefore = store.deliverBatchStatistics.batchedMessages
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
        #expect(try await store.messages(mailboxID: box).count == count + 1)
        #expect(store.deliverBatchStatistics.batchedMessages - batchedBefore == count)
        #expect(store.deliverBatchStatistics.fallbacks == 0)
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

    /// A batch mixing what the one-statement path takes (bodies in memory, one of two parts) and what it
    /// leaves to the savepoint path (a spooled body; a mailbox's first delivery, which creates its INBOX),
    /// with duplicate, remote-only and no recipients and NULL/non-NULL DSN values, plus one message for a
    /// mailbox that does not exist: that one fails alone, every other one is stored exactly, UIDs and
    /// MODSEQs are what one delivery at a time gives (1…n, each a new MODSEQ), queue entries keep their values.
    @Test(.enabled(if: PostgresTestCluster.shouldRun))
    func batchStatementWritesWhatOneMessageAtATimeWrites() async throws {
        let schema = "t_batch_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let store = try Backend.postgresStore(schema: schema)
        defer { Task { try? await store.close() } }
        _ = try await store.addDomain("example.test")
        let a = try await store.addMailbox(address("a@example.test"), passwordHash: nil, isAdmin: false).id
        let b = try await store.addMailbox(address("b@example.test"), passwordHash: nil, isAdmin: false).id
        // b's INBOX exists before the batch (its first delivery made it); a's is made inside the batch.
        _ = try await store.deliver(message(to: [b], queueID: "FIRST"))
        let big = patternBytes(PostgresMailStore.partSize + 100, seed: 7)
        let spooled = patternBytes(5000, seed: 8)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-pg-batch-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(spooled)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let count = 60
        let bad = count - 1
        // Passes every check before the statement and fails inside it (PostgreSQL text takes no NUL): the
        // batch is redone one message at a time and only this one fails.
        let failsInStatement = count - 2
        let trace = Array("Received: from batch\r\n".utf8)
        func made(_ i: Int) throws -> IncomingMessage {
            let body: MessageBody =
                i % 10 == 3
                ? .file(path: path, size: Int64(spooled.count)) : i % 10 == 5 ? .bytes(big) : .bytes(patternBytes(100 + i, seed: UInt64(i + 1)))
            let local: [Int64] = i == bad ? [a, 999_999_999] : [[a, b, a], [b], []][i % 3]
            let outbound =
                i % 2 == 0
                ? [remote("x\(i)@remote.test", notify: i % 4 == 0 ? [.success, .failure] : nil, orcpt: i % 4 == 0 ? "rfc822;X\(i)@remote.test" : nil)]
                : []
            let envelope =
                i == failsInStatement
                ? OutboundEnvelope(envelopeID: "nul\u{0}")
                : i % 5 == 0 ? OutboundEnvelope(envelopeID: "E\(i)", dsnReturn: .headers, eightBitMIME: true) : OutboundEnvelope(smtpUTF8: i % 7 == 0)
            return IncomingMessage(
                queueID: "B\(i)", sender: i % 2 == 0 ? .null : .mailbox(try address("s\(i)@example.test")), localRecipients: local,
                receivedAt: Date(timeIntervalSince1970: 1_700_000_000 + Double(i) + 0.25), traceHeaders: trace, body: body,
                remoteRecipients: outbound, envelope: envelope)
        }
        let messages = try (0..<count).map(made)
        let before = store.deliverTransactionCount
        let results = await withTaskGroup(of: (Int, Result<[Int64], any Error>).self) { group in
            for (i, m) in messages.enumerated() {
                group.addTask {
                    do { return (i, .success(try await store.deliver(m))) } catch { return (i, .failure(error)) }
                }
            }
            var all: [Int: Result<[Int64], any Error>] = [:]
            for await (i, result) in group { all[i] = result }
            return all
        }
        #expect(store.deliverTransactionCount - before < count, "no group commit")
        #expect(store.deliverBatchStatistics.fallbacks >= 1)
        var stored = 0
        for (i, m) in messages.enumerated() {
            let result = try #require(results[i])
            if i == bad {
                #expect(throws: StoreError.mailboxNotFound("id 999999999")) { try result.get() }
                continue
            }
            if i == failsInStatement {
                #expect(throws: StoreError.self) { try result.get() }
                continue
            }
            let ids = try result.get()
            var locals: [Int64] = []
            for mailbox in m.localRecipients where !locals.contains(mailbox) { locals.append(mailbox) }
            #expect(ids.count == locals.count, "message \(i)")
            let body: [UInt8]
            switch m.body {
            case .bytes(let bytes): body = bytes
            case .file: body = spooled
            }
            for (id, mailbox) in zip(ids, locals) {
                #expect(try await readAll(store, mailbox: mailbox, delivery: id, chunk: 100_000) == trace + body, "message \(i)")
            }
            stored += locals.count
        }
        // Per INBOX: UIDs 1…n without gaps, one MODSEQ per delivery, uid_next and highest_modseq past them.
        let folders = try PostgresTestCluster.shared.get().psql(
            """
            SELECT f.id, count(d.id), count(DISTINCT d.uid), min(d.uid), max(d.uid), count(DISTINCT d.modseq), max(d.modseq),
                   f.uid_next, f.highest_modseq
            FROM \(schema).imap_folders f JOIN \(schema).deliveries d ON d.folder_id = f.id
            WHERE f.name = 'INBOX' GROUP BY f.id ORDER BY f.id
            """
        ).split(separator: "\n").map { $0.split(separator: "|").compactMap { Int($0) } }
        #expect(folders.count == 2)
        var total = 0
        for f in folders {
            guard f.count == 9 else {
                Issue.record("unexpected row \(f)")
                continue
            }
            let n = f[1]
            total += n
            #expect(f[2] == n && f[3] == 1 && f[4] == n && f[5] == n && f[7] == n + 1 && f[8] == f[6], "folder \(f)")
        }
        #expect(total == stored + 1)
        // Every delivery records its message's size (quota usage sums it), in the batch as one at a time.
        let sizes = try PostgresTestCluster.shared.get().psql(
            "SELECT count(*) FROM \(schema).deliveries d JOIN \(schema).messages m ON m.id = d.message_id WHERE d.size <> m.size OR d.size = 0"
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(sizes == "0")
        let entries = try await store.queueEntries()
        let expected = messages.enumerated().filter { $0.offset % 2 == 0 && $0.offset != bad && $0.offset != failsInStatement }
        #expect(entries.count == expected.count)
        for (i, m) in expected {
            let entry = try #require(entries.first { $0.queueID == "B\(i)" })
            #expect(entry.recipient == m.remoteRecipients[0])
            #expect(entry.envelope == m.envelope)
            #expect(entry.sender == m.sender)
            #expect(entry.arrivedAt == m.receivedAt)
        }
    }

    /// `runsClient: false` (as `petrel serve` makes it): the store's client runs as a service of a
    /// ServiceGroup; the store waits for it, works while it runs, and the group's graceful shutdown ends
    /// it. Running the client a second time is refused, never postgres-nio's crash.
    @Test(.enabled(if: PostgresTestCluster.shouldRun))
    func theClientRunsAsAServiceOfAGroup() async throws {
        let cluster = try PostgresTestCluster.shared.get()
        let configuration = PostgresStoreConfiguration(
            host: cluster.host, port: cluster.port, database: cluster.database, user: cluster.user,
            password: cluster.password, tls: .disable, poolSize: 2,
            schema: "t_svc_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())
        let store = try PostgresMailStore(configuration: configuration, runsClient: false)
        let group = ServiceGroup(services: [store.clientService], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        _ = try await store.addDomain("example.test")
        #expect(try await store.domains().map(\.name) == ["example.test"])
        await #expect(throws: StoreError.backend("the PostgreSQL client of this store is already running")) {
            try await store.clientService.run()
        }
        // serve's order: the group stops the client last, then the store is closed.
        await group.triggerGracefulShutdown()
        try await running.value
        try await store.close()

        let own = try PostgresMailStore(configuration: configuration)
        #expect(try await own.domains().map(\.name) == ["example.test"])
        await #expect(throws: StoreError.backend("the PostgreSQL client of this store is already running")) {
            try await own.clientService.run()
        }
        try await own.close()
    }
}
