/// IMAP folders in the real store backends: the unchanged `IMAPMailboxAccessConformance` suite, delivery
/// into INBOX (UIDs in commit order under concurrent deliveries), POP3 on INBOX (a POP3 delete is an
/// IMAP expunge), change notifications and the "v8-imap-folders" migration of existing deliveries.
import Foundation
import GRDB
import IMAPCore
import IMAPTestSupport
import MailCore
import MailMIME
import MailStore
import MailTestSupport
import Synchronization
import Testing

@testable import MailStorePostgres
@testable import MailStoreSQLite

/// The backends with IMAP folders.
enum IMAPBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgresql

    static var allCases: [IMAPBackend] { PostgresTestCluster.shouldRun ? [.sqlite, .postgresql] : [.sqlite] }
    var testDescription: String { rawValue }

    func make() throws -> Fixture {
        try (self == .sqlite ? Backend.sqlite : Backend.postgresql).make()
    }
}

struct IMAPSubject: Sendable {
    let fixture: Fixture
    let mailboxID: Int64
    let provider: any IMAPMailboxProvider
    let access: any IMAPMailboxAccess

    func deliver(_ bytes: [UInt8], at seconds: Double = 1_700_000_000) async throws -> Int64 {
        let ids = try await fixture.store.deliver(
            IncomingMessage(
                queueID: "Q", sender: .null, localRecipients: [mailboxID], receivedAt: Date(timeIntervalSince1970: seconds),
                traceHeaders: [], body: .bytes(bytes)))
        return try #require(ids.first)
    }
}

func makeIMAPSubject(_ backend: IMAPBackend, user: String = "u") async throws -> IMAPSubject {
    let f = try backend.make()
    if try await !f.store.isLocalDomain("example.test") { _ = try await f.store.addDomain("example.test") }
    let box = try await f.store.addMailbox(EmailAddress(localPart: user, domain: "example.test"), passwordHash: nil, isAdmin: false)
    let provider = try #require(f.store as? any IMAPMailboxProvider, "the store provides IMAP")
    return IMAPSubject(fixture: f, mailboxID: box.id, provider: provider, access: try await provider.imapAccess(mailboxID: box.id))
}

func mail(_ subject: String) -> [UInt8] { Array("Subject: \(subject)\r\nFrom: a@example.test\r\n\r\nbody \(subject)\r\n".utf8) }

@Suite struct IMAPStoreTests {
    @Test(arguments: IMAPBackend.allCases)
    func conformance(_ backend: IMAPBackend) async throws {
        // Each check gets a fresh user (a new mailbox in one store): the suite's factory is synchronous
        // in what it captures, so the store is made once.
        let s = try await makeIMAPSubject(backend)
        let counter = Mutex(0)
        let fixture = s.fixture
        do {
            try await IMAPMailboxAccessConformance.run {
                let n = counter.withLock { n in
                    n += 1
                    return n
                }
                let box = try await fixture.store.addMailbox(
                    EmailAddress(localPart: "c\(n)", domain: "example.test"), passwordHash: nil, isAdmin: false)
                let user = IMAPSubject(
                    fixture: fixture, mailboxID: box.id, provider: s.provider, access: try await s.provider.imapAccess(mailboxID: box.id))
                return IMAPMailboxAccessConformance.Subject(access: user.access) { bytes in _ = try await user.deliver(bytes) }
            }
        } catch {
            await fixture.cleanup()
            throw error
        }
        await fixture.cleanup()
    }

    /// \Recent's first recent UID (SQLite "v10-imap-recent", PostgreSQL migration 6): STATUS RECENT counts
    /// the unclaimed messages, and of two sessions claiming at once exactly one gets them.
    @Test(arguments: IMAPBackend.allCases)
    func recentIsClaimedOnce(_ backend: IMAPBackend) async throws {
        let s = try await makeIMAPSubject(backend)
        _ = try await s.deliver(mail("one"))
        _ = try await s.deliver(mail("two"))
        #expect(try await s.access.status("INBOX").recent == 2)
        let snap = try await s.access.select("INBOX")
        let other = try await s.provider.imapAccess(mailboxID: s.mailboxID)
        async let a = s.access.claimRecent(in: snap.id)
        async let b = other.claimRecent(in: snap.id)
        let claims = [try await a, try await b]
        #expect(claims.contains(1..<3) && claims.contains { $0.isEmpty }, "\(claims)")
        #expect(try await s.access.status("INBOX").recent == 0)
        _ = try await s.deliver(mail("three"))
        #expect(try await s.access.status("INBOX").recent == 1)
        #expect(try await other.claimRecent(in: snap.id) == 3..<4)
        #expect(try await s.access.claimRecent(in: snap.id).isEmpty)
        _ = try await s.access.append(to: "Drafts", IMAPAppendMessage(bytes: mail("draft")))
        #expect(try await s.access.status("Drafts").recent == 1)
        #expect(try await s.access.status("INBOX").recent == 0)
        await s.fixture.cleanup()
    }

    /// Many concurrent deliveries (group commit batches them) get UIDs 1…n in INBOX, in delivery-id order,
    /// and a reader polling meanwhile only ever sees a gap-free prefix: no UID becomes visible before a lower one.
    @Test(arguments: IMAPBackend.allCases)
    func concurrentDeliveriesGetUIDsInCommitOrder(_ backend: IMAPBackend) async throws {
        let s = try await makeIMAPSubject(backend)
        let count = 60
        let observed = try await withThrowingTaskGroup(of: [[UInt32]].self) { group in
            group.addTask {
                var views: [[UInt32]] = []
                while views.last?.count ?? 0 < count, views.count < 20_000 {
                    views.append(try await s.access.select("INBOX").uids)
                    try await Task.sleep(for: .milliseconds(1))
                }
                return views
            }
            for i in 0..<count {
                group.addTask {
                    _ = try await s.deliver(mail("m\(i)"))
                    return []
                }
            }
            var all: [[UInt32]] = []
            for try await views in group { all += views }
            return all
        }
        // Usually many views; under heavy load the deliveries may all land before the first look.
        #expect(!observed.isEmpty)
        for view in observed {
            #expect(view == (0..<view.count).map { UInt32($0 + 1) }, "a visible gap: \(view)")
        }
        let snap = try await s.access.select("INBOX")
        #expect(snap.uids == Array(1...UInt32(count)))
        #expect(snap.uidNext == UInt32(count + 1))
        // POP3's listing is INBOX, in UID order, which is delivery order.
        let pop = try await s.fixture.store.messages(mailboxID: s.mailboxID)
        #expect(pop.count == count && pop.map(\.deliveryID) == pop.map(\.deliveryID).sorted())
        await s.fixture.cleanup()
    }

    @Test(arguments: IMAPBackend.allCases)
    func pop3DeleteIsAnIMAPExpunge(_ backend: IMAPBackend) async throws {
        let s = try await makeIMAPSubject(backend)
        let first = try await s.deliver(mail("one"))
        _ = try await s.deliver(mail("two"))
        let snap = try await s.access.select("INBOX")
        #expect(snap.uids == [1, 2])
        let changes = s.provider.mailboxChanges(snap.id)
        var wake = changes.makeAsyncIterator()
        try await s.fixture.store.deleteMessages(mailboxID: s.mailboxID, deliveryIDs: [first])
        #expect(await wake.next() != nil, "watchers of INBOX are woken")
        let after = try await s.access.changes(in: snap.id, sinceModSeq: snap.highestModSeq, knownUIDNext: snap.uidNext)
        #expect(after.expunged == .uids([1]))
        #expect(after.highestModSeq > snap.highestModSeq)
        #expect(try await s.access.vanished(in: snap.id, sinceModSeq: snap.highestModSeq, uids: [1...10]) == [1])
        #expect(try await s.access.select("INBOX").uids == [2])
        // Messages in other folders are not POP3's: a message moved out of INBOX leaves the listing.
        _ = try await s.access.move(from: snap.id, uids: [2], to: "Archive")
        #expect(try await s.fixture.store.messages(mailboxID: s.mailboxID).isEmpty)
        #expect(try await s.fixture.store.retrievableMessages(mailboxID: s.mailboxID).isEmpty)
        // A message appended to INBOX over IMAP is POP3's too.
        _ = try await s.access.append(to: "INBOX", IMAPAppendMessage(bytes: mail("appended")))
        let listed = try await s.fixture.store.messages(mailboxID: s.mailboxID)
        #expect(listed.count == 1 && listed.first?.size == Int64(mail("appended").count))
        await s.fixture.cleanup()
    }

    /// POP3 UIDLs are the INBOX's UIDVALIDITY and the UID in 8 hex digits each (as Dovecot), on both stores:
    /// unique per message, the same at every login, never reused for a later message.
    @Test(arguments: IMAPBackend.allCases)
    func pop3UniqueIDsAreUIDValidityAndUID(_ backend: IMAPBackend) async throws {
        let s = try await makeIMAPSubject(backend)
        let first = try await s.deliver(mail("one"))
        _ = try await s.deliver(mail("two"))
        let snap = try await s.access.select("INBOX")
        let listing = try await s.fixture.store.retrievableMessages(mailboxID: s.mailboxID)
        #expect(listing.map(\.uniqueID) == snap.uids.map { RetrievableMessage.uniqueID(uidValidity: snap.uidValidity, uid: $0) })
        #expect(listing.allSatisfy { $0.uniqueID.utf8.count == 16 && $0.uniqueID.utf8.allSatisfy { (0x21...0x7E).contains($0) } })
        #expect(try await s.fixture.store.retrievableMessages(mailboxID: s.mailboxID) == listing, "stable across logins")
        // A deleted message's id is not given to the next one.
        try await s.fixture.store.deleteMessages(mailboxID: s.mailboxID, deliveryIDs: [first])
        _ = try await s.deliver(mail("three"))
        let after = try await s.fixture.store.retrievableMessages(mailboxID: s.mailboxID).map(\.uniqueID)
        #expect(after.count == 2 && after[0] == listing[1].uniqueID)
        #expect(after[1] == RetrievableMessage.uniqueID(uidValidity: snap.uidValidity, uid: 3))
        #expect(!listing.map(\.uniqueID).contains(after[1]))
        await s.fixture.cleanup()
    }

    @Test func uniqueIDFormat() {
        #expect(RetrievableMessage.uniqueID(uidValidity: 0x6570_E1C0, uid: 1) == "6570e1c000000001")
        #expect(RetrievableMessage.uniqueID(uidValidity: 1, uid: 0xFFFF_FFFF) == "00000001ffffffff")
        #expect(RetrievableMessage(deliveryID: 12, bodyID: 1, size: 1).uniqueID == "12")
    }

    @Test(arguments: IMAPBackend.allCases)
    func deliveryWakesINBOXWatchers(_ backend: IMAPBackend) async throws {
        let s = try await makeIMAPSubject(backend)
        let snap = try await s.access.select("INBOX")
        var wake = s.provider.mailboxChanges(snap.id).makeAsyncIterator()
        _ = try await s.deliver(mail("hello"))
        #expect(await wake.next() != nil)
        let changes = try await s.access.changes(in: snap.id, sinceModSeq: snap.highestModSeq, knownUIDNext: snap.uidNext)
        #expect(changes.newUIDs == [1])
        await s.fixture.cleanup()
    }

    @Test(arguments: IMAPBackend.allCases)
    func foldersAreSeparatePerMailboxAndGoWithIt(_ backend: IMAPBackend) async throws {
        let s = try await makeIMAPSubject(backend)
        let other = try await s.fixture.store.addMailbox(EmailAddress(localPart: "v", domain: "example.test"), passwordHash: nil, isAdmin: false)
        let otherAccess = try await s.provider.imapAccess(mailboxID: other.id)
        try await s.access.createMailbox("Private", specialUse: [])
        #expect(try await otherAccess.listMailboxes().contains { $0.name == "Private" } == false)
        let mine = try await s.access.select("INBOX")
        await #expect(throws: IMAPBackendError.mailboxGone) {
            _ = try await otherAccess.changes(in: mine.id, sinceModSeq: 0, knownUIDNext: 1)
        }
        try await s.fixture.store.removeMailbox(EmailAddress(localPart: "u", domain: "example.test"))
        await #expect(throws: IMAPBackendError.nonexistent) { _ = try await s.provider.imapAccess(mailboxID: s.mailboxID) }
        await s.fixture.cleanup()
    }

    /// FETCH gets what the store knows of each message's octets (`IMAPStoredMessage.form`, so it can skip its
    /// NUL scan): the form SMTP recorded, joined with the trace headers'; nothing for APPEND; a COPY keeps its
    /// source's (the body is shared) and a MOVE too. The form is checked through what FETCH then sends as well.
    @Test(arguments: IMAPBackend.allCases)
    func fetchCarriesTheStoredForm(_ backend: IMAPBackend) async throws {
        let s = try await makeIMAPSubject(backend)
        var incoming = IncomingMessage(
            queueID: "Q", sender: .null, localRecipients: [s.mailboxID], receivedAt: Date(timeIntervalSince1970: 1_700_000_000),
            traceHeaders: Array("Received: from test\r\n".utf8), body: .bytes(mail("smtp")))
        incoming.bodyForm = .smtpData(lineStartsWithDot: false)
        _ = try await s.fixture.store.deliver(incoming)
        incoming.bodyForm = .smtpData(lineStartsWithDot: true)
        _ = try await s.fixture.store.deliver(incoming)
        let withNUL = Array("Subject: n\r\n\r\na\u{0}b\r\n".utf8)
        _ = try await s.access.append(to: "INBOX", IMAPAppendMessage(bytes: withNUL))
        try await s.access.createMailbox("Kept", specialUse: [])
        try await s.access.createMailbox("Moved", specialUse: [])
        let inbox = try await s.access.select("INBOX")
        _ = try await s.access.copy(from: inbox.id, uids: [1, 3], to: "Kept")
        _ = try await s.access.move(from: inbox.id, uids: [2], to: "Moved")
        let all: BodyForm = [.crlfLines, .noDotLineStart, .noNUL]
        let fetched = try await s.access.fetch(in: inbox.id, uids: [1, 3], content: .full, changedSince: nil)
        #expect(fetched.map(\.form) == [all, []])
        let kept = try await s.access.select("Kept")
        #expect(try await s.access.fetch(in: kept.id, uids: [1, 2], content: .full, changedSince: nil).map(\.form) == [all, []])
        let moved = try await s.access.select("Moved")
        #expect(try await s.access.fetch(in: moved.id, uids: [1], content: .header, changedSince: nil).map(\.form) == [[.crlfLines, .noNUL]])
        // What FETCH BODY[] makes of them: the appended NUL as 0x80, the SMTP message as stored.
        let rendered = fetched.map {
            IMAPFetchRenderer.render($0, items: [.bodySection(MIMESectionSpec(), partial: nil, peek: true)]).values
        }
        #expect(rendered[0] == [.bodySection(MIMESectionSpec(), origin: nil, IMAPMessageText(fetched[0].content ?? []))])
        #expect(fetched[0].content == Array("Received: from test\r\n".utf8) + mail("smtp"))
        #expect(rendered[1] == [.bodySection(MIMESectionSpec(), origin: nil, IMAPMessageText(withNUL.map { $0 == 0 ? 0x80 : $0 }))])
        await s.fixture.cleanup()
    }
}

@Suite struct SQLiteIMAPMigrationTests {
    /// A store made before "v8-imap-folders": its deliveries become INBOX messages with UIDs in delivery
    /// order, every mailbox gets the default folders, and POP3's UIDLs (delivery ids) stay.
    @Test func existingDeliveriesMoveIntoINBOX() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-v8-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let pool = try DatabasePool(path: dir + "/" + SQLiteMailStore.fileName)
        let old = Schema.migrator()
        try old.migrate(pool, upTo: "v5-scram-verifier")
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO domains (id, name, created_at) VALUES (1, 'example.test', 0)")
            try db.execute(sql: "INSERT INTO mailboxes (id, domain_id, address, created_at) VALUES (7, 1, 'u@example.test', 0)")
            for (id, text) in [(1, "first"), (2, "second")] {
                let body = mail(text)
                try db.execute(
                    sql: "INSERT INTO messages (id, queue_id, sender, received_at, size, body) VALUES (?, 'Q', '', ?, ?, ?)",
                    arguments: [id, 1_700_000_000 + id, body.count, Data(body)])
            }
            try db.execute(sql: "INSERT INTO deliveries (id, mailbox_id, message_id, created_at) VALUES (40, 7, 2, 0), (41, 7, 1, 0)")
        }
        try pool.close()
        let store = try SQLiteMailStore(directory: dir)
        let access = try await store.imapAccess(mailboxID: 7)
        let names = Set(try await access.listMailboxes().map(\.name))
        #expect(names == ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"])
        let snap = try await access.select("INBOX")
        #expect(snap.uids == [1, 2] && snap.uidNext == 3)
        let fetched = try await access.fetch(in: snap.id, uids: [1, 2], content: .full, changedSince: nil)
        #expect(fetched.map { $0.content ?? [] } == [mail("second"), mail("first")])
        #expect(fetched.map(\.metadata.internalDate.secondsSinceEpoch) == [1_700_000_002, 1_700_000_001])
        #expect(try await store.messages(mailboxID: 7).map(\.deliveryID) == [40, 41])
        // "v9-quota" copied each delivery's size: the usage is right without any new mail, and no limit is set.
        let migratedUsage = MailboxUsage(messages: 2, storage: Int64(mail("first").count + mail("second").count))
        #expect(try await store.quotaStatus(mailboxID: 7) == MailboxQuotaStatus(quota: .unlimited, usage: migratedUsage))
        // "v10-imap-recent": mail from before is not \Recent; new mail is.
        #expect(try await access.status("INBOX").recent == 0)
        #expect(try await access.claimRecent(in: snap.id).isEmpty)
        // New mail continues after the migrated UIDs.
        let ids = try await store.deliver(
            IncomingMessage(queueID: "N", sender: .null, localRecipients: [7], receivedAt: Date(), traceHeaders: [], body: .bytes(mail("new"))))
        #expect(try await access.select("INBOX").uids == [1, 2, 3])
        #expect(try await access.status("INBOX").recent == 1)
        #expect(ids.first.map { $0 > 41 } == true)
        try await store.close()
    }

    /// SELECT's cache of large folders (`IMAPSelectCache`) never answers a folder that changed — here
    /// changed by another handle on the same file, as `petrel` CLI commands or a second process would: a
    /// delivery, a flag change (keyword and \Seen), an expunge, each seen by the next SELECT.
    @Test func selectOfALargeFolderFollowsChangesFromAnotherHandle() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-selcache-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let options = SQLiteMailStore.Options(selectCacheMinimumCount: 2)
        let store = try SQLiteMailStore(directory: dir, options: options)
        _ = try await store.addDomain("example.test")
        let box = try await store.addMailbox(EmailAddress(localPart: "u", domain: "example.test"), passwordHash: nil, isAdmin: false)
        let other = try SQLiteMailStore(directory: dir, options: options)
        func deliver(_ s: SQLiteMailStore, _ text: String) async throws {
            _ = try await s.deliver(
                IncomingMessage(
                    queueID: "Q", sender: .null, localRecipients: [box.id], receivedAt: Date(), traceHeaders: [], body: .bytes(mail(text))))
        }
        for i in 1...3 { try await deliver(store, "m\(i)") }
        let access = try await store.imapAccess(mailboxID: box.id)
        let first = try await access.select("INBOX")
        #expect(first.uids == [1, 2, 3] && first.firstUnseenUID == 1 && first.keywords.isEmpty)
        #expect(store.selectCache.heldUIDs == 3)
        #expect(try await access.select("INBOX") == first)
        try await deliver(other, "m4")
        #expect(try await access.select("INBOX").uids == [1, 2, 3, 4])
        let otherAccess = try await other.imapAccess(mailboxID: box.id)
        let id = first.id
        _ = try await otherAccess.store(in: id, uids: [1, 2], .add([.seen, IMAPFlag("$Work")]), unchangedSince: nil)
        let flagged = try await access.select("INBOX")
        #expect(flagged.firstUnseenUID == 3 && flagged.keywords == [IMAPFlag("$Work")])
        _ = try await otherAccess.store(in: id, uids: [3], .add([.deleted]), unchangedSince: nil)
        _ = try await otherAccess.expunge(in: id, uids: nil)
        let expunged = try await access.select("INBOX")
        #expect(expunged.uids == [1, 2, 4] && expunged.firstUnseenUID == 4)
        try await other.close()
        try await store.close()
    }

    /// FETCH of index data from a folder in the state SELECT read comes from the cache's `IMAPFolderIndex`:
    /// the same answer as the rows give (a store with the cache off, on the same file), for every UID asked,
    /// in the order asked, with CHANGEDSINCE; a change from another handle is seen at once (the folder's
    /// key no longer matches, so the rows are read).
    @Test func fetchOfIndexDataFromTheCacheEqualsTheRows() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-idxcache-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let store = try SQLiteMailStore(directory: dir, options: SQLiteMailStore.Options(selectCacheMinimumCount: 2))
        let uncached = try SQLiteMailStore(directory: dir, options: SQLiteMailStore.Options(selectCacheUIDs: 0))
        _ = try await store.addDomain("example.test")
        let box = try await store.addMailbox(EmailAddress(localPart: "u", domain: "example.test"), passwordHash: nil, isAdmin: false)
        let access = try await store.imapAccess(mailboxID: box.id)
        let plain = try await uncached.imapAccess(mailboxID: box.id)
        let dates = [
            IMAPDateTime(secondsSinceEpoch: 1_700_000_000, zoneMinutes: 120), IMAPDateTime(secondsSinceEpoch: 1_600_000_000, zoneMinutes: -300)
        ]
        let lists: [[IMAPFlag]] = [[], [.seen], [.seen, .answered], [IMAPFlag("$Work")], [.flagged, IMAPFlag("$Later")]]
        for i in 0..<12 {
            _ = try await access.append(
                to: "INBOX",
                IMAPAppendMessage(bytes: mail("m\(i)" + String(repeating: "x", count: i)), flags: lists[i % lists.count], internalDate: dates[i % 2]))
        }
        let snapshot = try await access.select("INBOX")
        let id = snapshot.id
        _ = try await access.expunge(in: id, uids: nil)
        #expect(store.selectCache.heldUIDs == 12)
        let asked: [[UInt32]] = [Array(1...12), [12, 3, 7, 99, 1], [], [40, 41]]
        for uids in asked {
            for since: UInt64? in [nil, 0, 5, 11, 1000] {
                let cached = try await access.fetch(in: id, uids: uids, content: .none, changedSince: since)
                let rows = try await plain.fetch(in: id, uids: uids, content: .none, changedSince: since)
                #expect(cached.map(\.metadata.uid).sorted() == rows.map(\.metadata.uid), "\(uids) since \(String(describing: since))")
                #expect(cached.sorted { $0.metadata.uid < $1.metadata.uid } == rows, "\(uids) since \(String(describing: since))")
            }
        }
        #expect(try await access.fetch(in: id, uids: [12, 3, 7], content: .none, changedSince: nil).map(\.metadata.uid) == [12, 3, 7])
        // Changes on the other handle (flags, a new keyword, an expunge, new messages): the next FETCH sees
        // them, from the cached index brought up to date (its state is the folder's now, without a SELECT),
        // and SELECT answers as a store without the cache does.
        _ = try await plain.store(in: id, uids: [2], .replace([.deleted, IMAPFlag("$New")]), unchangedSince: nil)
        let after = try await access.fetch(in: id, uids: [2], content: .none, changedSince: nil)
        #expect(after.first?.metadata.flags.sorted() == [.deleted, IMAPFlag("$New")].sorted())
        #expect(store.selectCache.latest(folder: id.rawValue)?.key.highestModSeq == (try await plain.status("INBOX")).highestModSeq)
        _ = try await plain.store(in: id, uids: [1, 6], .add([.seen]), unchangedSince: nil)
        _ = try await plain.expunge(in: id, uids: nil)
        for i in 0..<3 { _ = try await plain.append(to: "INBOX", IMAPAppendMessage(bytes: mail("new\(i)"), flags: [IMAPFlag("$Fresh")])) }
        let all = Array(1...20) as [UInt32]
        for since: UInt64? in [nil, 0, 14] {
            let cached = try await access.fetch(in: id, uids: all, content: .none, changedSince: since)
            #expect(cached == (try await plain.fetch(in: id, uids: all, content: .none, changedSince: since)))
        }
        let current = try await plain.select("INBOX")
        #expect(store.selectCache.latest(folder: id.rawValue)?.key.highestModSeq == current.highestModSeq)
        let reselected = try await access.select("INBOX")
        #expect(reselected == current && reselected.uids == [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], "\(reselected)")
        #expect(reselected.keywords.contains(IMAPFlag("$Fresh")) && !reselected.keywords.contains(IMAPFlag("$New")))
        try await uncached.close()
        try await store.close()
    }
}

@Suite struct PostgresIMAPMigrationTests {
    /// A database at schema version 1 with mail: migration 4 moves the deliveries into INBOX (UIDs in
    /// delivery order, INTERNALDATE the time received), gives every mailbox its folders, keeps the
    /// delivery ids (POP3 UIDLs), and new mail continues after the migrated UIDs.
    @Test(.enabled(if: PostgresTestCluster.shouldRun))
    func existingDeliveriesMoveIntoINBOX() async throws {
        let schema = "t_v4_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let cluster = try PostgresTestCluster.shared.get()
        let v1 = try #require(PostgresSchema.migrations.first { $0.version == 1 })
        let body1 = mail("first"), body2 = mail("second")
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        _ = try cluster.psql(
            "CREATE SCHEMA \(schema); SET search_path TO \(schema); " + v1.statements.joined(separator: "; ") + "; "
                + """
                CREATE TABLE petrel_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL);
                INSERT INTO petrel_migrations VALUES (1, 'v1-initial', 0);
                INSERT INTO domains (name, created_at) VALUES ('example.test', 0);
                INSERT INTO mailboxes (domain_id, address, created_at) SELECT id, 'u@example.test', 0 FROM domains;
                INSERT INTO messages (queue_id, sender, received_at, size) VALUES ('Q1', '', 1700000001, \(body1.count));
                INSERT INTO messages (queue_id, sender, received_at, size) VALUES ('Q2', '', 1700000002, \(body2.count));
                INSERT INTO message_parts SELECT id, 0, '\\x\(hex(body1))'::bytea FROM messages WHERE queue_id = 'Q1';
                INSERT INTO message_parts SELECT id, 0, '\\x\(hex(body2))'::bytea FROM messages WHERE queue_id = 'Q2';
                INSERT INTO deliveries (mailbox_id, message_id, created_at) SELECT m.id, msg.id, 0 FROM mailboxes m, messages msg
                    WHERE msg.queue_id = 'Q2';
                INSERT INTO deliveries (mailbox_id, message_id, created_at) SELECT m.id, msg.id, 0 FROM mailboxes m, messages msg
                    WHERE msg.queue_id = 'Q1';
                """)
        let store = try Backend.postgresStore(schema: schema)
        let box = try #require(try await store.mailbox(EmailAddress(localPart: "u", domain: "example.test")))
        let before = try await store.messages(mailboxID: box.id).map(\.deliveryID)
        #expect(try await store.schemaVersion() == PostgresMailStore.latestSchemaVersion)
        let access = try await store.imapAccess(mailboxID: box.id)
        #expect(Set(try await access.listMailboxes().map(\.name)) == ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"])
        let snap = try await access.select("INBOX")
        #expect(snap.uids == [1, 2] && snap.uidNext == 3)
        let fetched = try await access.fetch(in: snap.id, uids: [1, 2], content: .full, changedSince: nil)
        #expect(fetched.map { $0.content ?? [] } == [body2, body1])
        #expect(fetched.map(\.metadata.internalDate.secondsSinceEpoch) == [1_700_000_002, 1_700_000_001])
        #expect(before.count == 2 && before == before.sorted())
        // Migration 5 copied each delivery's size: the usage is right without any new mail, and no limit is set.
        #expect(
            try await store.quotaStatus(mailboxID: box.id)
                == MailboxQuotaStatus(quota: .unlimited, usage: MailboxUsage(messages: 2, storage: Int64(body1.count + body2.count))))
        // Migration 6: mail from before is not \Recent; new mail is.
        #expect(try await access.status("INBOX").recent == 0)
        #expect(try await access.claimRecent(in: snap.id).isEmpty)
        _ = try await store.deliver(
            IncomingMessage(queueID: "N", sender: .null, localRecipients: [box.id], receivedAt: Date(), traceHeaders: [], body: .bytes(mail("new"))))
        #expect(try await access.select("INBOX").uids == [1, 2, 3])
        #expect(try await access.status("INBOX").recent == 1)
        try await store.close()
    }
}

@Suite struct SQLiteBodyFormMigrationTests {
    /// A store made before "v11-body-form" and "v12-queue-dsn": the queue entry of an older message still
    /// has its ENVID and RET (read from the message row), the older delivery has no body form (POP3 scans
    /// it as before); new mail keeps ENVID and RET on its queue entries, not after the body on `messages`,
    /// and its deliveries carry the form the receiver gave.
    @Test func olderMessagesKeepTheirDSNParametersAndHaveNoForm() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-v12-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let pool = try DatabasePool(path: dir + "/" + SQLiteMailStore.fileName)
        try Schema.migrator().migrate(pool, upTo: "v10-imap-recent")
        let box = (id: Int64(7), address: "u@example.test")
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO domains (id, name, created_at) VALUES (1, 'example.test', 0)")
            try db.execute(sql: "INSERT INTO mailboxes (id, domain_id, address, created_at) VALUES (7, 1, 'u@example.test', 0)")
            try db.execute(sql: "INSERT INTO imap_folders (id, mailbox_id, name, uid_validity, uid_next) VALUES (3, 7, 'INBOX', 1, 2)")
            try db.execute(
                sql: """
                    INSERT INTO messages (id, queue_id, sender, received_at, size, body, envid, ret)
                    VALUES (90, 'OLD', '<a@remote.test>', 0, 5, x'6869210d0a', 'old-envid', 'HDRS')
                    """)
            try db.execute(
                sql: """
                    INSERT INTO queue (message_id, recipient, domain, arrived_at, next_attempt)
                    VALUES (90, 'r@remote.test', 'remote.test', 0, 0)
                    """)
            try db.execute(
                sql: "INSERT INTO deliveries (mailbox_id, message_id, created_at, folder_id, uid, size) VALUES (7, 90, 0, 3, 1, 5)")
        }
        try pool.close()

        let store = try SQLiteMailStore(directory: dir)
        let old = try #require(try await store.queueEntries().first)
        #expect(old.envelope.envelopeID == "old-envid" && old.envelope.dsnReturn == .headers)
        #expect(try await store.retrievableMessages(mailboxID: box.id).map(\.form) == [[]])

        var incoming = IncomingMessage(
            queueID: "NEW", sender: .null, localRecipients: [box.id], receivedAt: Date(), traceHeaders: [],
            body: .bytes(Array("Subject: n\r\n\r\nnew\r\n".utf8)),
            remoteRecipients: [OutboundRecipient(address: try #require(EmailAddress("s@remote.test")))],
            envelope: OutboundEnvelope(envelopeID: "new-envid", dsnReturn: .full), bodyForm: .smtpData(lineStartsWithDot: false))
        incoming.queueID = "NEW"
        _ = try await store.deliver(incoming)
        let entries = try await store.queueEntries().filter { $0.queueID == "NEW" }
        #expect(entries.map(\.envelope.envelopeID) == ["new-envid"] && entries.map(\.envelope.dsnReturn) == [.full])
        #expect(try await store.retrievableMessages(mailboxID: box.id).map(\.form) == [[], [.crlfLines, .noDotLineStart, .noNUL]])
        let onMessages = try await store.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM messages WHERE queue_id = 'NEW' AND envid IS NULL AND ret IS NULL")
        }
        #expect(onMessages == 1)
        try await store.close()
    }
}
