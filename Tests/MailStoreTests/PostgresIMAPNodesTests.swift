/// IMAP changes across nodes on one PostgreSQL: a delivery, a flag change and an expunge made through
/// one store instance (node A) wake the watchers of that folder in another (node B) through
/// `NOTIFY petrel_imap_<schema>` and B's `LISTEN` connection, and B's store then reports the change; a store
/// in another schema is not woken; after the LISTEN connection is killed, B listens again and wakes every
/// watcher once. The payload format (`IMAPFolderNotification`) stays under PostgreSQL's 8000-octet limit.
import Foundation
import IMAPCore
import MailCore
import MailStore
import MailTestSupport
import Testing

@testable import MailStorePostgres

@Suite struct PostgresIMAPNodesTests {
    typealias RingCounter = PostgresQueueWakeUpTests.RingCounter

    func schema() -> String { "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }

    /// Waits until `store` LISTENs for IMAP changes and the server shows that connection.
    func waitForListener(_ store: PostgresMailStore, _ cluster: PostgresTestCluster, schema: String) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let count = try cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %petrel_imap_\(schema)%'")
            if store.isListeningForIMAPChanges, (Int(count.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 1 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("no IMAP LISTEN connection for \(schema)")
    }

    func mail(_ subject: String, to box: Int64) -> IncomingMessage {
        IncomingMessage(
            queueID: "Q", sender: .null, localRecipients: [box], receivedAt: Date(timeIntervalSince1970: 1_700_000_000), traceHeaders: [],
            body: .bytes(Array("Subject: \(subject)\r\n\r\nbody\r\n".utf8)))
    }

    @Test(.enabled(if: PostgresTestCluster.shouldRun))
    func changesOnOneNodeWakeWatchersOnTheOther() async throws {
        let cluster = try PostgresTestCluster.shared.get()
        let name = schema()
        let nodeA = try Backend.postgresStore(schema: name)
        let nodeB = try Backend.postgresStore(schema: name)
        let otherName = schema()
        let elsewhere = try Backend.postgresStore(schema: otherName)
        defer {
            Task {
                try? await nodeA.close()
                try? await nodeB.close()
                try? await elsewhere.close()
            }
        }
        _ = try await nodeA.addDomain("example.test")
        let box = try await nodeA.addMailbox(address("u@example.test"), passwordHash: nil, isAdmin: false)
        let accessA = try await nodeA.imapAccess(mailboxID: box.id)
        let accessB = try await nodeB.imapAccess(mailboxID: box.id)
        let snap = try await accessB.select("INBOX")
        let wakeB = RingCounter(nodeB.mailboxChanges(snap.id))
        // The same folder id in another schema is another folder: its watcher must stay asleep.
        _ = try await elsewhere.addDomain("example.test")
        let other = try await elsewhere.addMailbox(address("u@example.test"), passwordHash: nil, isAdmin: false)
        let otherSnap = try await elsewhere.imapAccess(mailboxID: other.id).select("INBOX")
        #expect(otherSnap.id == snap.id, "both schemas start their ids at 1")
        let wakeOther = RingCounter(elsewhere.mailboxChanges(otherSnap.id))
        defer {
            wakeB.stop()
            wakeOther.stop()
        }
        try await waitForListener(nodeB, cluster, schema: name)
        try await waitForListener(elsewhere, cluster, schema: otherName)
        // The LISTEN coming into force wakes the watchers there are (what was sent before it is not lost):
        // perhaps none yet (the listeners started at `imapAccess`).
        try await Task.sleep(for: .milliseconds(300))
        let otherBefore = wakeOther.value

        // Mail delivered on A: B's watcher wakes and B sees the new UID.
        var before = wakeB.value
        _ = try await nodeA.deliver(mail("one", to: box.id))
        #expect(await wakeB.rings(after: before, within: 10))
        let delivered = try await accessB.changes(in: snap.id, sinceModSeq: snap.highestModSeq, knownUIDNext: snap.uidNext)
        #expect(delivered.newUIDs == [1])

        // Flags changed on A.
        before = wakeB.value
        _ = try await accessA.store(in: snap.id, uids: [1], .add([.seen, .deleted]), unchangedSince: nil)
        #expect(await wakeB.rings(after: before, within: 10))
        let flagged = try await accessB.changes(in: snap.id, sinceModSeq: delivered.highestModSeq, knownUIDNext: delivered.uidNext)
        #expect(flagged.flagChanges.map(\.uid) == [1])
        #expect(flagged.flagChanges.first?.flags.contains(.seen) == true)

        // Expunged on A.
        before = wakeB.value
        #expect(try await accessA.expunge(in: snap.id, uids: nil) == [1])
        #expect(await wakeB.rings(after: before, within: 10))
        let expunged = try await accessB.changes(in: snap.id, sinceModSeq: flagged.highestModSeq, knownUIDNext: flagged.uidNext)
        #expect(expunged.expunged == .uids([1]))

        // A second wake-up (the node's own NOTIFY coming back) finds nothing more to report.
        let again = try await accessB.changes(in: snap.id, sinceModSeq: expunged.highestModSeq, knownUIDNext: expunged.uidNext)
        #expect(again.newUIDs.isEmpty && again.flagChanges.isEmpty && again.expunged == .uids([]))

        #expect(await !wakeOther.rings(after: otherBefore, within: 0.5))
    }

    @Test(.enabled(if: PostgresTestCluster.shouldRun))
    func theIMAPListenerReconnects() async throws {
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
        _ = try await nodeA.addDomain("example.test")
        let box = try await nodeA.addMailbox(address("u@example.test"), passwordHash: nil, isAdmin: false)
        let snap = try await nodeB.imapAccess(mailboxID: box.id).select("INBOX")
        let wakeB = RingCounter(nodeB.mailboxChanges(snap.id))
        defer { wakeB.stop() }
        // The listener started at imapAccess, so its first "LISTEN in force" ring may have come before
        // the subscription above: no expectation on it.
        try await waitForListener(nodeB, cluster, schema: name)
        try await Task.sleep(for: .milliseconds(200))
        var before = wakeB.value
        _ = try cluster.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %petrel_imap_\(name)%'")
        // Back within a few seconds, with one wake-up for what may have been missed…
        #expect(await wakeB.rings(after: before, within: 15))
        try await waitForListener(nodeB, cluster, schema: name)
        // …and other nodes' changes arrive again.
        try await Task.sleep(for: .milliseconds(200))
        before = wakeB.value
        _ = try await nodeA.deliver(mail("again", to: box.id))
        #expect(await wakeB.rings(after: before, within: 10))
    }

    @Test func payloadsStayUnderTheLimitAndParseBack() {
        #expect(IMAPFolderNotification.payloads([3, 1, 3, 2]) == ["1,2,3"])
        #expect(IMAPFolderNotification.payloads([]).isEmpty)
        let many = (1...3000).map { Int64(1_000_000_000_000 + $0) }
        let payloads = IMAPFolderNotification.payloads(many)
        #expect(payloads.count > 1)
        #expect(payloads.allSatisfy { $0.utf8.count <= IMAPFolderNotification.maxPayload && $0.utf8.count < 8000 })
        #expect(payloads.flatMap(IMAPFolderNotification.folderIDs).map(\.rawValue) == many)
        // Whatever else someone sends on the channel is ignored.
        #expect(IMAPFolderNotification.folderIDs("").isEmpty)
        #expect(IMAPFolderNotification.folderIDs("x,,7,-,99999999999999999999,\u{0}").map(\.rawValue) == [7])
    }

    /// SELECT's cache of large folders (`IMAPSelectCache`) on node B never answers a folder node A changed:
    /// a delivery, a flag change and an expunge on A are each in B's next SELECT.
    @Test(.enabled(if: PostgresTestCluster.shouldRun))
    func selectOnOneNodeFollowsChangesOnTheOther() async throws {
        let name = schema()
        let nodeA = try Backend.postgresStore(schema: name, selectCacheMinimumCount: 2)
        let nodeB = try Backend.postgresStore(schema: name, selectCacheMinimumCount: 2)
        defer {
            Task {
                try? await nodeA.close()
                try? await nodeB.close()
            }
        }
        _ = try await nodeA.addDomain("example.test")
        let box = try await nodeA.addMailbox(address("u@example.test"), passwordHash: nil, isAdmin: false)
        for i in 1...3 { _ = try await nodeA.deliver(mail("m\(i)", to: box.id)) }
        let accessA = try await nodeA.imapAccess(mailboxID: box.id)
        let accessB = try await nodeB.imapAccess(mailboxID: box.id)
        let first = try await accessB.select("INBOX")
        #expect(first.uids == [1, 2, 3] && first.firstUnseenUID == 1)
        #expect(nodeB.selectCache.heldUIDs == 3)
        #expect(try await accessB.select("INBOX") == first)
        _ = try await nodeA.deliver(mail("m4", to: box.id))
        #expect(try await accessB.select("INBOX").uids == [1, 2, 3, 4])
        _ = try await accessA.store(in: first.id, uids: [1, 2], .add([.seen, IMAPFlag("$Work")]), unchangedSince: nil)
        let flagged = try await accessB.select("INBOX")
        #expect(flagged.firstUnseenUID == 3 && flagged.keywords == [IMAPFlag("$Work")])
        _ = try await accessA.store(in: first.id, uids: [3], .add([.deleted]), unchangedSince: nil)
        _ = try await accessA.expunge(in: first.id, uids: nil)
        let expunged = try await accessB.select("INBOX")
        #expect(expunged.uids == [1, 2, 4] && expunged.firstUnseenUID == 4)
        // FETCH of index data on node B after a change on node A: from B's cached index brought up to date,
        // equal to what A reads from the rows (A has no cached index: it never selected the folder).
        _ = try await accessA.store(in: first.id, uids: [2], .replace([.flagged]), unchangedSince: nil)
        _ = try await nodeA.deliver(mail("m5", to: box.id))
        let all: [UInt32] = [1, 2, 3, 4, 5]
        for since: UInt64? in [nil, 0, expunged.highestModSeq] {
            let fromB = try await accessB.fetch(in: first.id, uids: all, content: .none, changedSince: since)
            #expect(fromB == (try await accessA.fetch(in: first.id, uids: all, content: .none, changedSince: since)))
        }
        #expect(nodeA.selectCache.heldUIDs == 0)
        #expect(nodeB.selectCache.latest(folder: first.id.rawValue)?.key.highestModSeq == (try await accessA.status("INBOX")).highestModSeq)
    }
}
