/// IMAP over the PostgreSQL store: the same tables as on SQLite (`imap_folders`, `deliveries` with UID,
/// MODSEQ, flags and INTERNALDATE, `imap_expunged`, `imap_subscriptions`; docs/IMAP.md "Storage").
///
/// Ordering: a UID and a MODSEQ are taken by `UPDATE imap_folders … RETURNING` in the transaction that
/// adds the message; the row lock it takes is held until COMMIT, so the next writer of that folder (on any
/// node) waits and takes the next UID only after the first one is visible — UIDs appear in commit order.
/// Writes that touch two folders lock both rows first, in id order (no deadlock between a MOVE A→B and
/// one B→A). Reads that need one view (SELECT, changes) run in one REPEATABLE READ snapshot.
///
/// Notifications: every changing transaction sends `NOTIFY petrel_imap[_schema], '<folder id>,…'`
/// (`IMAPFolderNotification`; delivered at COMMIT, to every node that LISTENs), and wakes this process's
/// watchers through the `IMAPChangeHub`. Each store LISTENs on that channel on a dedicated connection
/// (`PostgresNotificationListener`, started by the first IMAP login or watch) and wakes its own hub's
/// watchers of the folders named, so a session IDLE on one node sees what another node changed. The
/// node's own notifications come back too: a second wake-up, harmless (a session asks the store what
/// changed since its MODSEQ, and nothing more is there). When the LISTEN comes (back) into force every
/// watcher is woken once, for what may have been missed meanwhile.
import Foundation
import IMAPCore
import Logging
import MailCore
import MailMIME
import MailStore
import NIOCore
import PostgresNIO

extension PostgresMailStore: IMAPMailboxProvider {
    public func imapAccess(mailboxID: Int64) async throws(IMAPBackendError) -> any IMAPMailboxAccess {
        try await imapTransaction { conn, logger in
            guard try await conn.scalar("SELECT id FROM mailboxes WHERE id = \(mailboxID)", as: Int64.self, logger: logger) != nil else {
                throw IMAPBackendError.nonexistent
            }
            _ = try await PGFolders.inbox(conn, mailboxID: mailboxID, logger: logger)
        }
        // Other nodes' changes reach this node's sessions from now on (one connection per store).
        imapListener.start()
        return PostgresIMAPAccess(store: self, mailboxID: mailboxID)
    }

    public func mailboxChanges(_ mailbox: IMAPMailboxID) -> AsyncStream<Void> {
        let stream = imapChanges.stream(mailbox)
        imapListener.start()
        return stream
    }

    /// True while this store LISTENs for other nodes' IMAP changes (for tests).
    var isListeningForIMAPChanges: Bool { imapListener.isListening }

    /// A transaction for IMAP (`readOnly`: one REPEATABLE READ snapshot). `IMAPBackendError`s pass through;
    /// serialization failures and deadlocks become `.unavailable`, the rest `.serverBug`.
    func imapTransaction<T: Sendable>(
        readOnly: Bool = false, _ body: @Sendable (PostgresConnection, Logger) async throws -> T
    ) async throws(IMAPBackendError) -> T {
        let logger = self.logger
        do {
            try checkOpen()
            try await prepare()
            return try await Self.withPooledConnection(client, wait: configuration.connectionWait, clock: clock) { conn in
                try await conn.query(readOnly ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN", logger: logger)
                let value: T
                do {
                    value = try await body(conn, logger)
                } catch {
                    _ = try? await conn.query("ROLLBACK", logger: logger)
                    throw error
                }
                try await conn.query("COMMIT", logger: logger)
                return value
            }
        } catch {
            if let e = error as? IMAPBackendError { throw e }
            if let state = Self.sqlState(error), state == "40001" || state == "40P01" || state == "55P03" { throw .unavailable }
            throw .serverBug(String(describing: Self.storeError(error)))
        }
    }
}

/// The payload of a `NOTIFY petrel_imap…`: the changed folders' ids in decimal, comma-separated. A
/// transaction that touches many folders (a group commit to many INBOXes) sends several payloads, each
/// under `maxPayload` octets (PostgreSQL refuses 8000 and more).
enum IMAPFolderNotification {
    static let maxPayload = 7000

    static func payloads(_ folderIDs: [Int64]) -> [String] {
        var payloads: [String] = []
        var current = ""
        for id in Set(folderIDs).sorted() {
            let text = String(id)
            if !current.isEmpty, current.utf8.count + 1 + text.utf8.count > maxPayload {
                payloads.append(current)
                current = ""
            }
            current += current.isEmpty ? text : "," + text
        }
        if !current.isEmpty { payloads.append(current) }
        return payloads
    }

    /// The folder ids of a payload; anything else in it (another writer on the channel) is ignored.
    static func folderIDs(_ payload: String) -> [IMAPMailboxID] {
        payload.split(separator: ",").compactMap { part in Int64(part).map(IMAPMailboxID.init) }
    }
}

/// Folder rows and counters on PostgreSQL; every function runs in the caller's transaction.
enum PGFolders {
    static let defaults = IMAPStoredFolders.defaults
    /// As on SQLite (SQLiteFolders.tombstoneRetention).
    static let tombstoneRetention = IMAPStoredFolders.tombstoneRetention

    struct Folder: Sendable {
        var id: Int64
        var name: String
        var uidValidity: UInt32
        var uidNext: UInt32
        var highestModSeq: UInt64
        var specialUse: [String]
        var purgedModSeq: UInt64

        init(_ row: PostgresRow) throws {
            let (id, name, validity, next, modSeq, uses, purged) = try row.decode((Int64, String, Int64, Int64, Int64, String, Int64).self)
            self.id = id
            self.name = name
            uidValidity = UInt32(truncatingIfNeeded: validity)
            uidNext = UInt32(truncatingIfNeeded: next)
            highestModSeq = UInt64(max(0, modSeq))
            specialUse = uses.split(separator: " ").map(String.init)
            purgedModSeq = UInt64(max(0, purged))
        }
    }

    static func folder(_ conn: PostgresConnection, mailboxID: Int64, name: String, lock: Bool = false, logger: Logger) async throws -> Folder? {
        let rows =
            lock
            ? try await conn.rows(
                """
                SELECT id, name, uid_validity, uid_next, highest_modseq, special_use, purged_modseq FROM imap_folders
                WHERE mailbox_id = \(mailboxID) AND name = \(name) FOR UPDATE
                """, logger: logger)
            : try await conn.rows(
                """
                SELECT id, name, uid_validity, uid_next, highest_modseq, special_use, purged_modseq FROM imap_folders
                WHERE mailbox_id = \(mailboxID) AND name = \(name)
                """, logger: logger)
        return try rows.first.map(Folder.init)
    }

    static func folder(_ conn: PostgresConnection, mailboxID: Int64, id: Int64, logger: Logger) async throws -> Folder? {
        try await conn.rows(
            """
            SELECT id, name, uid_validity, uid_next, highest_modseq, special_use, purged_modseq FROM imap_folders
            WHERE mailbox_id = \(mailboxID) AND id = \(id)
            """, logger: logger
        ).first.map(Folder.init)
    }

    static func folders(_ conn: PostgresConnection, mailboxID: Int64, logger: Logger) async throws -> [Folder] {
        try await conn.rows(
            """
            SELECT id, name, uid_validity, uid_next, highest_modseq, special_use, purged_modseq FROM imap_folders
            WHERE mailbox_id = \(mailboxID) ORDER BY name
            """, logger: logger
        ).map(Folder.init)
    }

    /// Creates a folder (nil when it exists: a concurrent creation won).
    @discardableResult
    static func create(_ conn: PostgresConnection, mailboxID: Int64, name: String, specialUse: [String], logger: Logger) async throws -> Int64? {
        try await conn.scalar(
            """
            INSERT INTO imap_folders (mailbox_id, name, uid_validity, special_use)
            VALUES (\(mailboxID), \(name), nextval('imap_uid_validity'), \(specialUse.joined(separator: " ")))
            ON CONFLICT (mailbox_id, name) DO NOTHING RETURNING id
            """, as: Int64.self, logger: logger)
    }

    /// The INBOX folder id, creating INBOX and the default special-use folders when missing.
    static func inbox(_ conn: PostgresConnection, mailboxID: Int64, logger: Logger) async throws -> Int64 {
        if let id = try await conn.scalar(
            "SELECT id FROM imap_folders WHERE mailbox_id = \(mailboxID) AND name = 'INBOX'", as: Int64.self, logger: logger)
        {
            return id
        }
        for (name, use) in defaults {
            try await create(conn, mailboxID: mailboxID, name: name, specialUse: use.isEmpty ? [] : [use], logger: logger)
        }
        guard
            let id = try await conn.scalar(
                "SELECT id FROM imap_folders WHERE mailbox_id = \(mailboxID) AND name = 'INBOX'", as: Int64.self, logger: logger)
        else { throw IMAPBackendError.serverBug("INBOX was not created") }
        return id
    }

    /// Takes `count` UIDs and one new MODSEQ (the row stays locked until COMMIT: commit order).
    static func takeUIDs(_ conn: PostgresConnection, folderID: Int64, count: Int, logger: Logger) async throws -> (firstUID: UInt32, modSeq: UInt64) {
        guard
            let row = try await conn.rows(
                """
                UPDATE imap_folders SET uid_next = uid_next + \(Int64(count)), highest_modseq = highest_modseq + 1
                WHERE id = \(folderID) RETURNING uid_next - \(Int64(count)), highest_modseq
                """, logger: logger
            ).first
        else { throw IMAPBackendError.mailboxGone }
        let (first, modSeq) = try row.decode((Int64, Int64).self)
        guard first + Int64(count) <= Int64(UInt32.max) else { throw IMAPBackendError.limit }
        return (UInt32(first), UInt64(modSeq))
    }

    static func bumpModSeq(_ conn: PostgresConnection, folderID: Int64, logger: Logger) async throws -> UInt64 {
        guard
            let value = try await conn.scalar(
                "UPDATE imap_folders SET highest_modseq = highest_modseq + 1 WHERE id = \(folderID) RETURNING highest_modseq",
                as: Int64.self, logger: logger)
        else { throw IMAPBackendError.mailboxGone }
        return UInt64(value)
    }

    /// Announces changed folders to every node (`NOTIFY` on `channel`, delivered at COMMIT): the payloads
    /// of `IMAPFolderNotification`, one statement per payload.
    static func notify(_ conn: PostgresConnection, channel: String, _ folderIDs: [Int64], logger: Logger) async throws {
        for payload in IMAPFolderNotification.payloads(folderIDs) {
            try await conn.query("SELECT pg_notify(\(channel), \(payload))", logger: logger)
        }
    }

    /// Removes deliveries of one folder, leaving tombstones under one new MODSEQ; purges old tombstones.
    /// Returns the body ids the rows referenced.
    static func expungeRows(
        _ conn: PostgresConnection, folderID: Int64, rows: [(deliveryID: Int64, uid: Int64)], now: Double, channel: String, logger: Logger
    ) async throws -> [Int64] {
        guard !rows.isEmpty else { return [] }
        let modSeq = Int64(try await bumpModSeq(conn, folderID: folderID, logger: logger))
        let ids = rows.map(\.deliveryID)
        let bodies = try await conn.rows("DELETE FROM deliveries WHERE id = ANY(\(ids)) RETURNING message_id", logger: logger)
            .map { try $0.decode(Int64.self) }
        let uids = rows.map(\.uid)
        try await conn.query(
            """
            INSERT INTO imap_expunged (folder_id, uid, modseq, expunged_at)
            SELECT \(folderID), u, \(modSeq), \(now) FROM unnest(\(uids)::bigint[]) AS u
            ON CONFLICT (folder_id, uid) DO UPDATE SET modseq = excluded.modseq, expunged_at = excluded.expunged_at
            """, logger: logger)
        let cutoff = now - tombstoneRetention
        if let purged = try await conn.scalar(
            "SELECT MAX(modseq) FROM imap_expunged WHERE folder_id = \(folderID) AND expunged_at < \(cutoff)", as: Int64?.self, logger: logger)
            ?? nil
        {
            try await conn.query("DELETE FROM imap_expunged WHERE folder_id = \(folderID) AND modseq <= \(purged)", logger: logger)
            try await conn.query(
                "UPDATE imap_folders SET purged_modseq = GREATEST(purged_modseq, \(purged)) WHERE id = \(folderID)", logger: logger)
        }
        try await notify(conn, channel: channel, [folderID], logger: logger)
        return bodies
    }

    static func deleteAll(_ conn: PostgresConnection, mailboxID: Int64, logger: Logger) async throws {
        try await conn.query(
            "DELETE FROM imap_expunged WHERE folder_id IN (SELECT id FROM imap_folders WHERE mailbox_id = \(mailboxID))", logger: logger)
        try await conn.query("DELETE FROM imap_subscriptions WHERE mailbox_id = \(mailboxID)", logger: logger)
        try await conn.query("DELETE FROM imap_folders WHERE mailbox_id = \(mailboxID)", logger: logger)
    }

    static func encode(_ flags: [IMAPFlag]) -> String { IMAPStoredFolders.encodeFlags(flags) }

    static func decode(_ text: String) -> [IMAPFlag] { IMAPStoredFolders.decodeFlags(text) }
}

/// One store mailbox's IMAP view of the PostgreSQL store.
public struct PostgresIMAPAccess: IMAPMailboxAccess {
    let store: PostgresMailStore
    let mailboxID: Int64

    var now: Double { store.clock.now.timeIntervalSince1970 }

    static func folderOrGone(_ conn: PostgresConnection, _ mailboxID: Int64, _ id: IMAPMailboxID, _ logger: Logger) async throws -> PGFolders.Folder {
        guard let f = try await PGFolders.folder(conn, mailboxID: mailboxID, id: id.rawValue, logger: logger) else {
            throw IMAPBackendError.mailboxGone
        }
        return f
    }

    static func folderNamed(
        _ conn: PostgresConnection, _ mailboxID: Int64, _ name: String, lock: Bool = false, _ logger: Logger
    ) async throws -> PGFolders.Folder {
        guard let f = try await PGFolders.folder(conn, mailboxID: mailboxID, name: name, lock: lock, logger: logger) else {
            throw IMAPBackendError.nonexistent
        }
        return f
    }

    static func validName(_ name: String) throws {
        guard !name.isEmpty, !name.hasPrefix("/"), !name.hasSuffix("/"), !name.contains("//"), name.utf8.count <= 1024,
            !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else { throw IMAPBackendError.cannot("invalid mailbox name") }
    }

    static func createParents(_ conn: PostgresConnection, _ mailboxID: Int64, of name: String, _ logger: Logger) async throws {
        var parts = name.split(separator: "/").map(String.init)
        var prefixes: [String] = []
        while parts.count > 1 {
            parts.removeLast()
            prefixes.append(parts.joined(separator: "/"))
        }
        for parent in prefixes.reversed() {
            try await PGFolders.create(conn, mailboxID: mailboxID, name: parent, specialUse: [], logger: logger)
        }
    }

    // MARK: Mailboxes

    public func listMailboxes() async throws(IMAPBackendError) -> [IMAPMailboxInfo] {
        let mailboxID = self.mailboxID
        return try await store.imapTransaction(readOnly: true) { conn, logger in
            let subscribed = Set(
                try await conn.rows("SELECT name FROM imap_subscriptions WHERE mailbox_id = \(mailboxID)", logger: logger)
                    .map { try $0.decode(String.self) })
            let folders = try await PGFolders.folders(conn, mailboxID: mailboxID, logger: logger)
            var out = folders.map { IMAPMailboxInfo(name: $0.name, specialUse: $0.specialUse, isSubscribed: subscribed.contains($0.name)) }
            let names = Set(folders.map(\.name))
            for name in subscribed where !names.contains(name) {
                out.append(IMAPMailboxInfo(name: name, isSubscribed: true, exists: false))
            }
            return out.sorted { $0.name < $1.name }
        }
    }

    public func createMailbox(_ name: String, specialUse: [String]) async throws(IMAPBackendError) {
        let mailboxID = self.mailboxID
        try await store.imapTransaction { conn, logger in
            try Self.validName(name)
            try await Self.createParents(conn, mailboxID, of: name, logger)
            guard try await PGFolders.create(conn, mailboxID: mailboxID, name: name, specialUse: specialUse, logger: logger) != nil else {
                throw IMAPBackendError.alreadyExists
            }
        }
    }

    public func deleteMailbox(_ name: String) async throws(IMAPBackendError) {
        let mailboxID = self.mailboxID
        let id = try await store.imapTransaction { conn, logger -> Int64 in
            guard name != "INBOX" else { throw IMAPBackendError.cannot("INBOX cannot be deleted") }
            let folder = try await Self.folderNamed(conn, mailboxID, name, lock: true, logger)
            let children =
                try await conn.scalar(
                    "SELECT COUNT(*) FROM imap_folders WHERE mailbox_id = \(mailboxID) AND left(name, \(Int32(clamping: name.unicodeScalars.count + 1))) = \(name + "/")",
                    as: Int64.self, logger: logger) ?? 0
            guard children == 0 else { throw IMAPBackendError.hasChildren }
            let bodies = try await conn.rows("DELETE FROM deliveries WHERE folder_id = \(folder.id) RETURNING message_id", logger: logger)
                .map { try $0.decode(Int64.self) }
            try await conn.query("DELETE FROM imap_expunged WHERE folder_id = \(folder.id)", logger: logger)
            try await conn.query("DELETE FROM imap_folders WHERE id = \(folder.id)", logger: logger)
            try await PostgresMailStore.deleteUnreferencedMessages(conn, among: bodies, logger: logger)
            try await PGFolders.notify(conn, channel: store.imapChannel, [folder.id], logger: logger)
            return folder.id
        }
        store.imapChanges.notify([IMAPMailboxID(id)])
    }

    public func renameMailbox(_ name: String, to newName: String) async throws(IMAPBackendError) {
        let (mailboxID, now) = (self.mailboxID, self.now)
        let touched = try await store.imapTransaction { conn, logger -> [Int64] in
            try Self.validName(newName)
            let source = try await Self.folderNamed(conn, mailboxID, name, lock: true, logger)
            guard try await PGFolders.folder(conn, mailboxID: mailboxID, name: newName, logger: logger) == nil else {
                throw IMAPBackendError.alreadyExists
            }
            if name == "INBOX" {
                try await Self.createParents(conn, mailboxID, of: newName, logger)
                guard let target = try await PGFolders.create(conn, mailboxID: mailboxID, name: newName, specialUse: [], logger: logger) else {
                    throw IMAPBackendError.alreadyExists
                }
                let rows = try await Self.rows(conn, folderID: source.id, uids: nil, logger: logger)
                try await Self.moveRows(conn, rows, from: source.id, to: target, now: now, channel: store.imapChannel, logger: logger)
                return [source.id, target]
            }
            guard !newName.hasPrefix(name + "/") else { throw IMAPBackendError.cannot("a mailbox cannot be moved into itself") }
            let inferiors = try await PGFolders.folders(conn, mailboxID: mailboxID, logger: logger).filter { $0.name.hasPrefix(name + "/") }
            for folder in inferiors {
                let renamed = newName + folder.name.dropFirst(name.count)
                guard try await PGFolders.folder(conn, mailboxID: mailboxID, name: renamed, logger: logger) == nil else {
                    throw IMAPBackendError.alreadyExists
                }
            }
            try await conn.query("UPDATE imap_folders SET name = \(newName) WHERE id = \(source.id)", logger: logger)
            for folder in inferiors {
                let renamed = newName + folder.name.dropFirst(name.count)
                try await conn.query("UPDATE imap_folders SET name = \(renamed) WHERE id = \(folder.id)", logger: logger)
            }
            try await Self.createParents(conn, mailboxID, of: newName, logger)
            return []
        }
        store.imapChanges.notify(touched.map(IMAPMailboxID.init))
    }

    public func setSubscribed(_ name: String, _ subscribed: Bool) async throws(IMAPBackendError) {
        let mailboxID = self.mailboxID
        try await store.imapTransaction { conn, logger in
            if subscribed {
                try Self.validName(name)
                _ = try await Self.folderNamed(conn, mailboxID, name, logger)
                try await conn.query(
                    "INSERT INTO imap_subscriptions (mailbox_id, name) VALUES (\(mailboxID), \(name)) ON CONFLICT DO NOTHING", logger: logger)
            } else {
                try await conn.query("DELETE FROM imap_subscriptions WHERE mailbox_id = \(mailboxID) AND name = \(name)", logger: logger)
            }
        }
    }

    public func status(_ name: String) async throws(IMAPBackendError) -> IMAPMailboxStatus {
        let mailboxID = self.mailboxID
        return try await store.imapTransaction(readOnly: true) { conn, logger in
            let f = try await Self.folderNamed(conn, mailboxID, name, logger)
            guard
                let row = try await conn.rows(
                    """
                    SELECT COUNT(*), COUNT(*) FILTER (WHERE strpos(d.flags, ' \\Seen ') = 0),
                           COUNT(*) FILTER (WHERE strpos(d.flags, ' \\Deleted ') > 0), COALESCE(SUM(m.size), 0)::bigint,
                           COUNT(*) FILTER (WHERE d.uid >= fo.first_recent_uid)
                    FROM deliveries d JOIN messages m ON m.id = d.message_id JOIN imap_folders fo ON fo.id = d.folder_id
                    WHERE d.folder_id = \(f.id)
                    """, logger: logger
                ).first
            else { throw IMAPBackendError.serverBug("status") }
            let (count, unseen, deleted, size, recent) = try row.decode((Int64, Int64, Int64, Int64, Int64).self)
            return IMAPMailboxStatus(
                messages: UInt32(clamping: count), uidNext: f.uidNext, uidValidity: f.uidValidity, unseen: UInt32(clamping: unseen),
                deleted: UInt32(clamping: deleted), size: UInt64(clamping: size), highestModSeq: f.highestModSeq,
                recent: UInt32(clamping: recent))
        }
    }

    public func claimRecent(in mailbox: IMAPMailboxID) async throws(IMAPBackendError) -> Range<UInt32> {
        let mailboxID = self.mailboxID
        // The row lock makes a second session wait and then read the moved first_recent_uid.
        return try await store.imapTransaction { conn, logger in
            guard
                let row = try await conn.rows(
                    "SELECT first_recent_uid, uid_next FROM imap_folders WHERE id = \(mailbox.rawValue) AND mailbox_id = \(mailboxID) FOR UPDATE",
                    logger: logger
                ).first
            else { throw IMAPBackendError.mailboxGone }
            let (first, next) = try row.decode((Int64, Int64).self)
            guard first < next else { return UInt32(clamping: first)..<UInt32(clamping: first) }
            try await conn.query("UPDATE imap_folders SET first_recent_uid = \(next) WHERE id = \(mailbox.rawValue)", logger: logger)
            return UInt32(clamping: first)..<UInt32(clamping: next)
        }
    }

    // MARK: Selected mailbox

    /// A large folder in a state SELECT has read before is answered from `IMAPSelectCache` (the key is read
    /// in the same REPEATABLE READ transaction as the rows would be). Otherwise every message's index row is
    /// read, for the UIDs, the first unseen, the keywords and the cache's `IMAPFolderIndex` (which FETCH of
    /// index data answers from).
    public func select(_ name: String) async throws(IMAPBackendError) -> IMAPMailboxSnapshot {
        let mailboxID = self.mailboxID
        let cache = store.selectCache
        return try await store.imapTransaction(readOnly: true) { conn, logger in
            let f = try await Self.folderNamed(conn, mailboxID, name, logger)
            let key = IMAPSelectCache.Key(folder: f.id, uidValidity: f.uidValidity, highestModSeq: f.highestModSeq, uidNext: f.uidNext)
            if let known = try await Self.currentEntry(conn, f, cache: cache, logger: logger) {
                return IMAPMailboxSnapshot(
                    id: IMAPMailboxID(f.id), name: f.name, uidValidity: f.uidValidity, uidNext: f.uidNext, highestModSeq: f.highestModSeq,
                    uids: known.uids, keywords: known.keywords, firstUnseenUID: known.firstUnseenUID)
            }
            var index = IMAPFolderIndex()
            // Set when the index cannot hold the folder (more distinct flag lists than it keeps): the UIDs go on here.
            var plainUIDs: [UInt32]?
            var keywords = Set<IMAPFlag>()
            var firstUnseen: UInt32?
            var flagLists: [String: Int?] = [:]
            for row in try await Self.rows(conn, folderID: f.id, uids: nil, logger: logger) {
                let uid = UInt32(truncatingIfNeeded: row.uid)
                if firstUnseen == nil, !row.flags.contains(" \\Seen ") { firstUnseen = uid }
                let list: Int?
                if let known = flagLists[row.flags] {
                    list = known
                } else {
                    let decoded = PGFolders.decode(row.flags)
                    for flag in decoded where !flag.isSystem { keywords.insert(flag) }
                    list = index.addFlagList(decoded)
                    flagLists[row.flags] = list
                }
                if plainUIDs != nil {
                    plainUIDs?.append(uid)
                    continue
                }
                if let list,
                    index.append(
                        uid: uid, flagList: list, modSeq: UInt64(clamping: row.modSeq),
                        internalDate: IMAPDateTime(secondsSinceEpoch: row.internalDate, zoneMinutes: row.zone),
                        size: UInt64(clamping: row.size))
                {
                    continue
                }
                plainUIDs = index.uids + [uid]
            }
            let sortedKeywords = keywords.sorted()
            if let plainUIDs {
                cache.forget(folder: f.id)
                return IMAPMailboxSnapshot(
                    id: IMAPMailboxID(f.id), name: f.name, uidValidity: f.uidValidity, uidNext: f.uidNext, highestModSeq: f.highestModSeq,
                    uids: plainUIDs, keywords: sortedKeywords, firstUnseenUID: firstUnseen)
            }
            cache.store(key, IMAPSelectCache.Entry(index: index, keywords: sortedKeywords, firstUnseenUID: firstUnseen))
            return IMAPMailboxSnapshot(
                id: IMAPMailboxID(f.id), name: f.name, uidValidity: f.uidValidity, uidNext: f.uidNext, highestModSeq: f.highestModSeq,
                uids: index.uids, keywords: sortedKeywords, firstUnseenUID: firstUnseen)
        }
    }

    /// The cached entry of folder `f` in its current state: the one SELECT kept, or an older one brought up
    /// to date from the rows whose MODSEQ rose since and the tombstones of what was expunged since (as on
    /// SQLite: `SQLiteIMAPAccess.currentEntry`). Nil when there is none or it cannot be brought up to date.
    static func currentEntry(_ conn: PostgresConnection, _ f: PGFolders.Folder, cache: IMAPSelectCache, logger: Logger) async throws
        -> IMAPSelectCache.Entry?
    {
        let key = IMAPSelectCache.Key(folder: f.id, uidValidity: f.uidValidity, highestModSeq: f.highestModSeq, uidNext: f.uidNext)
        switch cache.lookup(key, purgedModSeq: f.purgedModSeq) {
        case .current(let entry): return entry
        case .none: return nil
        case .stale(let old, let sinceModSeq, let limit):
            let since = Int64(clamping: sinceModSeq)
            var changes: [IMAPMessageMetadata] = []
            var decoded: [String: [IMAPFlag]] = [:]
            let rows = try await conn.rows(
                """
                SELECT d.uid, d.flags, d.modseq, COALESCE(d.internal_date, floor(m.received_at)::bigint), d.internal_zone, m.size
                FROM deliveries d JOIN messages m ON m.id = d.message_id
                WHERE d.folder_id = \(f.id) AND d.modseq > \(since) LIMIT \(limit + 1)
                """, logger: logger)
            for row in rows {
                let (uid, text, modSeq, date, zone, size) = try row.decode((Int64, String, Int64, Int64, Int32, Int64).self)
                let flags = decoded[text] ?? PGFolders.decode(text)
                decoded[text] = flags
                changes.append(
                    IMAPMessageMetadata(
                        uid: UInt32(truncatingIfNeeded: uid), flags: flags,
                        internalDate: IMAPDateTime(secondsSinceEpoch: date, zoneMinutes: Int(zone)), size: UInt64(clamping: size),
                        modSeq: UInt64(clamping: modSeq)))
            }
            let expunged = try await conn.rows(
                "SELECT uid FROM imap_expunged WHERE folder_id = \(f.id) AND modseq > \(since) LIMIT \(limit + 1)", logger: logger
            ).map { UInt32(truncatingIfNeeded: try $0.decode(Int64.self)) }
            return cache.refresh(old, to: key, changes: changes, expunged: expunged, limit: limit)
        }
    }

    public func changes(in mailbox: IMAPMailboxID, sinceModSeq modSeq: UInt64, knownUIDNext uidNext: UInt32)
        async throws(IMAPBackendError) -> IMAPMailboxChanges
    {
        let mailboxID = self.mailboxID
        return try await store.imapTransaction(readOnly: true) { conn, logger in
            let f = try await Self.folderOrGone(conn, mailboxID, mailbox, logger)
            let since = Int64(clamping: modSeq)
            let next = Int64(uidNext)
            let newUIDs = try await conn.rows(
                "SELECT uid FROM deliveries WHERE folder_id = \(f.id) AND uid >= \(next) ORDER BY uid", logger: logger
            ).map { UInt32(truncatingIfNeeded: try $0.decode(Int64.self)) }
            let flagChanges = try await conn.rows(
                "SELECT uid, flags, modseq FROM deliveries WHERE folder_id = \(f.id) AND uid < \(next) AND modseq > \(since) ORDER BY uid",
                logger: logger
            ).map { row in
                let (uid, flags, stamp) = try row.decode((Int64, String, Int64).self)
                return IMAPFlagChange(uid: UInt32(truncatingIfNeeded: uid), flags: PGFolders.decode(flags), modSeq: UInt64(clamping: stamp))
            }
            let expunged: IMAPExpungedUIDs
            if modSeq < f.purgedModSeq {
                expunged = .unknown(
                    currentUIDs: try await conn.rows(
                        "SELECT uid FROM deliveries WHERE folder_id = \(f.id) AND uid < \(next) ORDER BY uid", logger: logger
                    ).map { UInt32(truncatingIfNeeded: try $0.decode(Int64.self)) })
            } else {
                expunged = .uids(
                    try await conn.rows(
                        "SELECT uid FROM imap_expunged WHERE folder_id = \(f.id) AND modseq > \(since) AND uid < \(next) ORDER BY uid",
                        logger: logger
                    ).map { UInt32(truncatingIfNeeded: try $0.decode(Int64.self)) })
            }
            return IMAPMailboxChanges(
                uidValidity: f.uidValidity, uidNext: f.uidNext, highestModSeq: f.highestModSeq, newUIDs: newUIDs, flagChanges: flagChanges,
                expunged: expunged)
        }
    }

    struct MessageRow: Sendable {
        var deliveryID: Int64
        var bodyID: Int64
        var uid: Int64
        var modSeq: Int64
        var flags: String
        var internalDate: Int64
        var zone: Int
        var size: Int64
        /// `messages.body_form` (IMAP APPEND and mail stored before it existed: empty).
        var form: BodyForm

        var metadata: IMAPMessageMetadata {
            IMAPMessageMetadata(
                uid: UInt32(truncatingIfNeeded: uid), flags: PGFolders.decode(flags),
                internalDate: IMAPDateTime(secondsSinceEpoch: internalDate, zoneMinutes: zone), size: UInt64(clamping: size),
                modSeq: UInt64(clamping: modSeq))
        }
    }

    static func rows(_ conn: PostgresConnection, folderID: Int64, uids: [UInt32]?, logger: Logger) async throws -> [MessageRow] {
        let result: [PostgresRow]
        if let uids {
            let list = Array(Set(uids)).sorted().map { Int64($0) }
            result = try await conn.rows(
                """
                SELECT d.id, d.message_id, d.uid, d.modseq, d.flags, COALESCE(d.internal_date, floor(m.received_at)::bigint),
                       d.internal_zone, m.size, m.body_form
                FROM deliveries d JOIN messages m ON m.id = d.message_id
                WHERE d.folder_id = \(folderID) AND d.uid = ANY(\(list)) ORDER BY d.uid
                """, logger: logger)
        } else {
            result = try await conn.rows(
                """
                SELECT d.id, d.message_id, d.uid, d.modseq, d.flags, COALESCE(d.internal_date, floor(m.received_at)::bigint),
                       d.internal_zone, m.size, m.body_form
                FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE d.folder_id = \(folderID) ORDER BY d.uid
                """, logger: logger)
        }
        return try result.map { row in
            let (id, body, uid, modSeq, flags, date, zone, size, form) = try row.decode(
                (Int64, Int64, Int64, Int64, String, Int64, Int32, Int64, Int64).self)
            return MessageRow(
                deliveryID: id, bodyID: body, uid: uid, modSeq: modSeq, flags: flags, internalDate: date, zone: Int(zone), size: size,
                form: BodyForm(rawValue: Int(truncatingIfNeeded: form)))
        }
    }

    public func fetch(in mailbox: IMAPMailboxID, uids: [UInt32], content: IMAPFetchContent, changedSince: UInt64?)
        async throws(IMAPBackendError) -> [IMAPStoredMessage]
    {
        let mailboxID = self.mailboxID
        let cache = store.selectCache
        return try await store.imapTransaction(readOnly: true) { conn, logger in
            let f = try await Self.folderOrGone(conn, mailboxID, mailbox, logger)
            // Index data of a large folder in the state SELECT read: from the cache, no rows read.
            if content == .none, let known = try await Self.currentEntry(conn, f, cache: cache, logger: logger) {
                return known.index.messages(uids, changedSince: changedSince)
            }
            var rows = try await Self.rows(conn, folderID: f.id, uids: uids, logger: logger)
            if let changedSince { rows = rows.filter { UInt64(clamping: $0.modSeq) > changedSince } }
            var out: [IMAPStoredMessage] = []
            for row in rows {
                guard content != .none else {
                    out.append(IMAPStoredMessage(metadata: row.metadata, content: nil))
                    continue
                }
                var bytes: [UInt8] = []
                if row.size > 0 {
                    let (query, expected) = PostgresMailStore.partsQuery(
                        messageID: row.bodyID, size: row.size, offset: 0, maxLength: Int(clamping: row.size))
                    guard
                        let body = try PostgresMailStore.joinParts(
                            try await conn.rows(query, logger: logger), messageID: row.bodyID, expected: expected)
                    else { throw IMAPBackendError.serverBug("message body incomplete") }
                    bytes = body
                }
                if content == .header { bytes = Array(bytes[MIMEHeader.parse(bytes, from: 0, to: bytes.count).range]) }
                out.append(IMAPStoredMessage(metadata: row.metadata, content: bytes, form: row.form))
            }
            return out
        }
    }

    public func store(in mailbox: IMAPMailboxID, uids: [UInt32], _ operation: IMAPFlagOperation, unchangedSince: UInt64?)
        async throws(IMAPBackendError) -> IMAPStoreResult
    {
        let mailboxID = self.mailboxID
        let (result, folderID) = try await store.imapTransaction { conn, logger -> (IMAPStoreResult, Int64) in
            let f = try await Self.folderOrGone(conn, mailboxID, mailbox, logger)
            // Lock the folder row first: concurrent STOREs on one folder then run one after another, so
            // UNCHANGEDSINCE compares against committed MODSEQs.
            try await conn.query("SELECT 1 FROM imap_folders WHERE id = \(f.id) FOR UPDATE", logger: logger)
            var result = IMAPStoreResult(messages: [], changed: [])
            var modSeq: UInt64?
            for row in try await Self.rows(conn, folderID: f.id, uids: uids, logger: logger) {
                let uid = UInt32(truncatingIfNeeded: row.uid)
                let current = PGFolders.decode(row.flags)
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
                let text = PGFolders.encode(Array(flags))
                if text != PGFolders.encode(current) {
                    let stamp: UInt64
                    if let modSeq {
                        stamp = modSeq
                    } else {
                        stamp = try await PGFolders.bumpModSeq(conn, folderID: f.id, logger: logger)
                    }
                    modSeq = stamp
                    try await conn.query(
                        "UPDATE deliveries SET flags = \(text), modseq = \(Int64(clamping: stamp)) WHERE id = \(row.deliveryID)", logger: logger)
                    result.changed.append(uid)
                    result.messages.append(IMAPFlagChange(uid: uid, flags: PGFolders.decode(text), modSeq: stamp))
                } else {
                    result.messages.append(IMAPFlagChange(uid: uid, flags: current, modSeq: UInt64(clamping: row.modSeq)))
                }
            }
            if modSeq != nil { try await PGFolders.notify(conn, channel: store.imapChannel, [f.id], logger: logger) }
            return (result, f.id)
        }
        if !result.changed.isEmpty { store.imapChanges.notify([IMAPMailboxID(folderID)]) }
        return result
    }

    public func expunge(in mailbox: IMAPMailboxID, uids: [UInt32]?) async throws(IMAPBackendError) -> [UInt32] {
        let (mailboxID, now) = (self.mailboxID, self.now)
        let (gone, folderID) = try await store.imapTransaction { conn, logger -> ([UInt32], Int64) in
            let f = try await Self.folderOrGone(conn, mailboxID, mailbox, logger)
            try await conn.query("SELECT 1 FROM imap_folders WHERE id = \(f.id) FOR UPDATE", logger: logger)
            let doomed = try await Self.rows(conn, folderID: f.id, uids: uids, logger: logger).filter { $0.flags.contains(" \\Deleted ") }
            let bodies = try await PGFolders.expungeRows(
                conn, folderID: f.id, rows: doomed.map { ($0.deliveryID, $0.uid) }, now: now, channel: store.imapChannel, logger: logger)
            try await PostgresMailStore.deleteUnreferencedMessages(conn, among: bodies, logger: logger)
            return (doomed.map { UInt32(truncatingIfNeeded: $0.uid) }, f.id)
        }
        if !gone.isEmpty { store.imapChanges.notify([IMAPMailboxID(folderID)]) }
        return gone
    }

    public func vanished(in mailbox: IMAPMailboxID, sinceModSeq modSeq: UInt64, uids: [ClosedRange<UInt32>])
        async throws(IMAPBackendError) -> [UInt32]?
    {
        let mailboxID = self.mailboxID
        return try await store.imapTransaction(readOnly: true) { conn, logger -> [UInt32]? in
            let f = try await Self.folderOrGone(conn, mailboxID, mailbox, logger)
            guard modSeq >= f.purgedModSeq else { return nil }
            return try await conn.rows(
                "SELECT uid FROM imap_expunged WHERE folder_id = \(f.id) AND modseq > \(Int64(clamping: modSeq)) ORDER BY uid", logger: logger
            ).map { UInt32(truncatingIfNeeded: try $0.decode(Int64.self)) }.filter { uid in uids.contains { $0.contains(uid) } }
        }
    }

    // MARK: Messages in any mailbox

    public func append(to name: String, _ message: IMAPAppendMessage) async throws(IMAPBackendError) -> IMAPAppendResult {
        let (mailboxID, now) = (self.mailboxID, self.now)
        let (result, folderID) = try await store.imapTransaction { conn, logger -> (IMAPAppendResult, Int64) in
            let f = try await Self.folderNamed(conn, mailboxID, name, logger)
            let size = Int64(message.bytes.count)
            try await Self.checkQuota(conn, mailboxID: mailboxID, adding: size, messages: 1, logger: logger)
            guard
                let bodyID = try await conn.scalar(
                    """
                    INSERT INTO messages (queue_id, sender, received_at, size) VALUES ('', '', \(now), \(size)) RETURNING id
                    """, as: Int64.self, logger: logger)
            else { throw IMAPBackendError.serverBug("INSERT returned no message id") }
            var start = 0
            while start < message.bytes.count {
                let end = min(message.bytes.count, start + PostgresMailStore.partSize)
                let part = ByteBuffer(bytes: message.bytes[start..<end])
                try await conn.query(
                    "INSERT INTO message_parts (message_id, start, data) VALUES (\(bodyID), \(Int64(start)), \(part))", logger: logger)
                start = end
            }
            let (uid, modSeq) = try await PGFolders.takeUIDs(conn, folderID: f.id, count: 1, logger: logger)
            let date = message.internalDate ?? IMAPDateTime(secondsSinceEpoch: Int64(now.rounded(.down)))
            try await conn.query(
                """
                INSERT INTO deliveries (mailbox_id, message_id, created_at, folder_id, uid, modseq, flags, internal_date, internal_zone, size)
                VALUES (\(mailboxID), \(bodyID), \(now), \(f.id), \(Int64(uid)), \(Int64(clamping: modSeq)), \(PGFolders.encode(message.flags)),
                        \(date.secondsSinceEpoch), \(Int32(clamping: date.zoneMinutes)), \(size))
                """, logger: logger)
            try await PGFolders.notify(conn, channel: store.imapChannel, [f.id], logger: logger)
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

    @discardableResult
    static func moveRows(
        _ conn: PostgresConnection, _ rows: [MessageRow], from source: Int64, to target: Int64, now: Double, channel: String, logger: Logger
    ) async throws -> [UInt32] {
        guard !rows.isEmpty else { return [] }
        let (first, modSeq) = try await PGFolders.takeUIDs(conn, folderID: target, count: rows.count, logger: logger)
        let sourceModSeq = Int64(try await PGFolders.bumpModSeq(conn, folderID: source, logger: logger))
        try await conn.query(
            """
            INSERT INTO imap_expunged (folder_id, uid, modseq, expunged_at)
            SELECT \(source), u, \(sourceModSeq), \(now) FROM unnest(\(rows.map(\.uid))::bigint[]) AS u
            ON CONFLICT (folder_id, uid) DO UPDATE SET modseq = excluded.modseq, expunged_at = excluded.expunged_at
            """, logger: logger)
        var out: [UInt32] = []
        for (i, row) in rows.enumerated() {
            let uid = first + UInt32(i)
            try await conn.query(
                "UPDATE deliveries SET folder_id = \(target), uid = \(Int64(uid)), modseq = \(Int64(clamping: modSeq)) WHERE id = \(row.deliveryID)",
                logger: logger)
            out.append(uid)
        }
        try await PGFolders.notify(conn, channel: channel, [source, target], logger: logger)
        return out
    }

    func transfer(from mailbox: IMAPMailboxID, uids: [UInt32], to name: String, move: Bool) async throws(IMAPBackendError) -> IMAPCopyResult {
        let (mailboxID, now) = (self.mailboxID, self.now)
        let (result, touched) = try await store.imapTransaction { conn, logger -> (IMAPCopyResult, [Int64]) in
            let source = try await Self.folderOrGone(conn, mailboxID, mailbox, logger)
            let target = try await Self.folderNamed(conn, mailboxID, name, logger)
            // Both rows locked in id order: no deadlock between transfers in opposite directions.
            try await conn.query(
                "SELECT 1 FROM imap_folders WHERE id = ANY(\([source.id, target.id])) ORDER BY id FOR UPDATE", logger: logger)
            let rows = try await Self.rows(conn, folderID: source.id, uids: uids, logger: logger)
            var result = IMAPCopyResult(uidValidity: target.uidValidity, sourceUIDs: [], destinationUIDs: [])
            guard !rows.isEmpty else { return (result, []) }
            result.sourceUIDs = rows.map { UInt32(truncatingIfNeeded: $0.uid) }
            if move {
                result.destinationUIDs = try await Self.moveRows(
                    conn, rows, from: source.id, to: target.id, now: now, channel: store.imapChannel, logger: logger)
                return (result, [source.id, target.id])
            }
            // A COPY adds to the quota root's usage (each copy counts); a MOVE within the mailbox changes none.
            try await Self.checkQuota(
                conn, mailboxID: mailboxID, adding: rows.reduce(0) { $0 + $1.size }, messages: Int64(rows.count), logger: logger)
            let (first, modSeq) = try await PGFolders.takeUIDs(conn, folderID: target.id, count: rows.count, logger: logger)
            for (i, row) in rows.enumerated() {
                let uid = first + UInt32(i)
                try await conn.query(
                    """
                    INSERT INTO deliveries (mailbox_id, message_id, created_at, folder_id, uid, modseq, flags, internal_date, internal_zone, size)
                    VALUES (\(mailboxID), \(row.bodyID), \(now), \(target.id), \(Int64(uid)), \(Int64(clamping: modSeq)), \(row.flags),
                            \(row.internalDate), \(Int32(clamping: row.zone)), \(row.size))
                    """, logger: logger)
                result.destinationUIDs.append(uid)
            }
            try await PGFolders.notify(conn, channel: store.imapChannel, [target.id], logger: logger)
            return (result, [target.id])
        }
        store.imapChanges.notify(touched.map(IMAPMailboxID.init))
        return result
    }

    public func quota() async throws(IMAPBackendError) -> [IMAPQuotaResource] {
        let mailboxID = self.mailboxID
        let status = try await store.imapTransaction(readOnly: true) { conn, logger in
            try await conn.rows(PostgresMailStore.quotaQuery(mailboxID), logger: logger).first.map(PostgresMailStore.quotaStatus)
        }
        guard let status else { throw .mailboxGone }
        return IMAPStoredFolders.quotaResources(
            storageLimit: status.quota.storageLimit, messageLimit: status.quota.messageLimit,
            usedOctets: status.usage.storage, usedMessages: status.usage.messages)
    }

    /// Throws `.overQuota` unless the mailbox has room for `messages` more messages of `octets` in all
    /// (`MailboxQuota.admits`). Read in the caller's transaction; writers to other folders of the same
    /// mailbox are not excluded, so concurrent APPENDs may overshoot by what they add together.
    static func checkQuota(_ conn: PostgresConnection, mailboxID: Int64, adding octets: Int64, messages: Int64, logger: Logger) async throws {
        guard
            let status = try await conn.rows(PostgresMailStore.quotaQuery(mailboxID, usageOnlyIfLimited: true), logger: logger).first.map(
                PostgresMailStore.quotaStatus)
        else { throw IMAPBackendError.mailboxGone }
        guard status.quota.admits(status.usage, adding: octets, messages: messages) else { throw IMAPBackendError.overQuota }
    }
}
