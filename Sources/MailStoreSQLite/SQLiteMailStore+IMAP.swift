/// IMAP over the SQLite store: `IMAPMailboxProvider` (one `SQLiteIMAPAccess` per logged-in store mailbox,
/// change notifications from the in-process `IMAPChangeHub`) and `IMAPMailboxAccess` over `imap_folders`,
/// `deliveries` (one row per message in a folder: UID, MODSEQ, flags, INTERNALDATE; the body is the shared
/// `messages` row) and `imap_expunged` (tombstones). Writes run in GRDB write transactions (BEGIN
/// IMMEDIATE: one writer at a time, across processes), so UIDs and MODSEQs are assigned in commit order.
/// Notifications reach sessions of this process only; another process on the same file (the CLI) wakes
/// nobody, and sessions notice its changes at their next command or poll.
import Foundation
import GRDB
import GRDBSQLite
import IMAPCore
import MailCore
import MailMIME
import MailStore

extension SQLiteMailStore: IMAPMailboxProvider {
    public func imapAccess(mailboxID: Int64) async throws(IMAPBackendError) -> any IMAPMailboxAccess {
        let now = nowSeconds
        try await imapWrite { db in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM mailboxes WHERE id = ?", arguments: [mailboxID]) != nil else {
                throw IMAPBackendError.nonexistent
            }
            _ = try SQLiteFolders.inbox(db, mailboxID: mailboxID, now: now)
        }
        return SQLiteIMAPAccess(store: self, mailboxID: mailboxID)
    }

    public func mailboxChanges(_ mailbox: IMAPMailboxID) -> AsyncStream<Void> {
        imapChanges.stream(mailbox)
    }

    /// A read for IMAP: `IMAPBackendError`s pass through; database failures become `.unavailable` (busy)
    /// or `.serverBug`.
    func imapRead<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(IMAPBackendError) -> T {
        do {
            try checkOpen()
            return try await pool.read(body)
        } catch {
            throw Self.imapError(error)
        }
    }

    func imapWrite<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(IMAPBackendError) -> T {
        do {
            try checkOpen()
            return try await pool.write(body)
        } catch {
            throw Self.imapError(error)
        }
    }

    static func imapError(_ error: any Error) -> IMAPBackendError {
        if let e = error as? IMAPBackendError { return e }
        if let e = error as? DatabaseError, e.resultCode == .SQLITE_BUSY || e.resultCode == .SQLITE_LOCKED { return .unavailable }
        return .serverBug(String(describing: error))
    }
}

/// One store mailbox's IMAP view of the SQLite store.
public struct SQLiteIMAPAccess: IMAPMailboxAccess {
    let store: SQLiteMailStore
    let mailboxID: Int64
    /// The largest message APPEND stores (APPENDLIMIT is the adapter's; this is the store's backstop).
    static let maxMessageSize = Int(Int32.max)

    var now: Double { store.nowSeconds }

    func folderOrGone(_ db: Database, _ id: IMAPMailboxID) throws -> SQLiteFolders.Folder {
        guard let f = try SQLiteFolders.folder(db, mailboxID: mailboxID, id: id.rawValue) else { throw IMAPBackendError.mailboxGone }
        return f
    }

    func folderNamed(_ db: Database, _ name: String) throws -> SQLiteFolders.Folder {
        guard let f = try SQLiteFolders.folder(db, mailboxID: mailboxID, name: name) else { throw IMAPBackendError.nonexistent }
        return f
    }

    // MARK: Mailboxes

    public func listMailboxes() async throws(IMAPBackendError) -> [IMAPMailboxInfo] {
        let mailboxID = self.mailboxID
        return try await store.imapRead { db in
            let subscribed = Set(try String.fetchAll(db, sql: "SELECT name FROM imap_subscriptions WHERE mailbox_id = ?", arguments: [mailboxID]))
            let folders = try SQLiteFolders.folders(db, mailboxID: mailboxID)
            var out = folders.map { IMAPMailboxInfo(name: $0.name, specialUse: $0.specialUse, isSubscribed: subscribed.contains($0.name)) }
            let names = Set(folders.map(\.name))
            for name in subscribed where !names.contains(name) {
                out.append(IMAPMailboxInfo(name: name, isSubscribed: true, exists: false))
            }
            return out.sorted { $0.name < $1.name }
        }
    }

    static func validName(_ name: String) throws {
        guard !name.isEmpty, !name.hasPrefix("/"), !name.hasSuffix("/"), !name.contains("//"), name.utf8.count <= 1024,
            !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else { throw IMAPBackendError.cannot("invalid mailbox name") }
    }

    /// Creates the missing parents of `name` (RFC 9051 §6.3.4).
    static func createParents(_ db: Database, mailboxID: Int64, of name: String, now: Double) throws {
        var parts = name.split(separator: "/").map(String.init)
        var prefixes: [String] = []
        while parts.count > 1 {
            parts.removeLast()
            prefixes.append(parts.joined(separator: "/"))
        }
        for parent in prefixes.reversed() where try SQLiteFolders.folder(db, mailboxID: mailboxID, name: parent) == nil {
            try SQLiteFolders.create(db, mailboxID: mailboxID, name: parent, specialUse: [], now: now)
        }
    }

    public func createMailbox(_ name: String, specialUse: [String]) async throws(IMAPBackendError) {
        let (mailboxID, now) = (self.mailboxID, self.now)
        try await store.imapWrite { db in
            try Self.validName(name)
            guard try SQLiteFolders.folder(db, mailboxID: mailboxID, name: name) == nil else { throw IMAPBackendError.alreadyExists }
            try Self.createParents(db, mailboxID: mailboxID, of: name, now: now)
            try SQLiteFolders.create(db, mailboxID: mailboxID, name: name, specialUse: specialUse, now: now)
        }
    }

    public func deleteMailbox(_ name: String) async throws(IMAPBackendError) {
        let mailboxID = self.mailboxID
        let id = try await store.imapWrite { db in
            guard name != "INBOX" else { throw IMAPBackendError.cannot("INBOX cannot be deleted") }
            guard let folder = try SQLiteFolders.folder(db, mailboxID: mailboxID, name: name) else { throw IMAPBackendError.nonexistent }
            let children =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM imap_folders WHERE mailbox_id = ? AND substr(name, 1, ?) = ?",
                    arguments: [mailboxID, name.unicodeScalars.count + 1, name + "/"]) ?? 0
            guard children == 0 else { throw IMAPBackendError.hasChildren }
            try SQLiteFolders.delete(db, folderID: folder.id)
            return folder.id
        }
        store.imapChanges.notify([IMAPMailboxID(id)])
    }

    public func renameMailbox(_ name: String, to newName: String) async throws(IMAPBackendError) {
        let (mailboxID, now) = (self.mailboxID, self.now)
        let touched = try await store.imapWrite { db -> [Int64] in
            try Self.validName(newName)
            let source = try folderNamed(db, name)
            guard try SQLiteFolders.folder(db, mailboxID: mailboxID, name: newName) == nil else { throw IMAPBackendError.alreadyExists }
            if name == "INBOX" {
                // RFC 9051 §6.3.6: INBOX's messages move to the new mailbox; INBOX stays, empty.
                try Self.createParents(db, mailboxID: mailboxID, of: newName, now: now)
                let target = try SQLiteFolders.create(db, mailboxID: mailboxID, name: newName, specialUse: [], now: now)
                let rows = try Self.rows(db, folderID: source.id, uids: nil)
                try Self.moveRows(db, rows, from: source.id, to: target, now: now)
                return [source.id, target]
            }
            guard !newName.hasPrefix(name + "/") else { throw IMAPBackendError.cannot("a mailbox cannot be moved into itself") }
            let prefix = name + "/"
            let inferiors = try SQLiteFolders.folders(db, mailboxID: mailboxID).filter { $0.name.hasPrefix(prefix) }
            for folder in inferiors {
                let renamed = newName + folder.name.dropFirst(name.count)
                guard try SQLiteFolders.folder(db, mailboxID: mailboxID, name: renamed) == nil else { throw IMAPBackendError.alreadyExists }
            }
            let rename = try db.cachedStatement(sql: "UPDATE imap_folders SET name = ? WHERE id = ?")
            try rename.execute(arguments: [newName, source.id])
            for folder in inferiors { try rename.execute(arguments: [newName + folder.name.dropFirst(name.count), folder.id]) }
            try Self.createParents(db, mailboxID: mailboxID, of: newName, now: now)
            return []
        }
        store.imapChanges.notify(touched.map(IMAPMailboxID.init))
    }

    public func setSubscribed(_ name: String, _ subscribed: Bool) async throws(IMAPBackendError) {
        let mailboxID = self.mailboxID
        try await store.imapWrite { db in
            if subscribed {
                try Self.validName(name)
                _ = try folderNamed(db, name)
                try db.execute(sql: "INSERT OR IGNORE INTO imap_subscriptions (mailbox_id, name) VALUES (?, ?)", arguments: [mailboxID, name])
            } else {
                try db.execute(sql: "DELETE FROM imap_subscriptions WHERE mailbox_id = ? AND name = ?", arguments: [mailboxID, name])
            }
        }
    }

    public func status(_ name: String) async throws(IMAPBackendError) -> IMAPMailboxStatus {
        try await store.imapRead { db in
            let f = try folderNamed(db, name)
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(
                        sql: """
                            SELECT COUNT(*), COALESCE(SUM(instr(d.flags, ' \\Seen ') = 0), 0),
                                   COALESCE(SUM(instr(d.flags, ' \\Deleted ') > 0), 0), COALESCE(SUM(m.size), 0),
                                   COALESCE(SUM(d.uid >= fo.first_recent_uid), 0)
                            FROM deliveries d JOIN messages m ON m.id = d.message_id JOIN imap_folders fo ON fo.id = d.folder_id
                            WHERE d.folder_id = ?
                            """), arguments: [f.id])
            else { throw IMAPBackendError.serverBug("status") }
            return IMAPMailboxStatus(
                messages: UInt32(clamping: try row.decode(Int64.self, atIndex: 0)), uidNext: f.uidNext, uidValidity: f.uidValidity,
                unseen: UInt32(clamping: try row.decode(Int64.self, atIndex: 1)),
                deleted: UInt32(clamping: try row.decode(Int64.self, atIndex: 2)),
                size: UInt64(clamping: try row.decode(Int64.self, atIndex: 3)), highestModSeq: f.highestModSeq,
                recent: UInt32(clamping: try row.decode(Int64.self, atIndex: 4)))
        }
    }

    public func claimRecent(in mailbox: IMAPMailboxID) async throws(IMAPBackendError) -> Range<UInt32> {
        let mailboxID = self.mailboxID
        // One write transaction (SQLite has one writer): read and move first_recent_uid together.
        return try await store.imapWrite { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT first_recent_uid, uid_next FROM imap_folders WHERE id = ? AND mailbox_id = ?",
                    arguments: [mailbox.rawValue, mailboxID])
            else { throw IMAPBackendError.mailboxGone }
            let first = UInt32(clamping: try row.decode(Int64.self, atIndex: 0))
            let next = UInt32(clamping: try row.decode(Int64.self, atIndex: 1))
            guard first < next else { return first..<first }
            try db.execute(sql: "UPDATE imap_folders SET first_recent_uid = ? WHERE id = ?", arguments: [Int64(next), mailbox.rawValue])
            return first..<next
        }
    }

    // MARK: Selected mailbox

    /// A large folder in a state SELECT has read before is answered from `IMAPSelectCache`. Otherwise one
    /// pass over the folder's index rows in UID order, read through SQLite's C API (no row objects): the
    /// UIDs, the first UID without \Seen, the keywords in use, and every message's index data for the
    /// cache (`IMAPFolderIndex`, which FETCH of index data answers from) — a flags text is decoded only when
    /// it differs from the previous row's and was not met before.
    public func select(_ name: String) async throws(IMAPBackendError) -> IMAPMailboxSnapshot {
        let cache = store.selectCache
        return try await store.imapRead { db in
            let f = try folderNamed(db, name)
            let key = IMAPSelectCache.Key(folder: f.id, uidValidity: f.uidValidity, highestModSeq: f.highestModSeq, uidNext: f.uidNext)
            if let known = try Self.currentEntry(db, f, cache: cache) {
                return IMAPMailboxSnapshot(
                    id: IMAPMailboxID(f.id), name: f.name, uidValidity: f.uidValidity, uidNext: f.uidNext,
                    highestModSeq: f.highestModSeq, uids: known.uids, keywords: known.keywords, firstUnseenUID: known.firstUnseenUID)
            }
            var index = IMAPFolderIndex()
            // Set when the index cannot hold the folder (more distinct flag lists than it keeps): the UIDs go on here.
            var plainUIDs: [UInt32]?
            var keywords = Set<IMAPFlag>()
            var firstUnseen: UInt32?
            var flagLists: [[UInt8]: Int] = [:]
            var previous: [UInt8] = []
            var previousList: Int?
            let statement = try db.cachedStatement(
                sql: """
                    SELECT uid, flags, modseq, COALESCE(internal_date, 0), internal_zone, size
                    FROM deliveries WHERE folder_id = ? ORDER BY uid
                    """)
            let cursor = try Row.fetchCursor(statement, arguments: [f.id])
            let raw = statement.sqliteStatement
            while try cursor.next() != nil {
                let uid = UInt32(truncatingIfNeeded: sqlite3_column_int64(raw, 0))
                let text = sqlite3_column_text(raw, 1)
                let flags = UnsafeBufferPointer(start: text, count: text == nil ? 0 : Int(sqlite3_column_bytes(raw, 1)))
                if firstUnseen == nil, !SQLiteFolders.flagsText(flags, contains: SQLiteFolders.seenToken) { firstUnseen = uid }
                if previousList == nil || !flags.elementsEqual(previous) {
                    previous = Array(flags)
                    if let known = flagLists[previous] {
                        previousList = known
                    } else {
                        let list = SQLiteFolders.decode(String(decoding: flags, as: UTF8.self))
                        for flag in list where !flag.isSystem { keywords.insert(flag) }
                        previousList = index.addFlagList(list)
                        flagLists[previous] = previousList
                    }
                }
                if plainUIDs != nil {
                    plainUIDs?.append(uid)
                    continue
                }
                let date = IMAPDateTime(
                    secondsSinceEpoch: sqlite3_column_int64(raw, 3), zoneMinutes: Int(sqlite3_column_int64(raw, 4)))
                if let list = previousList,
                    index.append(
                        uid: uid, flagList: list, modSeq: UInt64(clamping: sqlite3_column_int64(raw, 2)), internalDate: date,
                        size: UInt64(clamping: sqlite3_column_int64(raw, 5)))
                {
                    continue
                }
                plainUIDs = index.uids + [uid]
            }
            let sortedKeywords = keywords.sorted()
            if let plainUIDs {
                cache.forget(folder: f.id)
                return IMAPMailboxSnapshot(
                    id: IMAPMailboxID(f.id), name: f.name, uidValidity: f.uidValidity, uidNext: f.uidNext,
                    highestModSeq: f.highestModSeq, uids: plainUIDs, keywords: sortedKeywords, firstUnseenUID: firstUnseen)
            }
            cache.store(key, IMAPSelectCache.Entry(index: index, keywords: sortedKeywords, firstUnseenUID: firstUnseen))
            return IMAPMailboxSnapshot(
                id: IMAPMailboxID(f.id), name: f.name, uidValidity: f.uidValidity, uidNext: f.uidNext,
                highestModSeq: f.highestModSeq, uids: index.uids, keywords: sortedKeywords, firstUnseenUID: firstUnseen)
        }
    }

    /// The cached entry of folder `f` in its current state: the one SELECT kept, or an older one brought up
    /// to date from the rows whose MODSEQ rose since (through the (folder_id, modseq) index) and the
    /// tombstones of what was expunged since — a few rows, not the folder. Nil when there is none, or it
    /// cannot be brought up to date: another UIDVALIDITY, tombstones purged past its state, or more changes
    /// than a quarter of the folder (then reading every row is as cheap).
    static func currentEntry(_ db: Database, _ f: SQLiteFolders.Folder, cache: IMAPSelectCache) throws -> IMAPSelectCache.Entry? {
        let key = IMAPSelectCache.Key(folder: f.id, uidValidity: f.uidValidity, highestModSeq: f.highestModSeq, uidNext: f.uidNext)
        switch cache.lookup(key, purgedModSeq: f.purgedModSeq) {
        case .current(let entry): return entry
        case .none: return nil
        case .stale(let old, let sinceModSeq, let limit):
            let since = Int64(clamping: sinceModSeq)
            var changes: [IMAPMessageMetadata] = []
            var decoded: [String: [IMAPFlag]] = [:]
            let cursor = try Row.fetchCursor(
                db.cachedStatement(
                    sql: """
                        SELECT uid, flags, modseq, COALESCE(internal_date, 0), internal_zone, size
                        FROM deliveries WHERE folder_id = ? AND modseq > ? LIMIT ?
                        """), arguments: [f.id, since, limit + 1])
            while let row = try cursor.next() {
                let text: String = try row.decode(String.self, atIndex: 1)
                let flags = decoded[text] ?? SQLiteFolders.decode(text)
                decoded[text] = flags
                changes.append(
                    IMAPMessageMetadata(
                        uid: UInt32(truncatingIfNeeded: try row.decode(Int64.self, atIndex: 0)), flags: flags,
                        internalDate: IMAPDateTime(
                            secondsSinceEpoch: try row.decode(Int64.self, atIndex: 3), zoneMinutes: try row.decode(Int.self, atIndex: 4)),
                        size: UInt64(clamping: try row.decode(Int64.self, atIndex: 5)),
                        modSeq: UInt64(clamping: try row.decode(Int64.self, atIndex: 2))))
            }
            let expunged = try Int64.fetchAll(
                db.cachedStatement(sql: "SELECT uid FROM imap_expunged WHERE folder_id = ? AND modseq > ? LIMIT ?"),
                arguments: [f.id, since, limit + 1])
            return cache.refresh(
                old, to: key, changes: changes, expunged: expunged.map { UInt32(truncatingIfNeeded: $0) }, limit: limit)
        }
    }

    public func changes(in mailbox: IMAPMailboxID, sinceModSeq modSeq: UInt64, knownUIDNext uidNext: UInt32)
        async throws(IMAPBackendError) -> IMAPMailboxChanges
    {
        try await store.imapRead { db in
            let f = try folderOrGone(db, mailbox)
            let since = Int64(clamping: modSeq)
            let newUIDs = try Int64.fetchAll(
                db, sql: "SELECT uid FROM deliveries WHERE folder_id = ? AND uid >= ? ORDER BY uid", arguments: [f.id, uidNext]
            ).map { UInt32(truncatingIfNeeded: $0) }
            // Through the (folder_id, modseq) index: the cost is what changed, not the folder's size (with
            // `uid < ?` and ORDER BY uid the planner would walk the UID index over every message).
            let flagChanges = try Row.fetchAll(
                db, sql: "SELECT uid, flags, modseq FROM deliveries WHERE folder_id = ? AND modseq > ? ORDER BY modseq",
                arguments: [f.id, since]
            ).compactMap { row -> IMAPFlagChange? in
                let uid = UInt32(truncatingIfNeeded: try row.decode(Int64.self, atIndex: 0))
                guard uid < uidNext else { return nil }
                return IMAPFlagChange(
                    uid: uid, flags: SQLiteFolders.decode(try row.decode(String.self, atIndex: 1)),
                    modSeq: UInt64(clamping: try row.decode(Int64.self, atIndex: 2)))
            }.sorted { $0.uid < $1.uid }
            let expunged: IMAPExpungedUIDs
            if modSeq < f.purgedModSeq {
                expunged = .unknown(
                    currentUIDs: try Int64.fetchAll(
                        db, sql: "SELECT uid FROM deliveries WHERE folder_id = ? AND uid < ? ORDER BY uid", arguments: [f.id, uidNext]
                    ).map { UInt32(truncatingIfNeeded: $0) })
            } else {
                expunged = .uids(
                    try Int64.fetchAll(
                        db, sql: "SELECT uid FROM imap_expunged WHERE folder_id = ? AND modseq > ? AND uid < ? ORDER BY uid",
                        arguments: [f.id, since, uidNext]
                    ).map { UInt32(truncatingIfNeeded: $0) })
            }
            return IMAPMailboxChanges(
                uidValidity: f.uidValidity, uidNext: f.uidNext, highestModSeq: f.highestModSeq, newUIDs: newUIDs,
                flagChanges: flagChanges, expunged: expunged)
        }
    }

    /// One message row of a folder.
    struct MessageRow: Sendable {
        var deliveryID: Int64
        var bodyID: Int64
        var uid: Int64
        var modSeq: Int64
        var flags: String
        var internalDate: Int64
        var zone: Int
        var size: Int64
        /// `deliveries.body_form` (IMAP APPEND and copies made before it existed: empty).
        var form: BodyForm

        var metadata: IMAPMessageMetadata {
            var decoded: [String: [IMAPFlag]] = [:]
            return metadata(decoding: &decoded)
        }

        /// The metadata, with flag texts decoded once per distinct text (`decoded` keeps at most 64).
        func metadata(decoding decoded: inout [String: [IMAPFlag]]) -> IMAPMessageMetadata {
            let list: [IMAPFlag]
            if let known = decoded[flags] {
                list = known
            } else {
                list = SQLiteFolders.decode(flags)
                if decoded.count < 64 { decoded[flags] = list }
            }
            return IMAPMessageMetadata(
                uid: UInt32(truncatingIfNeeded: uid), flags: list,
                internalDate: IMAPDateTime(secondsSinceEpoch: internalDate, zoneMinutes: zone), size: UInt64(clamping: size),
                modSeq: UInt64(clamping: modSeq))
        }
    }

    /// The rows of `uids` (all when nil) in a folder, ascending by UID, from `deliveries` alone (it holds
    /// each message's size and INTERNALDATE). UIDs that form runs (`1:*`, the usual case) are read as
    /// ranges over the (folder_id, uid) index; scattered ones as IN lists of at most 500.
    static func rows(_ db: Database, folderID: Int64, uids: [UInt32]?) throws -> [MessageRow] {
        let select = """
            SELECT id, message_id, uid, modseq, flags, COALESCE(internal_date, 0), internal_zone, size, body_form
            FROM deliveries WHERE folder_id = ?
            """
        var out: [MessageRow] = []
        func read(_ statement: Statement, _ arguments: StatementArguments) throws {
            let cursor = try Row.fetchCursor(statement, arguments: arguments)
            let raw = statement.sqliteStatement
            while try cursor.next() != nil {
                let text = sqlite3_column_text(raw, 4)
                let flags = UnsafeBufferPointer(start: text, count: text == nil ? 0 : Int(sqlite3_column_bytes(raw, 4)))
                out.append(
                    MessageRow(
                        deliveryID: sqlite3_column_int64(raw, 0), bodyID: sqlite3_column_int64(raw, 1),
                        uid: sqlite3_column_int64(raw, 2), modSeq: sqlite3_column_int64(raw, 3),
                        flags: String(decoding: flags, as: UTF8.self), internalDate: sqlite3_column_int64(raw, 5),
                        zone: Int(sqlite3_column_int64(raw, 6)), size: sqlite3_column_int64(raw, 7),
                        form: BodyForm(rawValue: Int(sqlite3_column_int64(raw, 8)))))
            }
        }
        guard let uids else {
            try read(db.cachedStatement(sql: select + " ORDER BY uid"), [folderID])
            return out
        }
        let sorted = Self.ascendingUnique(uids)
        let runs = Self.runs(sorted)
        if runs.count * 8 <= sorted.count {
            let statement = try db.cachedStatement(sql: select + " AND uid BETWEEN ? AND ? ORDER BY uid")
            for run in runs { try read(statement, [folderID, Int64(run.lowerBound), Int64(run.upperBound)]) }
            return out
        }
        for chunk in sorted.chunked(500) {
            let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
            try read(
                db.cachedStatement(sql: select + " AND uid IN (\(marks)) ORDER BY uid"),
                StatementArguments([folderID] + chunk.map { Int64($0) }))
        }
        return out
    }

    /// The UIDs of the folder changed after `modSeq` (through the (folder_id, modseq) index), when there are
    /// at most `limit` of them; nil when there are more (reading the rows asked for is then no dearer).
    static func fewChangedUIDs(_ db: Database, folderID: Int64, since modSeq: UInt64, atMost limit: Int) throws -> Set<UInt32>? {
        let uids = try Int64.fetchAll(
            db.cachedStatement(sql: "SELECT uid FROM deliveries WHERE folder_id = ? AND modseq > ? ORDER BY modseq LIMIT ?"),
            arguments: [folderID, Int64(clamping: modSeq), limit + 1])
        guard uids.count <= limit else { return nil }
        return Set(uids.map { UInt32(truncatingIfNeeded: $0) })
    }

    /// `uids` ascending without repeats (as given when they already are, the usual case).
    static func ascendingUnique(_ uids: [UInt32]) -> [UInt32] {
        var ascending = true
        for i in uids.indices.dropFirst() where uids[i - 1] >= uids[i] {
            ascending = false
            break
        }
        return ascending ? uids : Array(Set(uids)).sorted()
    }

    /// Ascending unique UIDs as runs of consecutive values.
    static func runs(_ sorted: [UInt32]) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        guard var low = sorted.first else { return out }
        var high = low
        for uid in sorted.dropFirst() {
            if uid == high &+ 1 {
                high = uid
            } else {
                out.append(low...high)
                low = uid
                high = uid
            }
        }
        out.append(low...high)
        return out
    }

    public func fetch(in mailbox: IMAPMailboxID, uids: [UInt32], content: IMAPFetchContent, changedSince: UInt64?)
        async throws(IMAPBackendError) -> [IMAPStoredMessage]
    {
        let cache = store.selectCache
        return try await store.imapRead { db in
            let f = try folderOrGone(db, mailbox)
            // Index data of a large folder in the state SELECT read: from the cache, no rows read.
            if content == .none, let known = try Self.currentEntry(db, f, cache: cache) {
                return known.index.messages(uids, changedSince: changedSince)
            }
            var rows: [MessageRow]
            if let changedSince, let changed = try Self.fewChangedUIDs(db, folderID: f.id, since: changedSince, atMost: uids.count) {
                // CHANGEDSINCE with few changes in the folder: only their rows are read.
                let wanted = uids.filter { changed.contains($0) }
                rows = wanted.isEmpty ? [] : try Self.rows(db, folderID: f.id, uids: wanted)
            } else {
                rows = try Self.rows(db, folderID: f.id, uids: uids)
            }
            if let changedSince { rows = rows.filter { UInt64(clamping: $0.modSeq) > changedSince } }
            var decoded: [String: [IMAPFlag]] = [:]
            // One blob handle for the batch, moved from row to row.
            var blob: BlobIO.Handle?
            defer { try? blob?.close() }
            return try rows.map { row in
                let metadata = row.metadata(decoding: &decoded)
                guard content != .none else { return IMAPStoredMessage(metadata: metadata, content: nil) }
                var bytes: [UInt8] = []
                if row.size > 0 {
                    if let open = blob {
                        try open.reopen(messageID: row.bodyID)
                    } else {
                        blob = try BlobIO.Handle(db, messageID: row.bodyID, writable: false)
                    }
                    bytes = try blob?.read(at: 0, maxLength: Int(row.size)) ?? []
                }
                if content == .header { bytes = Array(bytes[MIMEHeader.parse(bytes, from: 0, to: bytes.count).range]) }
                return IMAPStoredMessage(metadata: metadata, content: bytes, form: row.form)
            }
        }
    }

    public func store(in mailbox: IMAPMailboxID, uids: [UInt32], _ operation: IMAPFlagOperation, unchangedSince: UInt64?)
        async throws(IMAPBackendError) -> IMAPStoreResult
    {
        let (result, folderID) = try await store.imapWrite { db -> (IMAPStoreResult, Int64) in
            let f = try folderOrGone(db, mailbox)
            var result = IMAPStoreResult(messages: [], changed: [])
            var modSeq: UInt64?
            let update = try db.cachedStatement(sql: "UPDATE deliveries SET flags = ?, modseq = ? WHERE id = ?")
            for row in try Self.rows(db, folderID: f.id, uids: uids) {
                let uid = UInt32(truncatingIfNeeded: row.uid)
                let current = SQLiteFolders.decode(row.flags)
                if let limit = unchangedSince, UInt64(clamping: row.modSeq) > limit {
                    result.failed.append(uid)
                    continue
                }
                var flags = Set(current)
                switch operation {
                case .add(let f): flags.formUnion(f)
                case .remove(let f): flags.subtract(f)
                case .replace(let f): flags = Set(f)
                }
                flags.remove(.recent)
                let text = SQLiteFolders.encode(Array(flags))
                if text != SQLiteFolders.encode(current) {
                    let stamp = try modSeq ?? SQLiteFolders.bumpModSeq(db, folderID: f.id)
                    modSeq = stamp
                    try update.execute(arguments: [text, Int64(clamping: stamp), row.deliveryID])
                    result.changed.append(uid)
                    result.messages.append(IMAPFlagChange(uid: uid, flags: SQLiteFolders.decode(text), modSeq: stamp))
                } else {
                    result.messages.append(IMAPFlagChange(uid: uid, flags: current, modSeq: UInt64(clamping: row.modSeq)))
                }
            }
            return (result, f.id)
        }
        if !result.changed.isEmpty { store.imapChanges.notify([IMAPMailboxID(folderID)]) }
        return result
    }

    public func expunge(in mailbox: IMAPMailboxID, uids: [UInt32]?) async throws(IMAPBackendError) -> [UInt32] {
        let now = self.now
        let (gone, folderID) = try await store.imapWrite { db -> ([UInt32], Int64) in
            let f = try folderOrGone(db, mailbox)
            let doomed = try Self.rows(db, folderID: f.id, uids: uids).filter { $0.flags.contains(" \\Deleted ") }
            let bodies = try SQLiteFolders.expungeRows(db, folderID: f.id, rows: doomed.map { ($0.deliveryID, $0.uid) }, now: now)
            try SQLiteMailStore.deleteUnreferencedMessages(db, among: bodies)
            return (doomed.map { UInt32(truncatingIfNeeded: $0.uid) }, f.id)
        }
        if !gone.isEmpty { store.imapChanges.notify([IMAPMailboxID(folderID)]) }
        return gone
    }

    public func vanished(in mailbox: IMAPMailboxID, sinceModSeq modSeq: UInt64, uids: [ClosedRange<UInt32>])
        async throws(IMAPBackendError) -> [UInt32]?
    {
        try await store.imapRead { db -> [UInt32]? in
            let f = try folderOrGone(db, mailbox)
            guard modSeq >= f.purgedModSeq else { return nil }
            return try Int64.fetchAll(
                db, sql: "SELECT uid FROM imap_expunged WHERE folder_id = ? AND modseq > ? ORDER BY uid",
                arguments: [f.id, Int64(clamping: modSeq)]
            ).map { UInt32(truncatingIfNeeded: $0) }.filter { uid in uids.contains { $0.contains(uid) } }
        }
    }

    // MARK: Messages in any mailbox

    public func append(to name: String, _ message: IMAPAppendMessage) async throws(IMAPBackendError) -> IMAPAppendResult {
        guard message.bytes.count <= Self.maxMessageSize else { throw .tooBig }
        let (mailboxID, now) = (self.mailboxID, self.now)
        let (result, folderID) = try await store.imapWrite { db -> (IMAPAppendResult, Int64) in
            let f = try folderNamed(db, name)
            let size = message.bytes.count
            try Self.checkQuota(db, mailboxID: mailboxID, adding: Int64(size), messages: 1)
            try db.execute(
                sql: """
                    INSERT INTO messages (queue_id, sender, received_at, size, body, envid, ret, eight_bit_mime, smtputf8)
                    VALUES ('', '', ?, ?, zeroblob(?), NULL, NULL, 0, 0)
                    """, arguments: [now, size, size])
            let bodyID = db.lastInsertedRowID
            if size > 0 {
                let blob = try BlobIO.Handle(db, messageID: bodyID, writable: true)
                try blob.write(message.bytes, at: 0)
                try blob.close()
            }
            let (uid, modSeq) = try SQLiteFolders.takeUIDs(db, folderID: f.id, count: 1)
            let date = message.internalDate ?? IMAPDateTime(secondsSinceEpoch: Int64(now.rounded(.down)))
            try db.execute(
                sql: """
                    INSERT INTO deliveries (mailbox_id, message_id, created_at, folder_id, uid, modseq, flags, internal_date, internal_zone, size)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    mailboxID, bodyID, now, f.id, uid, Int64(clamping: modSeq), SQLiteFolders.encode(message.flags),
                    date.secondsSinceEpoch, date.zoneMinutes, size
                ])
            return (IMAPAppendResult(uidValidity: f.uidValidity, uid: uid), f.id)
        }
        store.imapChanges.notify([IMAPMailboxID(folderID)])
        return result
    }

    public func copy(from mailbox: IMAPMailboxID, uids: [UInt32], to name: String) async throws(IMAPBackendError) -> IMAPCopyResult {
        try await transfer(from: mailbox, uids: uids, to: name, move: false)
    }

    public func move(from mailbox: IMAPMailboxID, uids: [UInt32], to name: String) async throws(IMAPBackendError) -> IMAPCopyResult {
        try await transfer(from: mailbox, uids: uids, to: name, move: true)
    }

    /// Moves rows to another folder (new UIDs in source order under one new MODSEQ; tombstones in the
    /// source). The delivery ids stay; a message that comes back to INBOX has a new UID, so a new POP3 UIDL.
    @discardableResult
    static func moveRows(_ db: Database, _ rows: [MessageRow], from source: Int64, to target: Int64, now: Double) throws -> [UInt32] {
        guard !rows.isEmpty else { return [] }
        let (first, modSeq) = try SQLiteFolders.takeUIDs(db, folderID: target, count: rows.count)
        // Tombstones first (they need the old rows), then the rows go to the target.
        let modSeqSource = try SQLiteFolders.bumpModSeq(db, folderID: source)
        let tombstone = try db.cachedStatement(
            sql: "INSERT OR REPLACE INTO imap_expunged (folder_id, uid, modseq, expunged_at) VALUES (?, ?, ?, ?)")
        let update = try db.cachedStatement(sql: "UPDATE deliveries SET folder_id = ?, uid = ?, modseq = ? WHERE id = ?")
        var out: [UInt32] = []
        for (i, row) in rows.enumerated() {
            try tombstone.execute(arguments: [source, row.uid, Int64(clamping: modSeqSource), now])
            let uid = first + UInt32(i)
            try update.execute(arguments: [target, uid, Int64(clamping: modSeq), row.deliveryID])
            out.append(uid)
        }
        return out
    }

    func transfer(from mailbox: IMAPMailboxID, uids: [UInt32], to name: String, move: Bool) async throws(IMAPBackendError) -> IMAPCopyResult {
        let (mailboxID, now) = (self.mailboxID, self.now)
        let (result, touched) = try await store.imapWrite { db -> (IMAPCopyResult, [Int64]) in
            let source = try folderOrGone(db, mailbox)
            let target = try folderNamed(db, name)
            let rows = try Self.rows(db, folderID: source.id, uids: uids)
            var result = IMAPCopyResult(uidValidity: target.uidValidity, sourceUIDs: [], destinationUIDs: [])
            guard !rows.isEmpty else { return (result, []) }
            result.sourceUIDs = rows.map { UInt32(truncatingIfNeeded: $0.uid) }
            if move {
                result.destinationUIDs = try Self.moveRows(db, rows, from: source.id, to: target.id, now: now)
                return (result, [source.id, target.id])
            }
            // A COPY adds messages to the quota root (the body is shared, but each copy counts, as RFC 9208
            // counts usage per message); a MOVE within the mailbox changes no usage and is always allowed.
            try Self.checkQuota(db, mailboxID: mailboxID, adding: rows.reduce(0) { $0 + $1.size }, messages: Int64(rows.count))
            let (first, modSeq) = try SQLiteFolders.takeUIDs(db, folderID: target.id, count: rows.count)
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO deliveries (mailbox_id, message_id, created_at, folder_id, uid, modseq, flags, internal_date, internal_zone, size,
                                            body_form)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            for (i, row) in rows.enumerated() {
                let uid = first + UInt32(i)
                // A copy shares the body, so it keeps what is known of it.
                try insert.execute(arguments: [
                    mailboxID, row.bodyID, now, target.id, uid, Int64(clamping: modSeq), row.flags, row.internalDate, row.zone, row.size,
                    row.form.rawValue
                ])
                result.destinationUIDs.append(uid)
            }
            return (result, [target.id])
        }
        store.imapChanges.notify(touched.map(IMAPMailboxID.init))
        return result
    }

    // MARK: Quota

    public func quota() async throws(IMAPBackendError) -> [IMAPQuotaResource] {
        let mailboxID = self.mailboxID
        let status = try await store.imapRead { db in try SQLiteMailStore.quotaStatus(db, mailboxID: mailboxID) }
        guard let status else { throw .mailboxGone }
        return IMAPStoredFolders.quotaResources(
            storageLimit: status.quota.storageLimit, messageLimit: status.quota.messageLimit,
            usedOctets: status.usage.storage, usedMessages: status.usage.messages)
    }

    /// Throws `.overQuota` unless the mailbox has room for `messages` more messages of `octets` in all
    /// (`MailboxQuota.admits`), read in the caller's write transaction (one writer at a time: exact).
    static func checkQuota(_ db: Database, mailboxID: Int64, adding octets: Int64, messages: Int64) throws {
        guard let status = try SQLiteMailStore.quotaStatus(db, mailboxID: mailboxID, usageOnlyIfLimited: true) else {
            throw IMAPBackendError.mailboxGone
        }
        guard status.quota.admits(status.usage, adding: octets, messages: messages) else { throw IMAPBackendError.overQuota }
    }
}
