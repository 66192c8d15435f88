/// Conformance suite for `MessageRetrieval` (MessageRetrieval.swift), run against every backend: the
/// listing agrees with `messages(mailboxID:)` and carries one body key per stored body, chunked reads by key
/// return exactly what `readMessage` returns at every chunk size, and a read is refused when the delivery
/// is gone, belongs to another mailbox or does not refer to the given body key.
import Foundation
import MailCore
import MailStore
import Testing

@Suite struct MessageRetrievalConformanceTests {
    /// A store with one domain and mailboxes a, b.
    func setUp(_ backend: Backend) async throws -> (Fixture, [Int64]) {
        let f = try backend.make()
        _ = try await f.store.addDomain("example.test")
        var ids: [Int64] = []
        for name in ["a", "b"] {
            ids.append(try await f.store.addMailbox(address("\(name)@example.test"), passwordHash: nil, isAdmin: false).id)
        }
        return (f, ids)
    }

    /// Reads a whole message back through `readMessage(mailboxID:message:…)` in chunks of `chunk` octets.
    func readAllChunks(_ store: any MailStore, mailbox: Int64, message: RetrievableMessage, chunk: Int) async throws -> [UInt8] {
        var out: [UInt8] = []
        while true {
            let part = try await store.readBytes(mailboxID: mailbox, message: message, offset: Int64(out.count), maxLength: chunk)
            if part.isEmpty { return out }
            #expect(part.count <= chunk)
            out += part
        }
    }

    @Test(arguments: Backend.allCases)
    func listingMatchesMessagesAndSharesBodyKeys(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.deliver(message(to: [m[0]], body: Array("Subject: 1\r\n\r\none\r\n".utf8)))
        let shared = try await s.deliver(message(to: [m[0], m[1]], body: patternBytes(70_000)))
        _ = try await s.deliver(message(to: [m[0]], body: Array("Subject: 3\r\n\r\nthree\r\n".utf8)))

        let listing = try await s.retrievableMessages(mailboxID: m[0])
        let messages = try await s.messages(mailboxID: m[0])
        #expect(listing.map(\.deliveryID) == messages.map(\.deliveryID))
        #expect(listing.map(\.size) == messages.map(\.size))
        #expect(listing.map(\.deliveryID) == listing.map(\.deliveryID).sorted())
        #expect(Set(listing.map(\.bodyID)).count == 3)

        // The message delivered to both mailboxes is one body: the same key in both listings.
        let inA = try #require(listing.first { $0.deliveryID == shared[0] })
        let inB = try #require(try await s.retrievableMessages(mailboxID: m[1]).first)
        #expect(inB.deliveryID == shared[1])
        #expect(inB.bodyID == inA.bodyID)
        #expect(inB.size == inA.size)
        #expect(try await s.retrievableMessages(mailboxID: 999_999).isEmpty)
    }

    /// What the receiver knew about a body (`IncomingMessage.bodyForm`) comes back with the listing, joined
    /// with what the trace headers are (`storedForm`); nothing known stays nothing known. A spooled body
    /// takes the other insert path of the PostgreSQL store (one message per statement), so it is here too.
    @Test(arguments: Backend.allCases)
    func theBodyFormIsStoredWithTheMessage(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        let body = Array("Subject: 1\r\n\r\none\r\n".utf8)
        let spooled = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-form-\(UUID().uuidString)")
        try Data(patternBytes(70_000, seed: 9)).write(to: spooled)
        defer { try? FileManager.default.removeItem(at: spooled) }
        let cases: [(IncomingMessage, BodyForm)] = [
            (message(to: [m[0]], body: body), []),
            (message(to: [m[0]], body: body), .smtpData(lineStartsWithDot: false)),
            (message(to: [m[0]], body: body), .smtpData(lineStartsWithDot: true)),
            // A trace field with a bare LF: the body's first line is no longer known to start a line.
            (message(to: [m[0]], body: body, trace: Array("X-Check: a\n".utf8)), .smtpData(lineStartsWithDot: false)),
            (
                IncomingMessage(
                    queueID: "Q5", sender: .null, localRecipients: [m[0]], receivedAt: Date(timeIntervalSince1970: 1_700_000_000),
                    traceHeaders: Array("Received: from test\r\n".utf8), body: .file(path: spooled.path, size: 70_000)),
                .smtpData(lineStartsWithDot: false)
            )
        ]
        for (incoming, form) in cases {
            var incoming = incoming
            incoming.bodyForm = form
            _ = try await s.deliver(incoming)
        }
        let forms = try await s.retrievableMessages(mailboxID: m[0]).map(\.form)
        #expect(
            forms == [
                [], [.crlfLines, .noDotLineStart, .noNUL], [.crlfLines, .noNUL], [.noNUL], [.crlfLines, .noDotLineStart, .noNUL]
            ])
    }

    /// `readMessages` (POP3's read-ahead) gives for each message what `readMessage` gives from its start
    /// (a message over `RetrievalLimits.maxChunk` clipped to it), in order; a message whose delivery is gone
    /// or belongs to another mailbox fails alone, the others are still read.
    @Test(arguments: Backend.allCases)
    func batchReadsMatchSingleReads(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.deliver(message(to: [m[0]], body: Array("Subject: 1\r\n\r\none\r\n".utf8)))
        _ = try await s.deliver(message(to: [m[0]], body: patternBytes(70_000, seed: 3)))
        let doomed = try await s.deliver(message(to: [m[0]], body: Array("Subject: 3\r\n\r\nthree\r\n".utf8)))
        _ = try await s.deliver(message(to: [m[0]], body: patternBytes(RetrievalLimits.maxChunk + 10, seed: 4)))
        _ = try await s.deliver(message(to: [m[1]], body: Array("Subject: b\r\n\r\nother\r\n".utf8)))
        let listing = try await s.retrievableMessages(mailboxID: m[0])
        let other = try #require(try await s.retrievableMessages(mailboxID: m[1]).first)
        #expect(listing.count == 4)
        var expected: [[UInt8]] = []
        for entry in listing {
            expected.append(try await s.readBytes(mailboxID: m[0], message: entry, offset: 0, maxLength: Int(entry.size)))
        }
        #expect(expected[3].count == RetrievalLimits.maxChunk)
        let reads = await s.readMessages(mailboxID: m[0], messages: listing)
        #expect(reads.count == 4)
        for (read, bytes) in zip(reads, expected) {
            #expect((try? read.get()).map { Array($0.readableBytesView) } == bytes)
        }
        try await s.deleteMessages(mailboxID: m[0], deliveryIDs: [doomed[0]])
        let mixed = await s.readMessages(mailboxID: m[0], messages: [listing[0], listing[2], other, listing[1]])
        #expect(mixed.count == 4)
        #expect((try? mixed[0].get()).map { Array($0.readableBytesView) } == expected[0])
        #expect((try? mixed[3].get()).map { Array($0.readableBytesView) } == expected[1])
        for failed in [mixed[1], mixed[2]] {
            guard case .failure(let error) = failed, case .messageNotFound = error as? StoreError else {
                Issue.record("expected messageNotFound, got \(failed)")
                continue
            }
        }
        #expect(await s.readMessages(mailboxID: m[0], messages: []).isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func chunkedReadsMatchReadMessageAtEveryChunkSize(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let body = patternBytes(300_000, seed: 7) // more than one 256 KiB BLOB chunk and several 64 KiB reads
        let ids = try await f.store.deliver(message(to: [m[0]], body: body))
        let entry = try #require(try await f.store.retrievableMessages(mailboxID: m[0]).first)
        #expect(entry.deliveryID == ids[0])
        let expected = try await readAll(f.store, mailbox: m[0], delivery: ids[0], chunk: 1 << 20)
        #expect(Int64(expected.count) == entry.size)
        for chunk in [1_000, 4_096, 65_536, 1 << 20] {
            #expect(try await readAllChunks(f.store, mailbox: m[0], message: entry, chunk: chunk) == expected)
        }
        // A range in the middle, at the end, past the end; zero length.
        let middle = try await f.store.readBytes(mailboxID: m[0], message: entry, offset: 1_000, maxLength: 10)
        #expect(middle == Array(expected[1_000..<1_010]))
        let tail = try await f.store.readBytes(mailboxID: m[0], message: entry, offset: entry.size - 3, maxLength: 10)
        #expect(tail == Array(expected.suffix(3)))
        #expect(try await f.store.readBytes(mailboxID: m[0], message: entry, offset: entry.size, maxLength: 10).isEmpty)
        #expect(try await f.store.readBytes(mailboxID: m[0], message: entry, offset: entry.size + 5, maxLength: 10).isEmpty)
        #expect(try await f.store.readBytes(mailboxID: m[0], message: entry, offset: 0, maxLength: 0).isEmpty)
        await #expect(throws: StoreError.self) {
            try await f.store.readBytes(mailboxID: m[0], message: entry, offset: -1, maxLength: 10)
        }
    }

    @Test(arguments: Backend.allCases)
    func emptyMessageReadsAsEmpty(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        _ = try await f.store.deliver(message(to: [m[0]], body: [], trace: []))
        let entry = try #require(try await f.store.retrievableMessages(mailboxID: m[0]).first)
        #expect(entry.size == 0)
        #expect(try await f.store.readBytes(mailboxID: m[0], message: entry, offset: 0, maxLength: 65_536).isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func readIsRefusedForAnotherMailboxAWrongBodyKeyOrADeletedDelivery(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.deliver(message(to: [m[0]], body: Array("Subject: a\r\n\r\nfor a\r\n".utf8)))
        _ = try await s.deliver(message(to: [m[1]], body: Array("Subject: b\r\n\r\nfor b only\r\n".utf8)))
        let a = try #require(try await s.retrievableMessages(mailboxID: m[0]).first)
        let b = try #require(try await s.retrievableMessages(mailboxID: m[1]).first)

        // Mailbox b cannot read a's delivery.
        await #expect(throws: StoreError.messageNotFound(a.deliveryID)) {
            try await s.readBytes(mailboxID: m[1], message: a, offset: 0, maxLength: 100)
        }
        // a's delivery with b's body key (a forged or stale key) reads nothing of b's message.
        let forged = RetrievableMessage(deliveryID: a.deliveryID, bodyID: b.bodyID, size: b.size)
        await #expect(throws: StoreError.messageNotFound(a.deliveryID)) {
            try await s.readBytes(mailboxID: m[0], message: forged, offset: 0, maxLength: 100)
        }
        // A delivery id that never existed.
        let unknown = RetrievableMessage(deliveryID: b.deliveryID + 100, bodyID: a.bodyID, size: a.size)
        await #expect(throws: StoreError.messageNotFound(b.deliveryID + 100)) {
            try await s.readBytes(mailboxID: m[0], message: unknown, offset: 0, maxLength: 100)
        }
        // After deletion the snapshot entry no longer reads, even though it was valid at listing time.
        #expect(try await s.readBytes(mailboxID: m[0], message: a, offset: 0, maxLength: 100).count == Int(a.size))
        try await s.deleteMessages(mailboxID: m[0], deliveryIDs: [a.deliveryID])
        await #expect(throws: StoreError.messageNotFound(a.deliveryID)) {
            try await s.readBytes(mailboxID: m[0], message: a, offset: 0, maxLength: 100)
        }
        // A new message may reuse a's body key in some backends; a's delivery still must not read it.
        _ = try await s.deliver(message(to: [m[1]], body: Array("Subject: c\r\n\r\nlater\r\n".utf8)))
        await #expect(throws: StoreError.messageNotFound(a.deliveryID)) {
            try await s.readBytes(mailboxID: m[0], message: a, offset: 0, maxLength: 100)
        }
    }

    @Test(arguments: Backend.allCases)
    func closedStoreRefusesChunkedReads(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        _ = try await f.store.deliver(message(to: [m[0]]))
        let entry = try #require(try await f.store.retrievableMessages(mailboxID: m[0]).first)
        try await f.store.close()
        await #expect(throws: StoreError.self) {
            try await f.store.readBytes(mailboxID: m[0], message: entry, offset: 0, maxLength: 100)
        }
        await #expect(throws: StoreError.self) { try await f.store.retrievableMessages(mailboxID: m[0]) }
    }
}
