/// The `MessageStore` half of the SQLite store: deliver (group commit, bodies streamed into a
/// zeroblob through incremental BLOB I/O, with the local deliveries and the outbound queue entries of
/// the message in the same transaction), listing, ranged reads and atomic deletion.
/// Delivery ids are AUTOINCREMENT rowids: never reused. POP3 UIDLs are INBOX's UIDVALIDITY and UID (RFC 1939 §7).
import Foundation
import GRDB
import IMAPCore
import MailCore
import MailStore

extension SQLiteMailStore {
    public func deliver(_ message: IncomingMessage) async throws -> [Int64] {
        try checkOpen()
        let ids = try await committer.submit(message)
        if !ids.isEmpty, imapChanges.hasWatchers {
            // Committed: wake IMAP sessions watching these INBOXes (a failed look-up only loses a hint).
            let folders = try? await read { db in
                try Int64.fetchAll(
                    db, sql: "SELECT DISTINCT folder_id FROM deliveries WHERE id IN (\(ids.map { _ in "?" }.joined(separator: ",")))",
                    arguments: StatementArguments(ids))
            }
            imapChanges.notify((folders ?? []).map(IMAPMailboxID.init))
        }
        return ids
    }

    /// SQL for the INBOX folder id of the mailbox given as the next argument.
    static let inboxOf = "SELECT id FROM imap_folders WHERE mailbox_id = ? AND name = 'INBOX'"

    /// Inserts one message, its deliveries and its queue entries (called inside a SAVEPOINT of a batch
    /// transaction by `deliver`, or inside `completeAttempt`'s transaction for notifications).
    /// Returns the delivery ids (local recipients, duplicates removed, in order).
    static func insert(_ message: IncomingMessage, into db: Database, now: Double) throws -> [Int64] {
        var seen = Set<Int64>()
        let recipients = message.localRecipients.filter { seen.insert($0).inserted }
        let remote = QueueRules.distinctRemoteRecipients(message.remoteRecipients)
        guard !recipients.isEmpty || !remote.isEmpty else { return [] }
        let exists = try db.cachedStatement(sql: "SELECT 1 FROM mailboxes WHERE id = ?")
        for id in recipients where try Int.fetchOne(exists, arguments: [id]) == nil {
            throw StoreError.mailboxNotFound("id \(id)")
        }
        let size = message.storedSize
        guard size >= 0, size <= Int64(Int32.max) else { throw StoreError.backend("message too large for the store (\(size) octets)") }
        // Every column after `body` in the record (those added by later migrations) must be NULL, 0 or 1 here:
        // then SQLite writes the zeroblob without building the record in memory ("v11-body-form").
        try db.cachedStatement(
            sql: """
                INSERT INTO messages (queue_id, sender, received_at, size, body, eight_bit_mime, smtputf8)
                VALUES (?, ?, ?, ?, zeroblob(?), ?, ?)
                """
        ).execute(arguments: [
            message.queueID, message.sender.description,
            message.receivedAt.timeIntervalSince1970, size, size,
            message.envelope.eightBitMIME, message.envelope.smtpUTF8
        ])
        let messageID = db.lastInsertedRowID
        if size > 0 {
            let blob = try BlobIO.Handle(db, messageID: messageID, writable: true)
            guard blob.length == Int(size) else { throw StoreError.backend("blob has the wrong size") }
            var offset = 0
            if !message.traceHeaders.isEmpty {
                try blob.write(message.traceHeaders, at: offset)
                offset += message.traceHeaders.count
            }
            switch message.body {
            case .bytes(let bytes):
                try blob.write(bytes, at: offset)
                offset += bytes.count
            case .file(let path, let fileSize):
                var reader = try SpoolFileReader(path: path, size: fileSize)
                while let chunk = try reader.read() {
                    try blob.write(chunk, at: offset)
                    offset += chunk.count
                }
            }
            try blob.close()
            guard offset == Int(size) else { throw StoreError.backend("wrote \(offset) of \(size) octets") }
        }
        let created = now
        // Each recipient's copy lands in its INBOX with the folder's next UID and a new MODSEQ, taken in
        // this (single-writer) transaction: UIDs become visible in commit order (docs/IMAP.md "Storage").
        let insertDelivery = try db.cachedStatement(
            sql: """
                INSERT INTO deliveries (mailbox_id, message_id, created_at, folder_id, uid, modseq, flags, internal_date, internal_zone, size,
                                        body_form)
                VALUES (?, ?, ?, ?, ?, ?, ' ', ?, 0, ?, ?)
                """)
        let internalDate = Int64(message.receivedAt.timeIntervalSince1970.rounded(.down))
        let form = message.storedForm.rawValue
        var ids: [Int64] = []
        ids.reserveCapacity(recipients.count)
        for mailboxID in recipients {
            let (inbox, uid, modSeq) = try SQLiteFolders.takeInboxUID(db, mailboxID: mailboxID, now: now)
            try insertDelivery.execute(arguments: [mailboxID, messageID, created, inbox, uid, modSeq, internalDate, size, form])
            ids.append(db.lastInsertedRowID)
        }
        if !remote.isEmpty {
            let arrived = message.receivedAt.timeIntervalSince1970
            let insertEntry = try db.cachedStatement(
                sql: """
                    INSERT INTO queue (message_id, recipient, domain, notify, orcpt, state, attempts, arrived_at,
                                       next_attempt, last_attempt, last_error, delay_notified, envid, ret)
                    VALUES (?, ?, ?, ?, ?, 'active', 0, ?, ?, NULL, NULL, 0, ?, ?)
                    """)
            for r in remote {
                try insertEntry.execute(arguments: [
                    messageID, r.address.description, r.domain, r.notify?.description,
                    r.originalRecipient, arrived, arrived, message.envelope.envelopeID, message.envelope.dsnReturn?.rawValue
                ])
            }
        }
        return ids
    }

    public func messages(mailboxID: Int64) async throws -> [MailboxMessage] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT d.id, m.queue_id, m.sender, m.received_at, m.size
                    FROM deliveries d JOIN messages m ON m.id = d.message_id
                    WHERE d.mailbox_id = ? AND d.folder_id = (\(Self.inboxOf))
                    ORDER BY d.uid
                    """, arguments: [mailboxID, mailboxID]
            ).map { row in
                MailboxMessage(
                    deliveryID: try row.decode(Int64.self, forColumn: "id"),
                    queueID: try row.decode(String.self, forColumn: "queue_id"),
                    sender: try row.decode(String.self, forColumn: "sender"),
                    receivedAt: Date(timeIntervalSince1970: try row.decode(Double.self, forColumn: "received_at")),
                    size: try row.decode(Int64.self, forColumn: "size"))
            }
        }
    }

    public func readMessage(mailboxID: Int64, deliveryID: Int64, offset: Int64, maxLength: Int) async throws -> [UInt8] {
        guard offset >= 0 else { throw StoreError.backend("negative read offset") }
        return try await read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT m.id, m.size FROM deliveries d JOIN messages m ON m.id = d.message_id
                        WHERE d.id = ? AND d.mailbox_id = ?
                        """, arguments: [deliveryID, mailboxID])
            else {
                throw StoreError.messageNotFound(deliveryID)
            }
            let size = try row.decode(Int64.self, forColumn: "size")
            guard maxLength > 0, offset < size else { return [] }
            let blob = try BlobIO.Handle(db, messageID: try row.decode(Int64.self, forColumn: "id"), writable: false)
            let bytes = try blob.read(at: Int(offset), maxLength: maxLength)
            try blob.close()
            return bytes
        }
    }

    public func deleteMessages(mailboxID: Int64, deliveryIDs: [Int64]) async throws {
        let ids = Array(Set(deliveryIDs))
        guard !ids.isEmpty else { try checkOpen(); return }
        let now = nowSeconds
        let touched = try await write { db in
            // A POP3 DELE is an IMAP expunge: the rows go, each folder gets a new MODSEQ and tombstones,
            // so IMAP sessions see the messages vanish.
            var byFolder: [Int64: [(deliveryID: Int64, uid: Int64)]] = [:]
            for chunk in ids.chunked(500) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let args = StatementArguments([mailboxID] + chunk)
                for row in try Row.fetchAll(
                    db, sql: "SELECT id, folder_id, uid FROM deliveries WHERE mailbox_id = ? AND id IN (\(marks)) ORDER BY uid",
                    arguments: args)
                {
                    let folder = try row.decode(Int64.self, atIndex: 1)
                    byFolder[folder, default: []].append((try row.decode(Int64.self, atIndex: 0), try row.decode(Int64.self, atIndex: 2)))
                }
            }
            var messageIDs: [Int64] = []
            for (folder, rows) in byFolder {
                messageIDs += try SQLiteFolders.expungeRows(db, folderID: folder, rows: rows, now: now)
            }
            try Self.deleteUnreferencedMessages(db, among: messageIDs)
            return Array(byFolder.keys)
        }
        imapChanges.notify(touched.map(IMAPMailboxID.init))
    }

    /// Deletes those of `messageIDs` that neither a delivery nor a queue entry references any more.
    static func deleteUnreferencedMessages(_ db: Database, among messageIDs: [Int64]) throws {
        let unique = Array(Set(messageIDs))
        for chunk in unique.chunked(500) {
            let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
            try db.execute(
                sql: """
                    DELETE FROM messages WHERE id IN (\(marks))
                    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = messages.id)
                    AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.message_id = messages.id)
                    """, arguments: StatementArguments(chunk))
        }
    }

    /// Number of stored message bodies (for tests of body cleanup).
    public func storedMessageCount() async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM messages") ?? 0 }
    }
}

extension Array {
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
