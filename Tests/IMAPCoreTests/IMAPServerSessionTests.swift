import IMAPTestSupport
import MailCore
import Testing

@testable import IMAPCore

/// Session behaviour that transcripts cannot show: byte-by-byte input, buffering while an answer is
/// outstanding, the STARTTLS discard, COMPRESS keeping pipelined input, hostile sizes, batching of large FETCHes.
@Suite struct IMAPServerSessionTests {
    static let script =
        "a LOGIN {5}\r\nalice {6+}\r\nsecret\r\n"
        + "b SELECT INBOX\r\n"
        + "c FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODYSTRUCTURE)\r\n"
        + "d UID STORE 2 +FLAGS (\\Seen)\r\n"
        + "e SEARCH CHARSET UTF-8 TEXT {2}\r\nzz\r\n"
        + "f APPEND INBOX {12+}\r\nSubject: new\r\n"
        + "g IDLE\r\nDONE\r\n"
        + "h LOGOUT\r\n"

    static func store() async -> InMemoryIMAPStore {
        let store = InMemoryIMAPStore(firstUIDValidity: 100)
        await store.addUser("alice", password: "secret")
        for i in 1...3 { _ = try? await store.deliver(to: "alice", Array("Subject: m\(i)\r\n\r\nzz body \(i)\r\n".utf8)) }
        return store
    }

    /// The same output whether the client's bytes arrive at once or one at a time.
    @Test func byteByByteInputGivesTheSameDialog() async {
        let whole = IMAPTestConnection(store: await Self.store())
        await whole.connect()
        await whole.send(bytes(Self.script))
        let expected = whole.takeOutput()
        #expect(expected.contains("h OK LOGOUT completed"))
        #expect(expected.contains("* SEARCH 1 2 3"))
        #expect(expected.contains("f OK [APPENDUID 100 4] APPEND completed"))
        #expect(whole.isClosed)

        let single = IMAPTestConnection(store: await Self.store())
        await single.connect()
        for b in bytes(Self.script) { await single.send([b]) }
        #expect(single.takeOutput() == expected)
    }

    /// Commands pipelined behind one that waits for the store run afterwards, in order.
    @Test func pipelinedCommandsWaitForTheAnswer() async {
        var session = IMAPServerSession(configuration: IMAPServerConfiguration(hostname: "h"))
        _ = session.handle(.connected)
        let actions = session.handle(.received(bytes("a LOGIN alice secret\r\nb NOOP\r\nc NOOP\r\n")))
        #expect(actions == [.authenticate(username: "alice", password: "secret")])
        #expect(session.isAwaitingAnswer)
        #expect(session.bufferedByteCount == 16)
        let after = session.handle(.authenticated(.success(username: "alice")))
        guard case .send(let out)? = after.first, after.count == 1 else { Issue.record("\(after)"); return }
        let lines = text(out).components(separatedBy: "\r\n")
        #expect(lines.count == 4 && lines[0].hasPrefix("a OK [CAPABILITY ") && lines[1] == "b OK NOOP completed" && lines[2] == "c OK NOOP completed")
    }

    /// RFC 9051 §6.2.1 / CVE-2011-0411: commands sent after STARTTLS in the same packet are discarded.
    @Test func startTLSDiscardsPipelinedInput() {
        var configuration = IMAPServerConfiguration(hostname: "h")
        configuration.tlsAvailable = true
        var session = IMAPServerSession(configuration: configuration)
        _ = session.handle(.connected)
        let actions = session.handle(.received(bytes("a STARTTLS\r\nb LOGIN alice secret\r\n")))
        #expect(actions == [.send(bytes("a OK Begin TLS negotiation now\r\n")), .startTLS])
        #expect(session.bufferedByteCount == 0)
        #expect(session.handle(.tlsEstablished(TLSInfo(version: "TLSv1.3", cipher: "x"))) == [])
        #expect(session.isTLS && session.state == .notAuthenticated)
        #expect(session.handle(.received(bytes("c NOOP\r\n"))) == [.send(bytes("c OK NOOP completed\r\n"))])
    }

    /// RFC 4978 §3: octets pipelined after COMPRESS are compressed: neither executed nor dropped, but
    /// handed to the adapter (once) to be inflated.
    @Test func compressKeepsPipelinedInputForTheAdapter() {
        var configuration = IMAPServerConfiguration(hostname: "h")
        configuration.compressionAvailable = true
        var session = IMAPServerSession(configuration: configuration)
        _ = session.handle(.connected)
        _ = session.handle(.received(bytes("a LOGIN alice secret\r\n")))
        _ = session.handle(.authenticated(.success(username: "alice")))
        let compressed: [UInt8] = [0x4A, 0x03, 0x00, 0x0D, 0x0A, 0xFF]
        let actions = session.handle(.received(bytes("c COMPRESS DEFLATE\r\n") + compressed))
        #expect(actions == [.send(bytes("c OK DEFLATE active\r\n")), .startCompression])
        #expect(session.bufferedByteCount == 0)
        #expect(session.takeInputAfterCompress() == compressed)
        #expect(session.takeInputAfterCompress() == [])
        #expect(session.handle(.compressionStarted) == [])
        #expect(session.isCompressed)
        #expect(session.handle(.received(bytes("d NOOP\r\n"))) == [.send(bytes("d OK NOOP completed\r\n"))])
    }

    /// A line with no CRLF fed in 64 KiB pieces: one BAD once it passes 64 KiB, the session never holds
    /// more than a piece, and once more than `maxDiscardedLine` (1 MiB) of it has been dropped, BYE and
    /// close — nothing after that is framed.
    @Test func endlessLineIsRefusedWithoutBuffering() {
        var session = IMAPServerSession(configuration: IMAPServerConfiguration(hostname: "h"))
        _ = session.handle(.connected)
        var out: [UInt8] = []
        var closed = false
        var fed = 0
        let chunk = [UInt8](repeating: 0x61, count: 64 * 1024)
        for _ in 0..<160 where !closed {
            let actions = session.handle(.received(chunk))
            fed += chunk.count
            for action in actions {
                if case .send(let b) = action { out += b }
                if case .close = action { closed = true }
            }
            #expect(session.bufferedByteCount <= chunk.count)
        }
        #expect(text(out) == "* BAD Command line too long\r\n* BYE Command line too long\r\n")
        #expect(closed)
        #expect(fed > IMAPFramingLimits().maxLineLength + IMAPFramingLimits().maxDiscardedLine)
        #expect(fed <= IMAPFramingLimits().maxLineLength + IMAPFramingLimits().maxDiscardedLine + 2 * chunk.count)
        #expect(session.handle(.received(bytes("\r\nz NOOP\r\n"))).isEmpty)
    }

    /// A line that ends before `maxDiscardedLine` is only BAD: the next command is answered.
    @Test func overlongLineThatEndsIsDiscardedAndTheSessionGoesOn() {
        var session = IMAPServerSession(configuration: IMAPServerConfiguration(hostname: "h"))
        _ = session.handle(.connected)
        var out: [UInt8] = []
        let chunk = [UInt8](repeating: 0x61, count: 64 * 1024)
        for _ in 0..<8 {
            for case .send(let b) in session.handle(.received(chunk)) { out += b }
        }
        for case .send(let b) in session.handle(.received(bytes("\r\nz NOOP\r\n"))) { out += b }
        #expect(text(out) == "* BAD Command line too long\r\nz OK NOOP completed\r\n")
    }

    /// While an answer is outstanding the adapter should stop reading; past `maxPendingInput` the session gives up.
    @Test func pendingInputBackstop() {
        var configuration = IMAPServerConfiguration(hostname: "h")
        configuration.maxPendingInput = 1000
        var session = IMAPServerSession(configuration: configuration)
        _ = session.handle(.connected)
        _ = session.handle(.received(bytes("a LOGIN alice secret\r\n")))
        #expect(session.isAwaitingAnswer)
        #expect(session.handle(.received([UInt8](repeating: 0x61, count: 900))) == [])
        let actions = session.handle(.received([UInt8](repeating: 0x61, count: 200)))
        #expect(actions == [.send(bytes("* BYE Too much input while busy\r\n")), .close])
        #expect(session.isClosed)
    }

    /// A large FETCH goes to the store in batches (bounded memory), in order, with the right numbers.
    @Test func largeFetchIsBatched() async {
        let store = InMemoryIMAPStore()
        await store.addUser("alice", password: "secret", defaultFolders: false)
        for i in 1...120 { _ = try? await store.deliver(to: "alice", Array("Subject: \(i)\r\n\r\nbody\r\n".utf8)) }
        var configuration = IMAPServerConfiguration(hostname: "h")
        configuration.fetchBatchWithContent = 50
        let c = IMAPTestConnection(store: store, configuration: configuration)
        await c.connect()
        await c.send(line: "a LOGIN alice secret")
        await c.send(line: "b SELECT INBOX")
        _ = c.takeOutput()
        await c.send(line: "c FETCH 1:* (BODY.PEEK[])")
        let out = c.takeOutput()
        let fetches = c.requests.compactMap { r -> Int? in if case .fetch(_, let uids, .full, _) = r { return uids.count } else { return nil } }
        #expect(fetches == [50, 50, 20])
        #expect(out.components(separatedBy: " FETCH (").count == 121)
        #expect(out.contains("* 120 FETCH (BODY[] {22}\r\nSubject: 120\r\n\r\nbody\r\n)"))
        #expect(out.hasSuffix("c OK FETCH completed\r\n"))
    }

    /// Whole messages are batched by octets too: big messages go one at a time, after one index fetch.
    @Test func largeMessagesAreFetchedByOctets() async {
        let store = InMemoryIMAPStore()
        await store.addUser("alice", password: "secret", defaultFolders: false)
        let big = Array("Subject: big\r\n\r\n".utf8) + [UInt8](repeating: 0x61, count: 3 << 20)
        for _ in 1...3 { _ = try? await store.deliver(to: "alice", big) }
        for i in 1...4 { _ = try? await store.deliver(to: "alice", Array("Subject: \(i)\r\n\r\nsmall\r\n".utf8)) }
        let c = IMAPTestConnection(store: store)
        await c.connect()
        await c.send(line: "a LOGIN alice secret")
        await c.send(line: "b SELECT INBOX")
        _ = c.takeOutput()
        await c.send(line: "c FETCH 1:* (BODY.PEEK[])")
        let out = c.takeOutput()
        #expect(out.hasSuffix("c OK FETCH completed\r\n"))
        let fetches = c.requests.compactMap { r -> String? in
            guard case .fetch(_, let uids, let content, _) = r else { return nil }
            return "\(content == .full ? "full" : "index") \(uids.count)"
        }
        #expect(fetches == ["index 7", "full 1", "full 1", "full 5"]) // 3 MiB + 3 MiB > 4 MiB; the last big one and the small ones fit
    }

    /// A store notification that arrives while an IDLE poll is running leads to one more poll, so a
    /// change committed after the first poll's query is not missed.
    @Test func idleNotificationDuringPollPollsAgain() {
        var session = IMAPServerSession(configuration: IMAPServerConfiguration(hostname: "h"))
        _ = session.handle(.connected)
        _ = session.handle(.received(bytes("a LOGIN u p\r\nb SELECT INBOX\r\nc IDLE\r\n")))
        _ = session.handle(.authenticated(.success(username: "u")))
        let id = IMAPMailboxID(1)
        let afterSelect = session.handle(
            .backend(
                .selected(
                    IMAPMailboxSnapshot(
                        id: id, name: "INBOX", uidValidity: 9, uidNext: 2,
                        highestModSeq: 5, uids: [1]))))
        // IDLE's first poll; a rev1 SELECT claims new messages as \Recent
        #expect(afterSelect.last == .backend(.changes(id, sinceModSeq: 5, knownUIDNext: 2, claimRecent: true)))
        #expect(session.handle(.mailboxChanged) == []) // arrives mid-poll
        let first = session.handle(.backend(.changes(IMAPMailboxChanges(uidValidity: 9, uidNext: 2, highestModSeq: 5))))
        #expect(first == [.backend(.changes(id, sinceModSeq: 5, knownUIDNext: 2, claimRecent: true))])
        var changes = IMAPMailboxChanges(uidValidity: 9, uidNext: 3, highestModSeq: 6, newUIDs: [2])
        changes.recent = 2..<3
        let second = session.handle(.backend(.changes(changes)))
        #expect(second == [.send(bytes("* 2 EXISTS\r\n* 1 RECENT\r\n"))])
        #expect(session.handle(.received(bytes("DONE\r\n"))).first == .stopWatching)
    }

    /// \Recent (RFC 3501 §2.3.2): the first IMAP4rev1 SELECT claims the new messages (`* n RECENT`,
    /// `\Recent` in FETCH FLAGS), no other session gets them; mail arriving while selected is recent for the
    /// session that reports its EXISTS; EXAMINE and IMAP4rev2 sessions claim nothing; STATUS RECENT counts
    /// what is unclaimed.
    @Test func recentIsClaimedByOneRev1Select() async throws {
        let store = InMemoryIMAPStore()
        await store.addUser("alice", password: "secret")
        for i in 1...2 { _ = try await store.deliver(to: "alice", Array("Subject: \(i)\r\n\r\nbody\r\n".utf8)) }
        let rev2 = IMAPTestConnection(store: store)
        await rev2.connect()
        await rev2.send(line: "a LOGIN alice secret")
        await rev2.send(line: "b ENABLE IMAP4rev2")
        await rev2.send(line: "c SELECT INBOX")
        #expect(!rev2.takeOutput().contains("RECENT"))
        await rev2.send(line: "d FETCH 1:* (FLAGS)")
        #expect(!rev2.takeOutput().contains("\\Recent"))
        let examiner = IMAPTestConnection(store: store)
        await examiner.connect()
        await examiner.send(line: "a LOGIN alice secret")
        await examiner.send(line: "b EXAMINE INBOX")
        #expect(examiner.takeOutput().contains("* 0 RECENT\r\n"))
        await examiner.send(line: "c STATUS INBOX (MESSAGES RECENT)")
        #expect(examiner.takeOutput().contains("* STATUS INBOX (MESSAGES 2 RECENT 2)\r\n"))
        let one = IMAPTestConnection(store: store)
        await one.connect()
        await one.send(line: "a LOGIN alice secret")
        await one.send(line: "b SELECT INBOX")
        #expect(one.takeOutput().contains("* 2 EXISTS\r\n* 2 RECENT\r\n"))
        await one.send(line: "c FETCH 1:* (FLAGS)")
        #expect(one.takeOutput().hasPrefix("* 1 FETCH (FLAGS (\\Recent))\r\n* 2 FETCH (FLAGS (\\Recent))\r\n"))
        let two = IMAPTestConnection(store: store)
        await two.connect()
        await two.send(line: "a LOGIN alice secret")
        await two.send(line: "b STATUS INBOX (RECENT)")
        #expect(two.takeOutput().contains("* STATUS INBOX (RECENT 0)\r\n"))
        await two.send(line: "c SELECT INBOX")
        #expect(two.takeOutput().contains("* 2 EXISTS\r\n* 0 RECENT\r\n"))
        // New mail: recent for the session that reports it first, not for the other.
        _ = try await store.deliver(to: "alice", Array("Subject: 3\r\n\r\nbody\r\n".utf8))
        await two.send(line: "d NOOP")
        #expect(two.takeOutput() == "* 3 EXISTS\r\n* 1 RECENT\r\nd OK NOOP completed\r\n")
        await one.send(line: "d NOOP")
        #expect(one.takeOutput() == "* 3 EXISTS\r\n* 2 RECENT\r\nd OK NOOP completed\r\n")
        await two.send(line: "e FETCH 1:* (FLAGS)")
        #expect(two.takeOutput().hasPrefix("* 1 FETCH (FLAGS ())\r\n* 2 FETCH (FLAGS ())\r\n* 3 FETCH (FLAGS (\\Recent))\r\n"))
        await one.send(line: "e STORE 1 +FLAGS (\\Seen)")
        #expect(one.takeOutput().hasPrefix("* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n"))
        // SEARCH RECENT / NEW / OLD (RFC 3501 §6.4.4) follow each session's own claim.
        await one.send(line: "f SEARCH RECENT")
        #expect(one.takeOutput().hasPrefix("* SEARCH 1 2\r\n"))
        await one.send(line: "g SEARCH NEW")
        #expect(one.takeOutput().hasPrefix("* SEARCH 2\r\n"))
        await one.send(line: "h SEARCH OLD")
        #expect(one.takeOutput().hasPrefix("* SEARCH 3\r\n"))
        await two.send(line: "f UID SEARCH RECENT")
        #expect(two.takeOutput().hasPrefix("* SEARCH 3\r\n"))
        await two.send(line: "g SEARCH OR NEW 1")
        #expect(two.takeOutput().hasPrefix("* SEARCH 1 3\r\n"))
        await two.send(line: "h SEARCH OLD")
        #expect(two.takeOutput().hasPrefix("* SEARCH 1 2\r\n"))
        await rev2.send(line: "e0 NOOP")
        _ = rev2.takeOutput()
        await rev2.send(line: "e SEARCH RETURN () RECENT")
        #expect(rev2.takeOutput().hasPrefix("* ESEARCH (TAG \"e\")\r\n"))
        await examiner.send(line: "d0 NOOP")
        _ = examiner.takeOutput()
        await examiner.send(line: "d SEARCH OLD")
        #expect(examiner.takeOutput().hasPrefix("* SEARCH 1 2 3\r\n"))
    }

    /// The selected mailbox deleted by another session: BYE at the next poll.
    @Test func selectedMailboxDeletedElsewhere() async {
        let store = InMemoryIMAPStore()
        await store.addUser("alice", password: "secret")
        let one = IMAPTestConnection(store: store)
        await one.connect()
        await one.send(line: "a LOGIN alice secret")
        await one.send(line: "b SELECT Sent")
        _ = one.takeOutput()
        let two = IMAPTestConnection(store: store)
        await two.connect()
        await two.send(line: "a LOGIN alice secret")
        await two.send(line: "b DELETE Sent")
        #expect(two.takeOutput().hasSuffix("b OK DELETE completed\r\n"))
        await one.send(line: "c NOOP")
        #expect(one.takeOutput() == "* BYE Selected mailbox was deleted, closing connection\r\n")
        #expect(one.isClosed)
    }

    @Test func tooManyLoginFailuresClose() async {
        let store = InMemoryIMAPStore()
        await store.addUser("alice", password: "secret")
        let c = IMAPTestConnection(store: store)
        await c.connect()
        _ = c.takeOutput()
        for i in 1...3 { await c.send(line: "t\(i) LOGIN alice wrong") }
        #expect(c.takeOutput().hasSuffix("t3 NO [AUTHENTICATIONFAILED] Authentication failed\r\n* BYE Too many authentication failures\r\n"))
        #expect(c.isClosed)
    }

    /// Hostile message sets: 50,000 copies of "1:*", 40,000 single UIDs, a LIST pattern past the limit —
    /// answered quickly, de-duplicated, bounded.
    @Test func hostileSetsAndPatterns() async {
        let store = InMemoryIMAPStore()
        await store.addUser("alice", password: "secret", defaultFolders: false)
        for i in 1...2000 { _ = try? await store.deliver(to: "alice", Array("Subject: \(i)\r\n\r\nx\r\n".utf8), flags: i % 2 == 0 ? [.deleted] : []) }
        var configuration = IMAPServerConfiguration(hostname: "h")
        configuration.limits.maxLineLength = 1 << 20
        configuration.limits.maxCommandSize = 1 << 21
        let c = IMAPTestConnection(store: store, configuration: configuration)
        await c.connect()
        await c.send(line: "a LOGIN alice secret")
        await c.send(line: "b SELECT INBOX")
        _ = c.takeOutput()
        let clock = ContinuousClock()
        let start = clock.now
        await c.send(line: "c FETCH " + Array(repeating: "1:*", count: 50_000).joined(separator: ",") + " (UID)")
        let out = c.takeOutput()
        #expect(out.components(separatedBy: " FETCH (UID ").count == 2001)
        await c.send(line: "d UID SEARCH UID " + (1...40_000).map { String($0 * 2) }.joined(separator: ","))
        let search = c.takeOutput()
        #expect(search.hasPrefix("* SEARCH 2 4 6 ") && search.contains(" 2000\r\nd OK"))
        await c.send(line: "e LIST \"\" " + String(repeating: "*%", count: 600))
        #expect(c.takeOutput() == "e NO [LIMIT] Mailbox pattern too long\r\n")
        await c.send(line: "f EXPUNGE")
        let expunged = c.takeOutput()
        #expect(expunged.components(separatedBy: " EXPUNGE\r\n").count == 1001)
        #expect(expunged.hasPrefix("* 2 EXPUNGE\r\n* 3 EXPUNGE\r\n* 4 EXPUNGE\r\n"))
        #expect(clock.now - start < .seconds(60))
    }

    /// A flag change by another session that lands between this session's last poll and its own STORE is
    /// still reported (RFC 7162 §3.1: the client's view must converge): the session's own MODSEQ does not
    /// move the point from which it asks the store for changes past the other session's change.
    @Test func anotherSessionsChangeBeforeOwnStoreIsReported() async throws {
        let store = await Self.store()
        let a = IMAPTestConnection(store: store)
        await a.connect()
        await a.send(line: "a LOGIN alice secret")
        await a.send(line: "b SELECT INBOX (CONDSTORE)")
        _ = a.takeOutput()
        let b = IMAPTestConnection(store: store)
        await b.connect()
        await b.send(line: "a LOGIN alice secret")
        await b.send(line: "b SELECT INBOX")
        await b.send(line: "c STORE 1 +FLAGS (\\Flagged)")
        #expect(b.takeOutput().contains("c OK"))
        await a.send(line: "c UID STORE 3 +FLAGS.SILENT (\\Seen)")
        let out = a.takeOutput()
        #expect(out.contains("* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent) MODSEQ (5))"), "other session's change missing: \(out)")
        await a.send(line: "d NOOP")
        let again = a.takeOutput()
        #expect(!again.contains("FETCH"), "reported twice: \(again)")
        // A FETCH FLAGS of everything keeps no per-message state for changes already polled.
        await a.send(line: "e FETCH 1:* (FLAGS)")
        _ = a.takeOutput()
        #expect(a.session.selected?.tracker.reportedModSeq.isEmpty ?? false)
    }
}
