/// Conformance suite for `MessageStore` (MailStore.swift), run against every backend: deliver
/// (dedupe, id order, stored size, `.file` bodies), ranged reads, listing order, atomic deletion,
/// body cleanup, ids never reused, and 50 concurrent deliveries.
import Foundation
import MailCore
import MailStore
import Testing

@Suite struct MessageStoreConformanceTests {
    /// A store with one domain and mailboxes a, b, c.
    func setUp(_ backend: Backend) async throws -> (Fixture, [Int64]) {
        let f = try backend.make()
        _ = try await f.store.addDomain("example.test")
        var ids: [Int64] = []
        for name in ["a", "b", "c"] {
            ids.append(try await f.store.addMailbox(address("\(name)@example.test"), passwordHash: nil, isAdmin: false).id)
        }
        return (f, ids)
    }

    @Test(arguments: Backend.allCases)
    func deliverDedupesAndKeepsRecipientOrder(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        let ids = try await s.deliver(message(to: [m[2], m[0], m[2], m[1], m[0]]))
        #expect(ids.count == 3)
        #expect(Set(ids).count == 3)
        // Each id belongs to the mailbox at the same position of the deduplicated list.
        for (mailbox, id) in zip([m[2], m[0], m[1]], ids) {
            #expect(try await s.messages(mailboxID: mailbox).map(\.deliveryID) == [id])
        }
        #expect(try await f.storedBodies() == 1)
    }

    @Test(arguments: Backend.allCases)
    func deliverToUnknownMailboxFailsAndStoresNothing(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        await #expect(throws: StoreError.self) { try await f.store.deliver(message(to: [m[0], 999_999])) }
        #expect(try await f.store.messages(mailboxID: m[0]).isEmpty)
        #expect(try await f.storedBodies() == 0)
        #expect(try await f.store.deliver(message(to: [])) == [])
    }

    @Test(arguments: Backend.allCases)
    func storedSizeAndExactBytes(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        let trace = Array("Return-Path: <x@y.test>\r\nReceived: from a by b\r\n".utf8)
        let body = patternBytes(70_001)
        let date = Date(timeIntervalSince1970: 1_712_345_678.25)
        let sender = MailPath.mailbox(try address("x@y.test"))
        let ids = try await s.deliver(message(to: [m[0]], body: body, trace: trace, queueID: "QX1", sender: sender, at: date))
        let list = try await s.messages(mailboxID: m[0])
        #expect(
            list == [
                MailboxMessage(
                    deliveryID: ids[0], queueID: "QX1", sender: "<x@y.test>", receivedAt: date,
                    size: Int64(trace.count + body.count))
            ])
        // (Single-octet reads are covered by the small-message test.)
        for chunk in [7, 1000, 4096, 65_537, 1 << 20] {
            let back = try await readAll(s, mailbox: m[0], delivery: ids[0], chunk: chunk)
            #expect(back == trace + body, "chunk \(chunk)")
        }
        // Ranged reads.
        #expect(try await s.readMessage(mailboxID: m[0], deliveryID: ids[0], offset: 3, maxLength: 5) == Array((trace + body)[3..<8]))
        let total = Int64(trace.count + body.count)
        #expect(try await s.readMessage(mailboxID: m[0], deliveryID: ids[0], offset: total - 2, maxLength: 100).count == 2)
        #expect(try await s.readMessage(mailboxID: m[0], deliveryID: ids[0], offset: total, maxLength: 100).isEmpty)
        #expect(try await s.readMessage(mailboxID: m[0], deliveryID: ids[0], offset: total + 50, maxLength: 100).isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func smallMessageOneOctetAtATime(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let msg = message(to: [m[1]])
        let ids = try await f.store.deliver(msg)
        let expected = msg.traceHeaders + Array("Subject: hi\r\n\r\nhello\r\n".utf8)
        #expect(try await readAll(f.store, mailbox: m[1], delivery: ids[0], chunk: 1) == expected)
        #expect(try await readAll(f.store, mailbox: m[1], delivery: ids[0], chunk: 3) == expected)
    }

    @Test(arguments: Backend.allCases)
    func emptyMessage(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let ids = try await f.store.deliver(message(to: [m[0]], body: [], trace: []))
        #expect(try await f.store.messages(mailboxID: m[0]).first?.size == 0)
        #expect(try await f.store.readMessage(mailboxID: m[0], deliveryID: ids[0], offset: 0, maxLength: 10).isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func fileBodies(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let body = patternBytes(600_000, seed: 42) // several 256 KiB chunks
        let path = try f.spool(body)
        let trace = Array("Received: spooled\r\n".utf8)
        let msg = IncomingMessage(
            queueID: "QF", sender: .null, localRecipients: [m[0], m[1]], receivedAt: Date(),
            traceHeaders: trace, body: .file(path: path, size: Int64(body.count)))
        let ids = try await f.store.deliver(msg)
        try FileManager.default.removeItem(atPath: path) // the store must not depend on the spool file afterwards
        #expect(try await f.store.messages(mailboxID: m[1]).first?.size == Int64(trace.count + body.count))
        #expect(try await readAll(f.store, mailbox: m[1], delivery: ids[1], chunk: 100_003) == trace + body)

        // A spool file shorter than declared, or missing, fails and stores nothing.
        let short = try f.spool([1, 2, 3])
        let bad = IncomingMessage(
            queueID: "QS", sender: .null, localRecipients: [m[2]], receivedAt: Date(),
            traceHeaders: [], body: .file(path: short, size: 10))
        await #expect(throws: StoreError.self) { try await f.store.deliver(bad) }
        let missing = IncomingMessage(
            queueID: "QM", sender: .null, localRecipients: [m[2]], receivedAt: Date(),
            traceHeaders: [], body: .file(path: f.directory + "/nope", size: 10))
        await #expect(throws: StoreError.self) { try await f.store.deliver(missing) }
        #expect(try await f.store.messages(mailboxID: m[2]).isEmpty)
        #expect(try await f.storedBodies() == 1)
    }

    @Test(arguments: Backend.allCases)
    func readRequiresTheOwningMailbox(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let ids = try await f.store.deliver(message(to: [m[0]]))
        await #expect(throws: StoreError.messageNotFound(ids[0])) {
            try await f.store.readMessage(mailboxID: m[1], deliveryID: ids[0], offset: 0, maxLength: 10)
        }
        await #expect(throws: StoreError.messageNotFound(ids[0] + 100)) {
            try await f.store.readMessage(mailboxID: m[0], deliveryID: ids[0] + 100, offset: 0, maxLength: 10)
        }
    }

    @Test(arguments: Backend.allCases)
    func messagesAreListedOldestFirst(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        var expected: [Int64] = []
        for i in 0..<5 {
            expected += try await f.store.deliver(message(to: [m[0]], queueID: "Q\(i)"))
            _ = try await f.store.deliver(message(to: [m[1]], queueID: "other"))
        }
        let list = try await f.store.messages(mailboxID: m[0])
        #expect(list.map(\.deliveryID) == expected)
        #expect(expected == expected.sorted())
        #expect(list.map(\.queueID) == ["Q0", "Q1", "Q2", "Q3", "Q4"])
        #expect(try await f.store.messages(mailboxID: 424_242).isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func deleteMessagesAndBodyCleanup(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        let shared = try await s.deliver(message(to: [m[0], m[1]], queueID: "S"))
        let own1 = try await s.deliver(message(to: [m[0]], queueID: "O1"))
        let own2 = try await s.deliver(message(to: [m[0]], queueID: "O2"))
        #expect(try await f.storedBodies() == 3)
        // Another mailbox's id, unknown ids and duplicates are ignored.
        try await s.deleteMessages(mailboxID: m[0], deliveryIDs: [shared[0], own1[0], own1[0], shared[1], 777_777])
        #expect(try await s.messages(mailboxID: m[0]).map(\.deliveryID) == own2)
        #expect(try await s.messages(mailboxID: m[1]).map(\.deliveryID) == [shared[1]])
        #expect(try await f.storedBodies() == 2)
        // Already gone: no error.
        try await s.deleteMessages(mailboxID: m[0], deliveryIDs: [own1[0]])
        try await s.deleteMessages(mailboxID: m[0], deliveryIDs: [])
        try await s.deleteMessages(mailboxID: m[1], deliveryIDs: [shared[1]])
        #expect(try await f.storedBodies() == 1)
        await #expect(throws: StoreError.messageNotFound(shared[1])) {
            try await s.readMessage(mailboxID: m[1], deliveryID: shared[1], offset: 0, maxLength: 1)
        }
    }

    @Test(arguments: Backend.allCases)
    func deleteManyAtOnce(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        var ids: [Int64] = []
        for i in 0..<1200 { ids += try await f.store.deliver(message(to: [m[0]], queueID: "Q\(i)")) }
        try await f.store.deleteMessages(mailboxID: m[0], deliveryIDs: Array(ids.dropLast()))
        #expect(try await f.store.messages(mailboxID: m[0]).map(\.deliveryID) == [ids[ids.count - 1]])
        #expect(try await f.storedBodies() == 1)
    }

    @Test(arguments: Backend.allCases)
    func idsAreNeverReused(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let first = try await f.store.deliver(message(to: [m[0], m[1]]))
        try await f.store.deleteMessages(mailboxID: m[0], deliveryIDs: [first[0]])
        try await f.store.deleteMessages(mailboxID: m[1], deliveryIDs: [first[1]])
        let second = try await f.store.deliver(message(to: [m[0]]))
        #expect(second[0] > first[1])
        // Removing and re-adding a mailbox does not reuse its id either.
        try await f.store.removeMailbox(address("c@example.test"))
        let again = try await f.store.addMailbox(address("c@example.test"), passwordHash: nil, isAdmin: false)
        #expect(again.id > m[2])
    }

    @Test(arguments: Backend.allCases)
    func concurrentDeliveriesAreAllVisible(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let store = f.store
        let results = try await withThrowingTaskGroup(of: (Int, [Int64]).self) { group in
            for i in 0..<50 {
                group.addTask {
                    let recipients = i % 2 == 0 ? [m[0]] : [m[0], m[1]]
                    let ids = try await store.deliver(
                        message(
                            to: recipients, body: patternBytes(4096, seed: UInt64(i + 1)),
                            queueID: "C\(i)"))
                    return (i, ids)
                }
            }
            var all: [(Int, [Int64])] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(results.count == 50)
        let allIDs = results.flatMap(\.1)
        #expect(Set(allIDs).count == 75)
        let listA = try await store.messages(mailboxID: m[0])
        #expect(listA.count == 50)
        #expect(try await store.messages(mailboxID: m[1]).count == 25)
        #expect(listA.map(\.deliveryID) == listA.map(\.deliveryID).sorted())
        for (i, ids) in results.prefix(10) {
            let back = try await readAll(store, mailbox: m[0], delivery: ids[0], chunk: 1500)
            #expect(back == Array("Received: from test\r\n".utf8) + patternBytes(4096, seed: UInt64(i + 1)))
        }
    }
}
