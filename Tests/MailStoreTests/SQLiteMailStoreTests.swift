/// SQLite-only tests: durability settings, reopening, two store objects on one directory (CLI + server),
/// read-only mode, and that concurrent deliveries share transactions (group commit).
import Foundation
import GRDB
import MailCore
import MailStore
import MailTestSupport
import NIOPosix
import Testing

@testable import MailStoreSQLite

@Suite struct SQLiteMailStoreTests {
    func tempDir() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("petrel-sqlite-\(UUID().uuidString)").path
    }

    @Test func pragmasAreDurable() async throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteMailStore(directory: dir)
        #expect(try await store.pragma("synchronous") == 2) // FULL
        #expect(try await store.pragma("foreign_keys") == 1)
        #expect(FileManager.default.fileExists(atPath: dir + "/petrel.sqlite"))
        try await store.close()
        try await store.close() // closing twice is harmless
    }

    /// The group commit's thread (`writeThread`) runs while the store is open; `close()` stops it, and so
    /// does releasing a store never closed: a running pool is kept alive by its own thread, so the pool
    /// object going away shows that its thread ended.
    @Test func theWritingThreadStopsWithTheStore() async throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteMailStore(directory: dir)
        #expect(try await store.writeThread.runIfActive { 7 } == 7)
        try await store.close()
        await #expect(throws: (any Error).self) { try await store.writeThread.runIfActive { 7 } }

        weak var thread: NIOThreadPool?
        do {
            let unclosed = try SQLiteMailStore(directory: dir)
            let message = IncomingMessage(
                queueID: "W", sender: .null, localRecipients: [], receivedAt: Date(), traceHeaders: [], body: .bytes(Array("x\r\n".utf8)))
            _ = try await unclosed.deliver(message)
            thread = unclosed.writeThread
        }
        for _ in 0..<500 where thread != nil { try await Task.sleep(for: .milliseconds(10)) }
        #expect(thread == nil, "the writing thread of a store released unclosed is still running")
    }

    /// With `mmapSize`, every connection reads the file through a memory map (SQLite caps the size asked
    /// for); by default none does.
    @Test func connectionsReadThroughAMemoryMap() async throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteMailStore(directory: dir, options: .init(mmapSize: 64 << 20))
        #expect(try await store.pragma("mmap_size") == 64 << 20)
        #expect(try await store.pragma("mmap_size", onReader: true) == 64 << 20)
        try await store.close()
        let off = try SQLiteMailStore(directory: dir)
        #expect(try await off.pragma("mmap_size", onReader: true) == 0)
        #expect(try await off.pragma("mmap_size") == 0)
        try await off.close()
        let capped = try SQLiteMailStore(directory: dir, options: .init(mmapSize: 1 << 40))
        let size = try await capped.pragma("mmap_size", onReader: true) ?? 0
        #expect(size > 64 << 20 && size < 1 << 40)
        try await capped.close()
    }

    @Test func reopenKeepsEverything() async throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var store = try SQLiteMailStore(directory: dir)
        _ = try await store.addDomain("example.test")
        let a = try await store.addMailbox(address("a@example.test"), passwordHash: "$scrypt$h", isAdmin: true)
        try await store.setPostmaster(domain: "example.test", mailbox: "a@example.test")
        let body = patternBytes(300_000)
        let ids = try await store.deliver(message(to: [a.id], body: body))
        try await store.deleteMessages(mailboxID: a.id, deliveryIDs: ids)
        let kept = try await store.deliver(message(to: [a.id], body: body))
        try await store.close()

        store = try SQLiteMailStore(directory: dir)
        #expect(try await store.domains().map(\.name) == ["example.test"])
        #expect(try await store.domains().first?.postmaster == "a@example.test")
        let info = try #require(try await store.mailbox(id: a.id))
        #expect(info.passwordHash == "$scrypt$h" && info.isAdmin && info.messageCount == 1)
        #expect(try await store.messages(mailboxID: a.id).map(\.deliveryID) == kept)
        #expect(
            try await readAll(store, mailbox: a.id, delivery: kept[0], chunk: 65_536)
                == Array("Received: from test\r\n".utf8) + body)
        // Delivery ids keep growing across reopen, even after the newest was deleted.
        try await store.deleteMessages(mailboxID: a.id, deliveryIDs: kept)
        try await store.close()
        store = try SQLiteMailStore(directory: dir)
        let next = try await store.deliver(message(to: [a.id]))
        #expect(next[0] > kept[0])
        try await store.close()
    }

    /// One BLOB handle moved from row to row (IMAP FETCH's batches) reads each row's octets; moving it to
    /// a row that does not exist fails and leaves the handle closed.
    @Test func aBlobHandleMovesFromRowToRow() async throws {
        let fixture = try await SQLiteStoreFixture.make(domains: ["example.test"], mailboxes: ["a@example.test"])
        let store = fixture.store
        let a = try #require(try await store.mailbox(address("a@example.test")))
        let bodies = [patternBytes(70_000, seed: 1), patternBytes(300, seed: 2), patternBytes(300_000, seed: 3)]
        for body in bodies { _ = try await store.deliver(message(to: [a.id], body: body)) }
        let read = try await store.pool.read { db -> [[UInt8]] in
            let ids = try Int64.fetchAll(db, sql: "SELECT id FROM messages ORDER BY id")
            guard let first = ids.first else { return [] }
            let blob = try BlobIO.Handle(db, messageID: first, writable: false)
            var out = [try blob.read(at: 0, maxLength: blob.length)]
            for id in ids.dropFirst() {
                try blob.reopen(messageID: id)
                out.append(try blob.read(at: 0, maxLength: blob.length))
            }
            #expect(throws: StoreError.self) { try blob.reopen(messageID: (ids.last ?? 0) + 1000) }
            #expect(throws: StoreError.self) { try blob.read(at: 0, maxLength: 10) }
            return out
        }
        #expect(read == bodies.map { Array("Received: from test\r\n".utf8) + $0 })
        await fixture.remove()
    }

    /// A range read straight into a `ByteBuffer` (POP3's path) gives the octets the array read gives: whole
    /// bodies (one over the 256 KiB chunk of a single sqlite3_blob_read), ranges inside, at and past the end.
    @Test func aBlobReadIntoAByteBufferEqualsTheArrayRead() async throws {
        let fixture = try await SQLiteStoreFixture.make(domains: ["example.test"], mailboxes: ["a@example.test"])
        let store = fixture.store
        let a = try #require(try await store.mailbox(address("a@example.test")))
        _ = try await store.deliver(message(to: [a.id], body: patternBytes(600_000, seed: 4)))
        let mismatches = try await store.pool.read { db -> [String] in
            let id = try #require(try Int64.fetchOne(db, sql: "SELECT id FROM messages"))
            let blob = try BlobIO.Handle(db, messageID: id, writable: false)
            var wrong: [String] = []
            let ranges = [(0, blob.length), (0, 1), (1, 300_000), (262_143, 262_146), (blob.length - 5, 100), (blob.length, 10), (7, 0)]
            for (offset, length) in ranges {
                let array = try blob.read(at: offset, maxLength: length)
                let buffer = try blob.readBuffer(at: offset, maxLength: length)
                if Array(buffer.readableBytesView) != array { wrong.append("\(offset)+\(length)") }
                if buffer.readableBytes != min(max(length, 0), max(blob.length - offset, 0)) { wrong.append("count \(offset)+\(length)") }
            }
            try blob.close()
            #expect(throws: StoreError.self) { try blob.readBuffer(at: 0, maxLength: 10) }
            return wrong
        }
        #expect(mismatches == [])
        await fixture.remove()
    }

    /// (The look-up answers the server's store keeps for a while are tested in RecipientCacheTests: off here.)
    @Test func twoStoresOnOneDirectorySeeEachOther() async throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try SQLiteMailStore(directory: dir, options: .init(recipientCacheTTL: .zero))
        let cli = try SQLiteMailStore(directory: dir)
        _ = try await cli.addDomain("example.test")
        #expect(try await server.isLocalDomain("example.test"))
        let a = try await cli.addMailbox(address("a@example.test"), passwordHash: nil, isAdmin: false)
        #expect(try await server.resolveRecipient(address("A@example.test")) == .mailbox(id: a.id, address: "a@example.test"))

        // Concurrent writers from both objects.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                group.addTask { _ = try await server.deliver(message(to: [a.id], queueID: "S\(i)")) }
                group.addTask { _ = try await cli.deliver(message(to: [a.id], queueID: "C\(i)")) }
            }
            try await group.waitForAll()
        }
        #expect(try await cli.messages(mailboxID: a.id).count == 40)
        #expect(try await server.messages(mailboxID: a.id).count == 40)
        try await cli.setLocked(true, for: address("a@example.test"))
        #expect(try await server.mailbox(id: a.id)?.isLocked == true)
        try await cli.removeDomain("example.test", force: true)
        #expect(try await server.isLocalDomain("example.test") == false)
        #expect(try await server.storedMessageCount() == 0)
        try await cli.close()
        try await server.close()
    }

    /// Each delivery takes its INBOX's next UID and a new MODSEQ (one UPDATE … RETURNING); the INBOX is
    /// made at the mailbox's first delivery; an INBOX with no UID left refuses the delivery, and nothing
    /// of it is stored.
    @Test func deliveriesTakeTheInboxsNextUIDAndModSeq() async throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteMailStore(directory: dir)
        _ = try await store.addDomain("example.test")
        let id = try await store.addMailbox(try address("u@example.test"), passwordHash: nil, isAdmin: false).id
        for _ in 0..<3 { _ = try await store.deliver(message(to: [id])) }
        let rows = try await store.pool.read { db in try Row.fetchAll(db, sql: "SELECT uid, modseq FROM deliveries ORDER BY id") }
        #expect(rows.map { $0[0] as Int64 } == [1, 2, 3])
        let modSeqs = rows.map { $0[1] as Int64 }
        #expect(zip(modSeqs, modSeqs.dropFirst()).allSatisfy { $0 < $1 }, "\(modSeqs)")
        let folder = try #require(
            try await store.pool.read { db in
                try Row.fetchOne(
                    db, sql: "SELECT uid_next, highest_modseq FROM imap_folders WHERE mailbox_id = ? AND name = 'INBOX'", arguments: [id])
            })
        #expect(folder[0] as Int64 == 4 && folder[1] as Int64 == modSeqs.last)

        try await store.pool.write { db in
            try db.execute(sql: "UPDATE imap_folders SET uid_next = 4294967294 WHERE mailbox_id = ? AND name = 'INBOX'", arguments: [id])
        }
        _ = try await store.deliver(message(to: [id]))
        await #expect(throws: (any Error).self) { try await store.deliver(message(to: [id])) }
        let uids = try await store.pool.read { db in try Int64.fetchAll(db, sql: "SELECT uid FROM deliveries ORDER BY id") }
        #expect(uids == [1, 2, 3, 4_294_967_294])
        #expect(try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM messages") } == 4)
        try await store.close()
    }

    @Test func readOnlyStoreReadsButCannotWrite() async throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try SQLiteMailStore(directory: dir)
        _ = try await writer.addDomain("example.test")
        let reader = try SQLiteMailStore(directory: dir, options: .init(readOnly: true))
        #expect(try await reader.domains().map(\.name) == ["example.test"])
        await #expect(throws: StoreError.self) { try await reader.addDomain("other.test") }
        try await reader.close()
        try await writer.close()
    }

    @Test func openingAnUnusableDirectoryFails() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // A directory where the database file should be.
        try FileManager.default.createDirectory(atPath: dir + "/petrel.sqlite", withIntermediateDirectories: true)
        #expect(throws: StoreError.self) { try SQLiteMailStore(directory: dir) }
        // Garbage in the database file.
        let dir2 = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir2) }
        try FileManager.default.createDirectory(atPath: dir2, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: dir2 + "/petrel.sqlite", contents: Data(repeating: 0x41, count: 8192)))
        #expect(throws: StoreError.self) { try SQLiteMailStore(directory: dir2) }
    }

    @Test func concurrentDeliveriesShareTransactions() async throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteMailStore(directory: dir)
        _ = try await store.addDomain("example.test")
        let a = try await store.addMailbox(address("a@example.test"), passwordHash: nil, isAdmin: false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask { _ = try await store.deliver(message(to: [a.id], body: patternBytes(4096), queueID: "G\(i)")) }
            }
            try await group.waitForAll()
        }
        #expect(try await store.messages(mailboxID: a.id).count == 200)
        #expect(store.deliverTransactionCount < 200)
        try await store.close()
    }

    @Test func oneFailingMessageDoesNotAbortItsBatch() async throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteMailStore(directory: dir)
        _ = try await store.addDomain("example.test")
        let a = try await store.addMailbox(address("a@example.test"), passwordHash: nil, isAdmin: false)
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<60 {
                group.addTask {
                    let recipients: [Int64] = i % 3 == 0 ? [a.id, 99_999] : [a.id]
                    return (try? await store.deliver(message(to: recipients, queueID: "F\(i)"))) != nil
                }
            }
            var results: [Bool] = []
            for await r in group { results.append(r) }
            return results
        }
        #expect(outcomes.filter { $0 }.count == 40)
        #expect(try await store.messages(mailboxID: a.id).count == 40)
        #expect(try await store.storedMessageCount() == 40)
        try await store.close()
    }

    /// A message that fails after some of its rows are written (its spooled body file is gone: the
    /// message row and its BLOB exist when the read fails) leaves nothing behind: rolled back to its
    /// savepoint inside a batch, with the transaction when it is alone, and the others commit.
    @Test func aMessageFailingHalfWrittenLeavesNoRows() async throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteMailStore(directory: dir)
        _ = try await store.addDomain("example.test")
        let a = try await store.addMailbox(address("a@example.test"), passwordHash: nil, isAdmin: false)
        func halfWritten(_ id: String) -> IncomingMessage {
            var m = message(to: [a.id], queueID: id)
            m.body = .file(path: dir + "/missing-spool-file", size: 5000)
            return m
        }
        await #expect(throws: StoreError.self) { _ = try await store.deliver(halfWritten("alone")) }
        #expect(try await store.storedMessageCount() == 0)
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<60 {
                group.addTask {
                    let m = i % 4 == 1 ? halfWritten("H\(i)") : message(to: [a.id], queueID: "W\(i)")
                    return (try? await store.deliver(m)) != nil
                }
            }
            var results: [Bool] = []
            for await r in group { results.append(r) }
            return results
        }
        #expect(outcomes.filter { $0 }.count == 45)
        #expect(try await store.messages(mailboxID: a.id).count == 45)
        #expect(try await store.storedMessageCount() == 45)
        #expect(store.deliverTransactionCount < 61, "no batch had several messages")
        try await store.close()
    }
}
