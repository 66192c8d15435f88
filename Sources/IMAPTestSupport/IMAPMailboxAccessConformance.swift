/// The conformance suite for `IMAPMailboxAccess`: what every store backend must do for the IMAP core
/// (UIDs, MODSEQ, tombstones, hierarchy, COPY/MOVE, quota errors). The in-memory store runs it in
/// `Tests/IMAPCoreTests`; the SQLite and PostgreSQL backends must run it too (give `run` a factory that
/// creates a fresh user with INBOX and the default special-use folders).
import IMAPCore
import MailMIME

public struct IMAPConformanceFailure: Error, CustomStringConvertible {
    public var check: String
    public var description: String { "IMAPMailboxAccess conformance: \(check)" }
}

public enum IMAPMailboxAccessConformance {
    /// A fresh user's access, and a way to deliver into INBOX as the SMTP side does.
    public struct Subject: Sendable {
        public var access: any IMAPMailboxAccess
        public var deliver: @Sendable ([UInt8]) async throws -> Void

        public init(access: any IMAPMailboxAccess, deliver: @escaping @Sendable ([UInt8]) async throws -> Void) {
            self.access = access
            self.deliver = deliver
        }
    }

    static func expect(_ condition: Bool, _ check: @autoclosure () -> String) throws {
        if !condition { throw IMAPConformanceFailure(check: check()) }
    }

    static func expectError(_ expected: IMAPBackendError, _ check: String, _ body: () async throws(IMAPBackendError) -> Void) async throws {
        do {
            try await body()
        } catch {
            try expect(error == expected, "\(check): got \(error), expected \(expected)")
            return
        }
        throw IMAPConformanceFailure(check: "\(check): no error, expected \(expected)")
    }

    static func message(_ subject: String, _ body: String = "body") -> [UInt8] {
        Array("Subject: \(subject)\r\nFrom: a@example.test\r\n\r\n\(body)\r\n".utf8)
    }

    /// Runs every check on a fresh subject each; throws the first failure.
    public static func run(_ makeSubject: @Sendable () async throws -> Subject) async throws {
        try await hierarchy(makeSubject())
        try await uidsAndModSeqs(makeSubject())
        try await flagsAndConditionalStore(makeSubject())
        try await expungeAndTombstones(makeSubject())
        try await copyAndMove(makeSubject())
        try await fetchAndSearch(makeSubject())
    }

    static func hierarchy(_ s: Subject) async throws {
        let a = s.access
        let names = try await a.listMailboxes().map(\.name)
        try expect(names.contains("INBOX"), "INBOX exists")
        for (folder, use) in [("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash"), ("Junk", "\\Junk"), ("Archive", "\\Archive")] {
            let info = try await a.listMailboxes().first { $0.name == folder }
            try expect(info?.specialUse == [use], "\(folder) has \(use)")
        }
        try await a.createMailbox("p/q/r", specialUse: [])
        let after = Set(try await a.listMailboxes().map(\.name))
        try expect(after.isSuperset(of: ["p", "p/q", "p/q/r"]), "CREATE makes the parents")
        try await expectError(.alreadyExists, "CREATE existing") { () async throws(IMAPBackendError) in
            try await a.createMailbox("p/q", specialUse: [])
        }
        try await expectError(.hasChildren, "DELETE with children") { () async throws(IMAPBackendError) in try await a.deleteMailbox("p") }
        try await expectError(.nonexistent, "DELETE missing") { () async throws(IMAPBackendError) in try await a.deleteMailbox("nope") }
        let validity = try await a.status("p/q/r").uidValidity
        try await a.renameMailbox("p", to: "x/y")
        let renamed = Set(try await a.listMailboxes().map(\.name))
        try expect(renamed.isSuperset(of: ["x", "x/y", "x/y/q", "x/y/q/r"]) && !renamed.contains("p"), "RENAME moves the children")
        try expect(try await a.status("x/y/q/r").uidValidity == validity, "RENAME keeps UIDVALIDITY")
        try await expectError(.alreadyExists, "RENAME onto existing") { () async throws(IMAPBackendError) in
            try await a.renameMailbox("x", to: "Sent")
        }
        try await s.deliver(message("inbox"))
        try await a.renameMailbox("INBOX", to: "Old")
        try expect(try await a.status("INBOX").messages == 0, "RENAME INBOX empties INBOX")
        try expect(try await a.status("Old").messages == 1, "RENAME INBOX moves its messages")
        try await expectError(.nonexistent, "SUBSCRIBE of a missing name") { () async throws(IMAPBackendError) in
            try await a.setSubscribed("nowhere/box", true)
        }
        try await a.setSubscribed("nowhere/box", false) // UNSUBSCRIBE of a name never subscribed is OK
        try await a.createMailbox("ghost/box", specialUse: [])
        try await a.setSubscribed("ghost/box", true)
        try await a.deleteMailbox("ghost/box")
        let ghost = try await a.listMailboxes().first { $0.name == "ghost/box" }
        try expect(ghost?.isSubscribed == true && ghost?.exists == false, "a subscription to a missing name is listed")
        try await a.setSubscribed("ghost/box", false)
        try expect(try await a.listMailboxes().first { $0.name == "ghost/box" } == nil, "UNSUBSCRIBE removes it")
    }

    static func uidsAndModSeqs(_ s: Subject) async throws {
        let a = s.access
        var uids: [UInt32] = []
        for i in 0..<5 { uids.append(try await a.append(to: "Drafts", IMAPAppendMessage(bytes: message("m\(i)"))).uid) }
        try expect(uids == uids.sorted() && Set(uids).count == 5, "APPEND UIDs strictly ascend")
        let snap = try await a.select("Drafts")
        try expect(snap.uids == uids, "SELECT lists every UID ascending")
        try expect(snap.uidNext > (uids.last ?? 0), "UIDNEXT above every UID")
        let status = try await a.status("Drafts")
        try expect(status.messages == 5 && status.unseen == 5 && status.uidNext == snap.uidNext, "STATUS counts")
        try expect(status.size == UInt64(uids.indices.map { message("m\($0)").count }.reduce(0, +)), "STATUS SIZE is the octet total")
        let before = snap.highestModSeq
        _ = try await a.store(in: snap.id, uids: [uids[0]], .add([.seen]), unchangedSince: nil)
        let after = try await a.status("Drafts").highestModSeq
        try expect(after > before, "a flag change raises HIGHESTMODSEQ")
        let appended = try await a.append(
            to: "Drafts",
            IMAPAppendMessage(
                bytes: message("late"), flags: [.flagged],
                internalDate: IMAPDateTime(secondsSinceEpoch: 1000, zoneMinutes: 60)))
        try expect(appended.uid > (uids.last ?? 0) && appended.uidValidity == snap.uidValidity, "APPENDUID")
        let fetched = try await a.fetch(in: snap.id, uids: [appended.uid], content: .none, changedSince: nil)
        try expect(fetched.first?.metadata.flags == [.flagged], "APPEND keeps flags")
        try expect(fetched.first?.metadata.internalDate == IMAPDateTime(secondsSinceEpoch: 1000, zoneMinutes: 60), "APPEND keeps the date and zone")
        try await expectError(.nonexistent, "APPEND to a missing mailbox") { () async throws(IMAPBackendError) in
            _ = try await a.append(to: "nope", IMAPAppendMessage(bytes: message("x")))
        }
    }

    static func flagsAndConditionalStore(_ s: Subject) async throws {
        let a = s.access
        for i in 0..<3 { _ = try await a.append(to: "Sent", IMAPAppendMessage(bytes: message("s\(i)"))) }
        let snap = try await a.select("Sent")
        let u = snap.uids
        let r1 = try await a.store(in: snap.id, uids: u, .add([.seen, IMAPFlag("$Work")]), unchangedSince: nil)
        try expect(Set(r1.changed) == Set(u) && r1.messages.count == 3, "+FLAGS changes all")
        try expect(r1.messages.allSatisfy { Set($0.flags) == [.seen, IMAPFlag("$work")] }, "keywords compare case-insensitively")
        let r2 = try await a.store(in: snap.id, uids: u, .add([.seen]), unchangedSince: nil)
        try expect(r2.changed.isEmpty && r2.messages.count == 3, "no change, no new MODSEQ")
        let m0 = r1.messages.first { $0.uid == u[0] }?.modSeq ?? 0
        _ = try await a.store(in: snap.id, uids: [u[1]], .replace([.answered]), unchangedSince: nil)
        let r3 = try await a.store(in: snap.id, uids: [u[0], u[1]], .remove([.seen]), unchangedSince: m0)
        try expect(r3.failed == [u[1]] && r3.changed == [u[0]], "UNCHANGEDSINCE fails only the newer message")
        let changes = try await a.changes(in: snap.id, sinceModSeq: snap.highestModSeq, knownUIDNext: snap.uidNext)
        try expect(Set(changes.flagChanges.map(\.uid)) == Set(u), "changes report every changed message")
        try expect(changes.flagChanges.allSatisfy { $0.modSeq > snap.highestModSeq }, "changes carry their MODSEQ")
        try expect(changes.flagChanges.map(\.uid) == changes.flagChanges.map(\.uid).sorted(), "changes come in UID order")
        // FETCH … (CHANGEDSINCE): only what changed after the MODSEQ, among the UIDs asked for; all of them
        // when everything changed since (the store may read them another way).
        let r3Stamp = r3.messages.first { $0.uid == u[0] }?.modSeq ?? 0
        let since = try await a.fetch(in: snap.id, uids: u, content: .none, changedSince: r3Stamp - 1)
        try expect(since.map(\.metadata.uid) == [u[0]], "CHANGEDSINCE gives the message changed last")
        let subset = try await a.fetch(in: snap.id, uids: [u[1], u[2]], content: .none, changedSince: r3Stamp - 1)
        try expect(subset.isEmpty, "CHANGEDSINCE keeps to the UIDs asked for")
        let all = try await a.fetch(in: snap.id, uids: u, content: .none, changedSince: 0)
        try expect(all.map(\.metadata.uid) == u, "CHANGEDSINCE 0 gives every message")
        let none = try await a.fetch(in: snap.id, uids: u, content: .none, changedSince: r3Stamp)
        try expect(none.isEmpty, "nothing changed after the last MODSEQ")
    }

    static func expungeAndTombstones(_ s: Subject) async throws {
        let a = s.access
        for i in 0..<4 { _ = try await a.append(to: "Trash", IMAPAppendMessage(bytes: message("t\(i)"), flags: i % 2 == 0 ? [.deleted] : [])) }
        let snap = try await a.select("Trash")
        let u = snap.uids
        let none = try await a.expunge(in: snap.id, uids: [u[1]])
        try expect(none.isEmpty, "UID EXPUNGE spares messages without \\Deleted")
        let gone = try await a.expunge(in: snap.id, uids: nil)
        try expect(gone == [u[0], u[2]], "EXPUNGE removes the \\Deleted ones, ascending")
        let changes = try await a.changes(in: snap.id, sinceModSeq: snap.highestModSeq, knownUIDNext: snap.uidNext)
        switch changes.expunged {
        case .uids(let uids): try expect(Set(uids) == Set(gone), "changes report the expunged UIDs")
        case .unknown(let current): try expect(current == [u[1], u[3]], "or the current UIDs")
        }
        try expect(changes.highestModSeq > snap.highestModSeq, "EXPUNGE raises HIGHESTMODSEQ")
        if let vanished = try await a.vanished(in: snap.id, sinceModSeq: snap.highestModSeq, uids: [1...UInt32.max]) {
            try expect(vanished == gone, "VANISHED lists the tombstones")
        }
        let after = try await a.select("Trash")
        try expect(after.uids == [u[1], u[3]] && after.uidValidity == snap.uidValidity, "the rest stays")
        try await a.deleteMailbox("Trash")
        try await expectError(.mailboxGone, "changes of a deleted mailbox") { () async throws(IMAPBackendError) in
            _ = try await a.changes(in: snap.id, sinceModSeq: 0, knownUIDNext: 1)
        }
    }

    static func copyAndMove(_ s: Subject) async throws {
        let a = s.access
        for i in 0..<3 { _ = try await a.append(to: "Archive", IMAPAppendMessage(bytes: message("c\(i)"), flags: [.seen])) }
        let src = try await a.select("Archive")
        let junkBefore = try await a.select("Junk")
        let copied = try await a.copy(from: src.id, uids: src.uids, to: "Junk")
        try expect(copied.sourceUIDs == src.uids && copied.destinationUIDs.count == 3, "COPY pairs every UID")
        try expect(copied.destinationUIDs == copied.destinationUIDs.sorted() && copied.uidValidity == junkBefore.uidValidity, "COPYUID")
        let kept = try await a.fetch(in: junkBefore.id, uids: copied.destinationUIDs, content: .full, changedSince: nil)
        try expect(kept.allSatisfy { $0.metadata.flags == [.seen] }, "COPY keeps flags")
        try expect(kept.map { $0.content ?? [] } == (0..<3).map { message("c\($0)") }, "COPY keeps the octets, in order")
        let moved = try await a.move(from: src.id, uids: [src.uids[1]], to: "Junk")
        try expect(moved.sourceUIDs == [src.uids[1]], "MOVE")
        try expect(try await a.select("Archive").uids == [src.uids[0], src.uids[2]], "MOVE removes from the source")
        let changes = try await a.changes(in: src.id, sinceModSeq: src.highestModSeq, knownUIDNext: src.uidNext)
        if case .uids(let uids) = changes.expunged { try expect(uids == [src.uids[1]], "MOVE leaves a tombstone") }
        try await expectError(.nonexistent, "COPY to a missing mailbox") { () async throws(IMAPBackendError) in
            _ = try await a.copy(from: src.id, uids: src.uids, to: "nope")
        }
    }

    static func fetchAndSearch(_ s: Subject) async throws {
        let a = s.access
        try await s.deliver(message("Alpha", "first needle"))
        try await s.deliver(message("Beta", "second"))
        let snap = try await a.select("INBOX")
        try expect(snap.uids.count == 2, "delivered messages are in INBOX")
        let header = try await a.fetch(in: snap.id, uids: snap.uids, content: .header, changedSince: nil)
        try expect(
            header.map { $0.content ?? [] } == [
                Array("Subject: Alpha\r\nFrom: a@example.test\r\n\r\n".utf8),
                Array("Subject: Beta\r\nFrom: a@example.test\r\n\r\n".utf8)
            ], "header content ends after the empty line")
        try expect(
            header.map(\.metadata.size) == [UInt64(message("Alpha", "first needle").count), UInt64(message("Beta", "second").count)],
            "RFC822.SIZE is the stored size")
        let none = try await a.fetch(in: snap.id, uids: snap.uids, content: .none, changedSince: snap.highestModSeq)
        try expect(none.isEmpty, "CHANGEDSINCE the highest MODSEQ returns nothing")
        let found = try await a.search(in: snap.id, .and([.body(MIMESearchNeedle("NEEDLE")), .flag(.seen, false)]), uids: snap.uids)
        try expect(found == [snap.uids[0]], "SEARCH BODY")
        let subject = try await a.search(in: snap.id, .or(.header("Subject", MIMESearchNeedle("beta")), .larger(1_000_000)), uids: snap.uids)
        try expect(subject == [snap.uids[1]], "SEARCH SUBJECT")
    }
}
