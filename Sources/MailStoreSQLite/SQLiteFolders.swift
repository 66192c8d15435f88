/// IMAP folders in the SQLite store: the rows of `imap_folders`, the default folders every mailbox gets,
/// UID/MODSEQ assignment and tombstones. Every function runs inside the caller's write transaction: SQLite
/// has one writer at a time (BEGIN IMMEDIATE, across processes too), so a UID taken from `uid_next` here
/// becomes visible exactly when its transaction commits, after every lower UID (docs/IMAP.md "Storage").
import Foundation
import GRDB
import IMAPCore

enum SQLiteFolders {
    /// INBOX and the RFC 6154 folders every mailbox gets (created on first delivery or IMAP login, and
    /// by the "v8-imap-folders" migration for existing mailboxes).
    static let defaults = IMAPStoredFolders.defaults

    /// How long tombstones of expunged messages are kept (seconds): sessions that last knew a MODSEQ older
    /// than the purged ones get the `.unknown` fallback (the core compares UIDs).
    static let tombstoneRetention = IMAPStoredFolders.tombstoneRetention

    struct Folder: Sendable {
        var id: Int64
        var mailboxID: Int64
        var name: String
        var uidValidity: UInt32
        var uidNext: UInt32
        var highestModSeq: UInt64
        var specialUse: [String]
        var purgedModSeq: UInt64

        init(_ row: Row) throws {
            id = try row.decode(Int64.self, forColumn: "id")
            mailboxID = try row.decode(Int64.self, forColumn: "mailbox_id")
            name = try row.decode(String.self, forColumn: "name")
            uidValidity = UInt32(truncatingIfNeeded: try row.decode(Int64.self, forColumn: "uid_validity"))
            uidNext = UInt32(truncatingIfNeeded: try row.decode(Int64.self, forColumn: "uid_next"))
            highestModSeq = UInt64(max(0, try row.decode(Int64.self, forColumn: "highest_modseq")))
            specialUse = try row.decode(String.self, forColumn: "special_use").split(separator: " ").map(String.init)
            purgedModSeq = UInt64(max(0, try row.decode(Int64.self, forColumn: "purged_modseq")))
        }
    }

    static let columns = "id, mailbox_id, name, uid_validity, uid_next, highest_modseq, special_use, purged_modseq"

    static func folder(_ db: Database, mailboxID: Int64, name: String) throws -> Folder? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT \(columns) FROM imap_folders WHERE mailbox_id = ? AND name = ?"),
            arguments: [mailboxID, name]
        ).map(Folder.init)
    }

    static func folder(_ db: Database, mailboxID: Int64, id: Int64) throws -> Folder? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT \(columns) FROM imap_folders WHERE mailbox_id = ? AND id = ?"),
            arguments: [mailboxID, id]
        ).map(Folder.init)
    }

    static func folders(_ db: Database, mailboxID: Int64) throws -> [Folder] {
        try Row.fetchAll(db, sql: "SELECT \(columns) FROM imap_folders WHERE mailbox_id = ? ORDER BY name", arguments: [mailboxID])
            .map(Folder.init)
    }

    /// A new UIDVALIDITY: the current time in seconds (as Dovecot), but always above every value this
    /// store handed out before, so a folder deleted and created again within a second still changes it.
    static func nextUIDValidity(_ db: Database, now: Double) throws -> UInt32 {
        let last = try Int64.fetchOne(db, sql: "SELECT value FROM imap_counters WHERE name = 'uid_validity'") ?? 0
        let clockValue = Int64(max(1, min(Double(UInt32.max - 1), now.rounded(.down))))
        let next = max(clockValue, last + 1)
        guard next < Int64(UInt32.max) else { throw IMAPBackendError.limit }
        try db.execute(
            sql: "INSERT INTO imap_counters (name, value) VALUES ('uid_validity', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            arguments: [next])
        return UInt32(next)
    }

    @discardableResult
    static func create(_ db: Database, mailboxID: Int64, name: String, specialUse: [String], now: Double) throws -> Int64 {
        let validity = try nextUIDValidity(db, now: now)
        try db.execute(
            sql: """
                INSERT INTO imap_folders (mailbox_id, name, uid_validity, uid_next, highest_modseq, special_use)
                VALUES (?, ?, ?, 1, 1, ?)
                """, arguments: [mailboxID, name, validity, specialUse.joined(separator: " ")])
        return db.lastInsertedRowID
    }

    /// The INBOX folder id of a mailbox, creating INBOX and the default special-use folders when the
    /// mailbox has no INBOX yet (a mailbox made before the folders existed, or just added).
    static func inbox(_ db: Database, mailboxID: Int64, now: Double) throws -> Int64 {
        if let id = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT id FROM imap_folders WHERE mailbox_id = ? AND name = 'INBOX'"), arguments: [mailboxID])
        {
            return id
        }
        var inboxID: Int64 = 0
        for (name, use) in defaults where try folder(db, mailboxID: mailboxID, name: name) == nil {
            let id = try create(db, mailboxID: mailboxID, name: name, specialUse: use.isEmpty ? [] : [use], now: now)
            if name == "INBOX" { inboxID = id }
        }
        return inboxID
    }

    /// A delivery's place in the mailbox's INBOX: the folder, its next UID and a new MODSEQ, taken with one
    /// statement (UPDATE … RETURNING reports the row as updated). The INBOX is created first if the
    /// mailbox has none yet; a folder out of UIDs is refused as by `takeUIDs`.
    static func takeInboxUID(_ db: Database, mailboxID: Int64, now: Double) throws -> (folderID: Int64, uid: UInt32, modSeq: UInt64) {
        let row = try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    UPDATE imap_folders SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1
                    WHERE mailbox_id = ? AND name = 'INBOX' AND uid_next < 4294967295
                    RETURNING id, uid_next - 1, highest_modseq
                    """), arguments: [mailboxID])
        guard let row else {
            // No INBOX yet (or none with a UID left: `takeUIDs` says which).
            let folderID = try inbox(db, mailboxID: mailboxID, now: now)
            let (uid, modSeq) = try takeUIDs(db, folderID: folderID, count: 1)
            return (folderID, uid, modSeq)
        }
        return (
            try row.decode(Int64.self, atIndex: 0), UInt32(truncatingIfNeeded: try row.decode(Int64.self, atIndex: 1)),
            UInt64(try row.decode(Int64.self, atIndex: 2))
        )
    }

    /// Takes the next UID and a new MODSEQ of a folder (one MODSEQ for `count` messages added together).
    static func takeUIDs(_ db: Database, folderID: Int64, count: Int) throws -> (firstUID: UInt32, modSeq: UInt64) {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT uid_next, highest_modseq FROM imap_folders WHERE id = ?"), arguments: [folderID])
        else { throw IMAPBackendError.mailboxGone }
        let first = try row.decode(Int64.self, atIndex: 0)
        let modSeq = try row.decode(Int64.self, atIndex: 1) + 1
        // UIDs are 32-bit (RFC 9051 §2.3.1.1); a folder that ran out must be re-created (new UIDVALIDITY).
        guard first + Int64(count) <= Int64(UInt32.max) else { throw IMAPBackendError.limit }
        try db.cachedStatement(sql: "UPDATE imap_folders SET uid_next = uid_next + ?, highest_modseq = ? WHERE id = ?")
            .execute(arguments: [count, modSeq, folderID])
        return (UInt32(first), UInt64(modSeq))
    }

    /// Raises a folder's MODSEQ by one and returns it.
    static func bumpModSeq(_ db: Database, folderID: Int64) throws -> UInt64 {
        try db.cachedStatement(sql: "UPDATE imap_folders SET highest_modseq = highest_modseq + 1 WHERE id = ?")
            .execute(arguments: [folderID])
        guard
            let value = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT highest_modseq FROM imap_folders WHERE id = ?"), arguments: [folderID])
        else { throw IMAPBackendError.mailboxGone }
        return UInt64(value)
    }

    /// Removes deliveries (by id) of one folder and leaves their tombstones under one new MODSEQ;
    /// purges tombstones older than `tombstoneRetention`. Returns the body ids the rows referenced.
    static func expungeRows(_ db: Database, folderID: Int64, rows: [(deliveryID: Int64, uid: Int64)], now: Double) throws -> [Int64] {
        guard !rows.isEmpty else { return [] }
        let modSeq = try bumpModSeq(db, folderID: folderID)
        var bodies: [Int64] = []
        let body = try db.cachedStatement(sql: "SELECT message_id FROM deliveries WHERE id = ?")
        let delete = try db.cachedStatement(sql: "DELETE FROM deliveries WHERE id = ?")
        let tombstone = try db.cachedStatement(
            sql: "INSERT OR REPLACE INTO imap_expunged (folder_id, uid, modseq, expunged_at) VALUES (?, ?, ?, ?)")
        for row in rows {
            if let id = try Int64.fetchOne(body, arguments: [row.deliveryID]) { bodies.append(id) }
            try delete.execute(arguments: [row.deliveryID])
            try tombstone.execute(arguments: [folderID, row.uid, modSeq, now])
        }
        let cutoff = now - tombstoneRetention
        if let purged = try Int64.fetchOne(
            db, sql: "SELECT MAX(modseq) FROM imap_expunged WHERE folder_id = ? AND expunged_at < ?", arguments: [folderID, cutoff])
        {
            try db.execute(sql: "DELETE FROM imap_expunged WHERE folder_id = ? AND modseq <= ?", arguments: [folderID, purged])
            try db.execute(
                sql: "UPDATE imap_folders SET purged_modseq = MAX(purged_modseq, ?) WHERE id = ?", arguments: [purged, folderID])
        }
        return bodies
    }

    /// Deletes a folder: its deliveries (and the bodies nothing else references) and its tombstones.
    static func delete(_ db: Database, folderID: Int64) throws {
        let bodies = try Int64.fetchAll(db, sql: "SELECT DISTINCT message_id FROM deliveries WHERE folder_id = ?", arguments: [folderID])
        try db.execute(sql: "DELETE FROM deliveries WHERE folder_id = ?", arguments: [folderID])
        try db.execute(sql: "DELETE FROM imap_expunged WHERE folder_id = ?", arguments: [folderID])
        try db.execute(sql: "DELETE FROM imap_folders WHERE id = ?", arguments: [folderID])
        try SQLiteMailStore.deleteUnreferencedMessages(db, among: bodies)
    }

    /// Everything IMAP keeps of a store mailbox (before the mailbox row is deleted).
    static func deleteAll(_ db: Database, mailboxID: Int64) throws {
        try db.execute(
            sql: "DELETE FROM imap_expunged WHERE folder_id IN (SELECT id FROM imap_folders WHERE mailbox_id = ?)",
            arguments: [mailboxID])
        try db.execute(sql: "DELETE FROM imap_subscriptions WHERE mailbox_id = ?", arguments: [mailboxID])
        try db.execute(sql: "DELETE FROM imap_folders WHERE mailbox_id = ?", arguments: [mailboxID])
    }

    /// The "v8-imap-folders" data step: every mailbox gets its folders, and its deliveries become INBOX
    /// messages with UIDs 1, 2, … in delivery order (MODSEQ 1, INTERNALDATE the time received).
    static func migrateDeliveries(_ db: Database, now: Double) throws {
        let update = try db.cachedStatement(
            sql: """
                UPDATE deliveries SET folder_id = ?, uid = ?, modseq = 1,
                    internal_date = (SELECT CAST(received_at AS INTEGER) FROM messages WHERE messages.id = deliveries.message_id)
                WHERE id = ?
                """)
        for mailboxID in try Int64.fetchAll(db, sql: "SELECT id FROM mailboxes ORDER BY id") {
            let inboxID = try inbox(db, mailboxID: mailboxID, now: now)
            var uid: Int64 = 0
            for deliveryID in try Int64.fetchAll(db, sql: "SELECT id FROM deliveries WHERE mailbox_id = ? ORDER BY id", arguments: [mailboxID]) {
                uid += 1
                try update.execute(arguments: [inboxID, uid, deliveryID])
            }
            try db.execute(sql: "UPDATE imap_folders SET uid_next = ? WHERE id = ?", arguments: [uid + 1, inboxID])
        }
    }

    // MARK: - Flags as text

    /// `' \Seen $Work '`: names separated and surrounded by one space (`instr(flags, ' \Seen ')` in SQL).
    static func encode(_ flags: [IMAPFlag]) -> String { IMAPStoredFolders.encodeFlags(flags) }

    static func decode(_ text: String) -> [IMAPFlag] { IMAPStoredFolders.decodeFlags(text) }

    /// ` \Seen ` as stored (`encode`).
    static let seenToken = Array(" \\Seen ".utf8)

    /// Whether a stored flags text contains `token` (with its surrounding spaces).
    static func flagsText(_ text: UnsafeBufferPointer<UInt8>, contains token: [UInt8]) -> Bool {
        guard text.count >= token.count else { return false }
        for start in 0...(text.count - token.count) where text[start] == token[0] {
            var i = 1
            while i < token.count, text[start + i] == token[i] { i += 1 }
            if i == token.count { return true }
        }
        return false
    }
}
