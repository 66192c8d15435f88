/// Conformance suite for `QueueStore` (Queue.swift), run against every backend: deliver with local and
/// remote recipients in one go (duplicates, envelope and RFC 3461 NOTIFY/ORCPT round-trip), due
/// selection, `completeAttempt` (updates + notifications, all-or-nothing), body lifetime shared with
/// deliveries, ranged reads, hold/release/retry/delete, the summary, and (SQLite) durability across reopen.
import Foundation
import GRDB
import MailCore
import MailStore
import Testing

@testable import MailStoreSQLite

/// A remote recipient, its address parsed with the real grammar (a typo records a test failure).
func remote(_ text: String, notify: DSNNotify? = nil, orcpt: String? = nil) -> OutboundRecipient {
    guard let parsed = EmailAddress(text) else {
        Issue.record("not an address: \(text)")
        return OutboundRecipient(address: EmailAddress(localPart: "invalid", domain: "invalid.test"))
    }
    return OutboundRecipient(address: parsed, notify: notify, originalRecipient: orcpt)
}

/// A message with local and/or remote recipients.
func outbound(
    local: [Int64] = [], remote recipients: [OutboundRecipient], queueID: String = "QO",
    sender: MailPath = .null, at date: Date = queueEpoch, body: [UInt8] = Array("Subject: out\r\n\r\nhi\r\n".utf8),
    envelope: OutboundEnvelope = OutboundEnvelope()
) -> IncomingMessage {
    IncomingMessage(
        queueID: queueID, sender: sender, localRecipients: local, receivedAt: date,
        traceHeaders: Array("Received: from test\r\n".utf8), body: .bytes(body),
        remoteRecipients: recipients, envelope: envelope)
}

/// A time that survives the REAL column exactly.
let queueEpoch = Date(timeIntervalSince1970: 1_700_000_000)

/// Reads a whole queued message back in chunks of `chunk` octets.
func readAllQueued(_ store: any MailStore, messageID: Int64, chunk: Int) async throws -> [UInt8] {
    var out: [UInt8] = []
    while true {
        let part = try await store.readQueuedMessage(messageID: messageID, offset: Int64(out.count), maxLength: chunk)
        if part.isEmpty { return out }
        #expect(part.count <= chunk)
        out += part
    }
}

@Suite struct QueueStoreConformanceTests {
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

    @Test(arguments: Backend.allCases)
    func deliverLocalAndRemoteInOneGo(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        let envelope = OutboundEnvelope(envelopeID: "ENV 1+x", dsnReturn: .headers, eightBitMIME: true, smtpUTF8: true)
        let at = Date(timeIntervalSince1970: 1_712_345_678.25)
        let msg = outbound(
            local: [m[1], m[0], m[1]],
            remote: [
                remote("x@Remote.test"), remote("X@remote.TEST"),
                remote("y@other.test", notify: [.success, .failure], orcpt: "rfc822;Y@other.test"),
                remote("z@other.test", notify: .never)
            ],
            queueID: "QLR", sender: .mailbox(try address("s@src.test")), at: at, envelope: envelope)
        let ids = try await s.deliver(msg)
        #expect(ids.count == 2)
        #expect(try await s.messages(mailboxID: m[1]).map(\.deliveryID) == [ids[0]])
        #expect(try await s.messages(mailboxID: m[0]).map(\.deliveryID) == [ids[1]])
        let entries = try await s.queueEntries()
        #expect(entries.map(\.recipient.address.description) == ["x@remote.test", "y@other.test", "z@other.test"])
        #expect(entries.map(\.recipient.domain) == ["remote.test", "other.test", "other.test"])
        #expect(entries.map(\.id) == entries.map(\.id).sorted())
        #expect(Set(entries.map(\.id)).count == 3)
        #expect(entries[0].recipient == remote("x@Remote.test"))
        #expect(entries[0].recipient.notify == nil && entries[0].recipient.effectiveNotify == .default)
        #expect(entries[1].recipient == remote("y@other.test", notify: [.success, .failure], orcpt: "rfc822;Y@other.test"))
        #expect(entries[2].recipient.notify == .never)
        for e in entries {
            #expect(e.queueID == "QLR")
            #expect(e.sender == .mailbox(try address("s@src.test")))
            #expect(e.envelope == envelope)
            #expect(e.state == .active && e.attempts == 0 && !e.delayNotified)
            #expect(e.arrivedAt == at && e.nextAttempt == at)
            #expect(e.lastAttempt == nil && e.lastError == nil)
            #expect(e.size == msg.storedSize)
            #expect(e.messageID == entries[0].messageID)
        }
        #expect(try await f.storedBodies() == 1)
        #expect(
            try await readAllQueued(s, messageID: entries[0].messageID, chunk: 7)
                == msg.traceHeaders + Array("Subject: out\r\n\r\nhi\r\n".utf8))
        // Default envelope round-trips too.
        _ = try await s.deliver(outbound(remote: [remote("w@other.test")], queueID: "QD"))
        #expect(try await s.queueEntries(matching: "QD").first?.envelope == OutboundEnvelope())
    }

    @Test(arguments: Backend.allCases)
    func remoteOnlyAndNoRecipients(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        #expect(try await s.deliver(outbound(remote: [remote("r@remote.test")])) == [])
        #expect(try await s.queueEntries().count == 1)
        #expect(try await f.storedBodies() == 1)
        #expect(try await s.deliver(outbound(remote: [])) == [])
        #expect(try await f.storedBodies() == 1)
        // An unknown local mailbox fails the whole message: no queue entry either.
        await #expect(throws: StoreError.self) {
            try await s.deliver(outbound(local: [m[0], 999_999], remote: [remote("q@remote.test")], queueID: "BAD"))
        }
        #expect(try await s.queueEntries(matching: "BAD").isEmpty)
        #expect(try await s.queueEntries().count == 1)
        #expect(try await s.messages(mailboxID: m[0]).isEmpty)
        #expect(try await f.storedBodies() == 1)
    }

    @Test(arguments: Backend.allCases)
    func dueSelection(_ backend: Backend) async throws {
        let (f, _) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        var byOffset: [Int: [Int64]] = [:]
        for (i, offset) in [30, 10, 20, 100].enumerated() {
            let recipients = offset == 20 ? [remote("p\(i)@r.test"), remote("q\(i)@r.test")] : [remote("p\(i)@r.test")]
            _ = try await s.deliver(outbound(remote: recipients, queueID: "T\(offset)", at: queueEpoch + Double(offset)))
            byOffset[offset] = try await s.queueEntries(matching: "T\(offset)").map(\.id)
        }
        let e10 = try #require(byOffset[10]), e20 = try #require(byOffset[20]), e30 = try #require(byOffset[30])
        #expect(try await s.dueQueueEntries(now: queueEpoch + 5, limit: 10, excluding: []).isEmpty)
        #expect(try await s.dueQueueEntries(now: queueEpoch + 20, limit: 10, excluding: []).map(\.id) == e10 + e20)
        // Oldest next attempt first, then by id.
        #expect(try await s.dueQueueEntries(now: queueEpoch + 50, limit: 10, excluding: []).map(\.id) == e10 + e20 + e30)
        #expect(try await s.dueQueueEntries(now: queueEpoch + 50, limit: 2, excluding: []).map(\.id) == e10 + [e20[0]])
        #expect(
            try await s.dueQueueEntries(now: queueEpoch + 50, limit: 2, excluding: Set(e10 + [e20[0]])).map(\.id)
                == [e20[1]] + e30)
        #expect(try await s.dueQueueEntries(now: queueEpoch + 50, limit: 0, excluding: []).isEmpty)
        // Held entries are never due.
        #expect(try await s.setQueueHeld(true, entryIDs: e20) == 2)
        #expect(try await s.dueQueueEntries(now: queueEpoch + 500, limit: 10, excluding: []).count == 3)
        #expect(try await s.dueQueueEntries(now: queueEpoch + 500, limit: 10, excluding: []).map(\.id).contains(e20[0]) == false)
    }

    @Test(arguments: Backend.allCases)
    func completeAttemptAppliesUpdatesAndStoresNotifications(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.deliver(
            outbound(
                remote: [remote("r1@r.test"), remote("r2@r.test"), remote("r3@r.test")],
                queueID: "QA", sender: .mailbox(try address("s@src.test"))))
        let e = try await s.queueEntries().map(\.id)
        try #require(e.count == 3)
        let next = queueEpoch + 600, tried = queueEpoch + 60
        let dsnLocal = outbound(local: [m[0]], remote: [], queueID: "DSN1")
        let dsnRemote = outbound(remote: [remote("s@src.test")], queueID: "DSN2", sender: .null)
        let results = try await s.completeAttempt(
            [
                .retryLater(entryID: e[0], nextAttempt: next, attemptedAt: tried, error: "451 4.3.0 try later"),
                .markDelayNotified(entryID: e[0]), .remove(entryID: e[1]),
                .remove(entryID: 987_654), .retryLater(entryID: 987_655, nextAttempt: next, attemptedAt: tried, error: "x"),
                .markDelayNotified(entryID: 987_656)
            ],
            notifications: [dsnLocal, dsnRemote])
        #expect(results.count == 2)
        #expect(results.last == [])
        let local = try await s.messages(mailboxID: m[0])
        #expect(local.map(\.deliveryID) == results.first)
        #expect(local.map(\.queueID) == ["DSN1"])

        let first = try #require(try await s.queueEntries(matching: "\(e[0])").first)
        #expect(first.attempts == 1 && first.nextAttempt == next && first.lastAttempt == tried)
        #expect(first.lastError == "451 4.3.0 try later" && first.delayNotified && first.state == .active)
        #expect(try await s.queueEntries(matching: "\(e[1])").isEmpty)
        let third = try #require(try await s.queueEntries(matching: "\(e[2])").first)
        #expect(third.attempts == 0 && !third.delayNotified && third.nextAttempt == queueEpoch)
        let bounce = try await s.queueEntries(matching: "DSN2")
        #expect(bounce.map(\.recipient.address.description) == ["s@src.test"])
        #expect(bounce.first?.sender == .null)
        #expect(try await f.storedBodies() == 3)

        // Removing the last entries of a message removes its body.
        try await s.completeAttempt([.remove(entryID: e[0]), .remove(entryID: e[2])], notifications: [])
        #expect(try await f.storedBodies() == 2)
        #expect(try await s.completeAttempt([], notifications: []) == [])
    }

    @Test(arguments: Backend.allCases)
    func failingNotificationRollsBackTheUpdates(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.deliver(outbound(remote: [remote("r1@r.test"), remote("r2@r.test")], queueID: "QF"))
        let before = try await s.queueEntries()
        let e = before.map(\.id)
        try #require(e.count == 2)
        await #expect(throws: StoreError.self) {
            try await s.completeAttempt(
                [
                    .remove(entryID: e[0]),
                    .retryLater(entryID: e[1], nextAttempt: queueEpoch + 99, attemptedAt: queueEpoch + 1, error: "421"),
                    .markDelayNotified(entryID: e[1])
                ],
                notifications: [
                    outbound(local: [m[0]], remote: [remote("n@r.test")], queueID: "OK"),
                    outbound(local: [424_242], remote: [], queueID: "NOPE")
                ])
        }
        #expect(try await s.queueEntries() == before)
        #expect(try await s.messages(mailboxID: m[0]).isEmpty)
        #expect(try await s.queueEntries(matching: "OK").isEmpty)
        #expect(try await f.storedBodies() == 1)
    }

    @Test(arguments: Backend.allCases)
    func bodyLivesWhileADeliveryOrAnEntryReferencesIt(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        // Delivery removed first, then the queue entry.
        let d1 = try await s.deliver(outbound(local: [m[0]], remote: [remote("r@r.test")], queueID: "B1"))
        let q1 = try #require(try await s.queueEntries(matching: "B1").first)
        try await s.deleteMessages(mailboxID: m[0], deliveryIDs: d1)
        #expect(try await f.storedBodies() == 1)
        #expect(try await s.readQueuedMessage(messageID: q1.messageID, offset: 0, maxLength: 8) == Array("Received".utf8))
        try await s.completeAttempt([.remove(entryID: q1.id)], notifications: [])
        #expect(try await f.storedBodies() == 0)
        await #expect(throws: StoreError.messageNotFound(q1.messageID)) {
            try await s.readQueuedMessage(messageID: q1.messageID, offset: 0, maxLength: 8)
        }

        // Queue entry removed first, then the delivery.
        let d2 = try await s.deliver(outbound(local: [m[0]], remote: [remote("r@r.test")], queueID: "B2"))
        let q2 = try #require(try await s.queueEntries(matching: "B2").first)
        #expect(try await s.deleteQueueEntries([q2.id]) == 1)
        #expect(try await f.storedBodies() == 1)
        #expect(try await s.readMessage(mailboxID: m[0], deliveryID: d2[0], offset: 0, maxLength: 8) == Array("Received".utf8))
        // No queue entry references it any more.
        await #expect(throws: StoreError.messageNotFound(q2.messageID)) {
            try await s.readQueuedMessage(messageID: q2.messageID, offset: 0, maxLength: 8)
        }
        try await s.deleteMessages(mailboxID: m[0], deliveryIDs: d2)
        #expect(try await f.storedBodies() == 0)

        // Removing the mailbox, or its domain with force, keeps bodies still queued.
        _ = try await s.deliver(outbound(local: [m[1]], remote: [remote("r@r.test")], queueID: "B3"))
        _ = try await s.deliver(outbound(local: [m[0]], remote: [remote("r@r.test")], queueID: "B4"))
        try await s.removeMailbox(address("b@example.test"))
        try await s.removeDomain("example.test", force: true)
        #expect(try await f.storedBodies() == 2)
        for qid in ["B3", "B4"] {
            let q = try #require(try await s.queueEntries(matching: qid).first)
            #expect(try await readAllQueued(s, messageID: q.messageID, chunk: 100).count == Int(q.size))
        }
        #expect(try await s.deleteQueueEntries(try await s.queueEntries().map(\.id)) == 2)
        #expect(try await f.storedBodies() == 0)
    }

    @Test(arguments: Backend.allCases)
    func readQueuedMessageRanges(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        let body = patternBytes(70_001, seed: 7)
        let msg = outbound(remote: [remote("r@r.test")], queueID: "R", body: body)
        _ = try await s.deliver(msg)
        let q = try #require(try await s.queueEntries().first)
        let all = msg.traceHeaders + body
        #expect(q.size == Int64(all.count))
        for chunk in [1000, 65_537, 1 << 20] {
            #expect(try await readAllQueued(s, messageID: q.messageID, chunk: chunk) == all, "chunk \(chunk)")
        }
        #expect(try await s.readQueuedMessage(messageID: q.messageID, offset: 3, maxLength: 5) == Array(all[3..<8]))
        let total = Int64(all.count)
        #expect(try await s.readQueuedMessage(messageID: q.messageID, offset: total - 2, maxLength: 100).count == 2)
        #expect(try await s.readQueuedMessage(messageID: q.messageID, offset: total, maxLength: 100).isEmpty)
        #expect(try await s.readQueuedMessage(messageID: q.messageID, offset: total + 9, maxLength: 100).isEmpty)
        #expect(try await s.readQueuedMessage(messageID: q.messageID, offset: 0, maxLength: 0).isEmpty)
        await #expect(throws: StoreError.self) { try await s.readQueuedMessage(messageID: q.messageID, offset: -1, maxLength: 1) }
        await #expect(throws: StoreError.messageNotFound(q.messageID + 1000)) {
            try await s.readQueuedMessage(messageID: q.messageID + 1000, offset: 0, maxLength: 1)
        }
        // A message only delivered locally is not readable through the queue (both backends number
        // bodies consecutively, so it is the next message id).
        let local = try await s.deliver(outbound(local: [m[0]], remote: [], queueID: "L"))
        #expect(try await s.readMessage(mailboxID: m[0], deliveryID: local[0], offset: 0, maxLength: 1) == Array("R".utf8))
        await #expect(throws: StoreError.messageNotFound(q.messageID + 1)) {
            try await s.readQueuedMessage(messageID: q.messageID + 1, offset: 0, maxLength: 1)
        }
        #expect(Set(try await s.queueEntries().map(\.messageID)) == [q.messageID])
    }

    @Test(arguments: Backend.allCases)
    func holdReleaseRetryDelete(_ backend: Backend) async throws {
        let (f, _) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.deliver(outbound(remote: [remote("r1@r.test"), remote("r2@r.test")], queueID: "Q1"))
        _ = try await s.deliver(outbound(remote: [remote("r3@r.test")], queueID: "Q2"))
        let e = try await s.queueEntries().map(\.id)
        try #require(e.count == 3)
        let later = queueEpoch + 1000
        try await s.completeAttempt(
            e.map { .retryLater(entryID: $0, nextAttempt: later, attemptedAt: queueEpoch, error: "451") },
            notifications: [])
        #expect(try await s.setQueueHeld(true, entryIDs: [e[0], e[0], 99_999]) == 1)
        #expect(try await s.setQueueHeld(true, entryIDs: [e[0]]) == 0)
        #expect(try await s.queueEntries(matching: "\(e[0])").first?.state == .held)
        #expect(try await s.setQueueHeld(true, entryIDs: []) == 0)

        // Retry all: only the active ones, and they become due now.
        let now = queueEpoch + 5
        #expect(try await s.retryQueueEntries(nil, now: now) == 2)
        #expect(try await s.dueQueueEntries(now: now, limit: 10, excluding: []).map(\.id) == [e[1], e[2]])
        #expect(try await s.retryQueueEntries([e[0]], now: now) == 0)
        #expect(try await s.retryQueueEntries([e[2], 424_242], now: now) == 1)
        #expect(try await s.retryQueueEntries([], now: now) == 0)
        // Retrying never postpones an entry that is already due.
        #expect(try await s.retryQueueEntries([e[1]], now: later + 50) == 1)
        #expect(try await s.queueEntries(matching: "\(e[1])").first?.nextAttempt == now)

        // Release: active again and due at once.
        #expect(try await s.setQueueHeld(false, entryIDs: [e[0], e[1]]) == 1)
        #expect(try await s.setQueueHeld(false, entryIDs: [e[0]]) == 0)
        let released = try #require(try await s.queueEntries(matching: "\(e[0])").first)
        #expect(released.state == .active && released.nextAttempt <= Date() && released.attempts == 1)

        // Matching: entry id, queue id (case-sensitive), unknown.
        #expect(try await s.queueEntries(matching: "Q1").map(\.id) == [e[0], e[1]])
        #expect(try await s.queueEntries(matching: "q1").isEmpty)
        #expect(try await s.queueEntries(matching: "\(e[2])").map(\.queueID) == ["Q2"])
        #expect(try await s.queueEntries(matching: "777777").isEmpty)
        #expect(try await s.queueEntries(matching: "").isEmpty)

        // Delete: counts only existing entries; the body goes with the last entry.
        #expect(try await s.deleteQueueEntries([e[0], 777]) == 1)
        #expect(try await f.storedBodies() == 2)
        #expect(try await s.deleteQueueEntries([e[1], e[1]]) == 1)
        #expect(try await f.storedBodies() == 1)
        #expect(try await s.deleteQueueEntries([]) == 0)
        #expect(try await s.queueEntries().map(\.id) == [e[2]])
        // Entry ids are never reused.
        _ = try await s.deliver(outbound(remote: [remote("r4@r.test")], queueID: "Q3"))
        #expect(try await s.queueEntries(matching: "Q3").first.map { $0.id > e[2] } == true)
    }

    @Test(arguments: Backend.allCases)
    func summary(_ backend: Backend) async throws {
        let (f, _) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        let empty = try await s.queueSummary(now: queueEpoch)
        #expect(empty == QueueSummary())
        #expect(empty.total == 0)
        _ = try await s.deliver(outbound(remote: [remote("new@r.test")], queueID: "N", at: queueEpoch + 100))
        _ = try await s.deliver(outbound(remote: [remote("def@r.test")], queueID: "D", at: queueEpoch + 50))
        _ = try await s.deliver(outbound(remote: [remote("held@r.test")], queueID: "H", at: queueEpoch + 10))
        let d = try #require(try await s.queueEntries(matching: "D").first)
        let h = try #require(try await s.queueEntries(matching: "H").first)
        try await s.completeAttempt(
            [
                .retryLater(
                    entryID: d.id, nextAttempt: queueEpoch + 400, attemptedAt: queueEpoch + 60,
                    error: "451")
            ], notifications: [])
        #expect(try await s.setQueueHeld(true, entryIDs: [h.id]) == 1)
        let sum = try await s.queueSummary(now: queueEpoch + 200)
        #expect(sum.new == 1 && sum.deferred == 1 && sum.held == 1 && sum.total == 3)
        #expect(sum.oldestArrival == queueEpoch + 10)
        // The held entry's earlier next attempt does not count.
        #expect(sum.nextDue == queueEpoch + 100)
    }

    @Test(arguments: Backend.allCases)
    func concurrentDeliveriesQueueEveryRecipient(_ backend: Backend) async throws {
        let (f, m) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let store = f.store
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<30 {
                group.addTask {
                    let local: [Int64] = i % 2 == 0 ? [m[0]] : []
                    _ = try await store.deliver(
                        outbound(
                            local: local, remote: [remote("r\(i)@r.test"), remote("R\(i)@r.test")],
                            queueID: "C\(i)"))
                }
            }
            try await group.waitForAll()
        }
        #expect(try await store.queueEntries().count == 30)
        #expect(try await store.messages(mailboxID: m[0]).count == 15)
        #expect(try await f.storedBodies() == 30)
    }

    @Test func sqliteReopenKeepsTheQueue() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-queue-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var store = try SQLiteMailStore(directory: dir)
        let envelope = OutboundEnvelope(envelopeID: "E1", dsnReturn: .full, eightBitMIME: true, smtpUTF8: false)
        _ = try await store.deliver(
            outbound(
                remote: [
                    remote("a@r.test", notify: [.delay], orcpt: "rfc822;a@r.test"),
                    remote("b@r.test")
                ],
                queueID: "DUR", sender: .mailbox(try address("s@src.test")), envelope: envelope))
        let e = try await store.queueEntries().map(\.id)
        try #require(e.count == 2)
        try await store.completeAttempt(
            [
                .retryLater(
                    entryID: e[0], nextAttempt: queueEpoch + 300.5, attemptedAt: queueEpoch + 1.25,
                    error: "421 4.7.0 busy"), .markDelayNotified(entryID: e[0])
            ], notifications: [])
        #expect(try await store.setQueueHeld(true, entryIDs: [e[1]]) == 1)
        let before = try await store.queueEntries()
        try await store.close()

        store = try SQLiteMailStore(directory: dir)
        #expect(try await store.queueEntries() == before)
        #expect(try await readAllQueued(store, messageID: before[0].messageID, chunk: 4096).count == Int(before[0].size))
        #expect(try await store.queueSummary(now: queueEpoch).total == 2)
        // Ids keep growing across reopen, even after the newest was deleted.
        #expect(try await store.deleteQueueEntries(e) == 2)
        try await store.close()
        store = try SQLiteMailStore(directory: dir)
        _ = try await store.deliver(outbound(remote: [remote("c@r.test")], queueID: "AGAIN"))
        #expect(try await store.queueEntries().first.map { $0.id > e[1] } == true)
        #expect(try await store.storedMessageCount() == 1)
        try await store.close()
    }

    /// Envelope addresses are values end to end: written as RFC 5321 text, parsed once where read; the
    /// routing domain of a Unicode domain is its A-label (issue 13 items 11 and 12), in both backends.
    @Test(arguments: Backend.allCases)
    func envelopeAddressesRoundTripTyped(_ backend: Backend) async throws {
        let (f, _) = try await setUp(backend)
        defer { Task { await f.cleanup() } }
        let s = f.store
        let sender = MailPath.mailbox(try address("\"a b\"@Bücher.Example"))
        let recipients = [
            remote("Anna@Bücher.Example"), remote("anna@xn--bcher-kva.example"), remote("x@[192.0.2.1]"),
            remote("ü@bücher.example")
        ]
        _ = try await s.deliver(
            outbound(
                remote: recipients, queueID: "IDN", sender: sender,
                envelope: OutboundEnvelope(smtpUTF8: true)))
        let entries = try await s.queueEntries(matching: "IDN")
        // The A-label spelling of the same mailbox is a duplicate; the U-label one was first and is kept.
        #expect(
            entries.map(\.recipient.address) == [
                try address("Anna@bücher.example"), try address("x@[192.0.2.1]"),
                try address("ü@bücher.example")
            ])
        #expect(entries.map(\.recipient.domain) == ["xn--bcher-kva.example", "[192.0.2.1]", "xn--bcher-kva.example"])
        #expect(entries.allSatisfy { $0.sender == sender })
        #expect(entries.first?.sender.description == "<\"a b\"@bücher.example>")
    }

    /// A row changed by hand into something that is not an address names its entry instead of guessing.
    @Test func sqliteNamesADamagedQueueRow() async throws {
        let (f, _) = try await setUp(.sqlite)
        defer { Task { await f.cleanup() } }
        let store = try #require(f.store as? SQLiteMailStore)
        _ = try await store.deliver(outbound(remote: [remote("r@r.test")], queueID: "DMG", sender: .mailbox(try address("s@src.test"))))
        _ = try await store.deliver(outbound(remote: [remote("ok@r.test")], queueID: "FINE", sender: .mailbox(try address("s@src.test"))))
        let id = try #require(try await store.queueEntries().first?.id)
        try await store.close()
        let db = try DatabaseQueue(path: f.directory + "/" + SQLiteMailStore.fileName)
        try await db.write { try $0.execute(sql: "UPDATE queue SET recipient = 'not an address' WHERE id = ?", arguments: [id]) }
        try db.close()
        let reopened = try SQLiteMailStore(directory: f.directory)
        defer { Task { try? await reopened.close() } }
        // The scan does not stop at the damaged row: the other entry is due, the damaged one is held with
        // the reason and no longer picked.
        let due = try await reopened.dueQueueEntries(now: Date().addingTimeInterval(3600), limit: 10, excluding: [])
        #expect(due.map(\.queueID) == ["FINE"])
        #expect(try await reopened.dueQueueEntries(now: Date().addingTimeInterval(3600), limit: 10, excluding: []).map(\.queueID) == ["FINE"])
        let held = try await reopened.read { db -> [String?] in
            guard let row = try Row.fetchOne(db, sql: "SELECT state, last_error FROM queue WHERE id = ?", arguments: [id]) else { return [] }
            return [row["state"], row["last_error"]]
        }
        #expect(held.first == "held")
        #expect(held.last??.contains("not an address") == true)
        do {
            _ = try await reopened.queueEntries()
            Issue.record("a damaged row was read")
        } catch let error as StoreError {
            #expect("\(error)".contains("queue entry \(id)") && "\(error)".contains("not an address"))
        }
        #expect(try await reopened.deleteQueueEntries([id]) == 1)
        #expect(try await reopened.queueEntries().map(\.queueID) == ["FINE"])
    }

    @Test func sqliteUpgradesAVersion1Database() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-queue-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // A database as the previous release left it: schema v1 with a domain, a mailbox and a message.
        do {
            let old = try DatabaseQueue(path: dir + "/" + SQLiteMailStore.fileName)
            try Schema.migrator().migrate(old, upTo: "v1")
            try await old.write { db in
                try db.execute(sql: "INSERT INTO domains (id, name, created_at) VALUES (1, 'example.test', 0)")
                try db.execute(
                    sql: """
                        INSERT INTO mailboxes (id, domain_id, address, created_at) VALUES (1, 1, 'a@example.test', 0)
                        """)
                try db.execute(
                    sql: """
                        INSERT INTO messages (id, queue_id, sender, received_at, size, body) VALUES (1, 'OLD', '<>', 0, 2, x'6869')
                        """)
                try db.execute(sql: "INSERT INTO deliveries (mailbox_id, message_id, created_at) VALUES (1, 1, 0)")
            }
            try old.close()
        }
        let store = try SQLiteMailStore(directory: dir)
        let list = try await store.messages(mailboxID: 1)
        #expect(list.map(\.queueID) == ["OLD"])
        #expect(try await store.queueEntries().isEmpty)
        _ = try await store.deliver(
            outbound(
                local: [1], remote: [remote("r@r.test")], queueID: "NEW",
                envelope: OutboundEnvelope(envelopeID: "E", smtpUTF8: true)))
        #expect(try await store.queueEntries(matching: "NEW").first?.envelope == OutboundEnvelope(envelopeID: "E", smtpUTF8: true))
        try await store.deleteMessages(mailboxID: 1, deliveryIDs: try await store.messages(mailboxID: 1).map(\.deliveryID))
        #expect(try await store.storedMessageCount() == 1)
        try await store.close()
    }
}
