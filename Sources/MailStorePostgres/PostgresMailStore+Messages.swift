/// The `MessageStore` half of the PostgreSQL store: deliver (group commit; the body written in parts of
/// at most `partSize` octets as it is read from the spool, with the message's deliveries and queue
/// entries in the same transaction), listing, ranged reads that fetch only the parts (and only the
/// octets, `substring`) a range covers, and atomic deletion.
import Foundation
import IMAPCore
import Logging
import MailCore
import MailStore
import NIOCore
import PostgresNIO

extension PostgresMailStore {
    public func deliver(_ message: IncomingMessage) async throws -> [Int64] {
        try checkOpen()
        try await prepare()
        let ids = try await committer.submit(message)
        if !ids.isEmpty, imapChanges.hasWatchers {
            // Committed: wake IMAP sessions of this node watching these INBOXes (a failed look-up only loses a hint).
            let folders = try? await rows("SELECT DISTINCT folder_id FROM deliveries WHERE id = ANY(\(ids))").map { try $0.decode(Int64.self) }
            imapChanges.notify((folders ?? []).map(IMAPMailboxID.init))
        }
        return ids
    }

    /// Inserts one message, its body parts, its deliveries and its queue entries on `conn`, inside the
    /// caller's transaction. Returns the delivery ids (local recipients, duplicates removed, in order).
    /// A message with remote recipients is announced on `queueChannel` (`NOTIFY`, delivered at COMMIT: the
    /// other nodes' agents wake up for it).
    static func insert(
        _ message: IncomingMessage, on conn: PostgresConnection, now: Double, queueChannel: String, logger: Logger
    ) async throws -> [Int64] {
        var seen = Set<Int64>()
        let recipients = message.localRecipients.filter { seen.insert($0).inserted }
        let remote = QueueRules.distinctRemoteRecipients(message.remoteRecipients)
        guard !recipients.isEmpty || !remote.isEmpty else { return [] }
        if !recipients.isEmpty {
            let existing = try await conn.rows("SELECT id FROM mailboxes WHERE id = ANY(\(recipients))", logger: logger)
                .map { try $0.decode(Int64.self) }
            if let missing = recipients.first(where: { !existing.contains($0) }) {
                throw StoreError.mailboxNotFound("id \(missing)")
            }
        }
        let size = message.storedSize
        guard size >= 0 else { throw StoreError.backend("negative message size") }
        let received = message.receivedAt.timeIntervalSince1970
        guard
            let messageID = try await conn.scalar(
                """
                INSERT INTO messages (queue_id, sender, received_at, size, envid, ret, eight_bit_mime, smtputf8, body_form)
                VALUES (\(message.queueID), \(message.sender.description), \(received), \(size),
                        \(message.envelope.envelopeID), \(message.envelope.dsnReturn?.rawValue),
                        \(message.envelope.eightBitMIME), \(message.envelope.smtpUTF8), \(Int64(message.storedForm.rawValue)))
                RETURNING id
                """, as: Int64.self, logger: logger)
        else {
            throw StoreError.backend("INSERT returned no message id")
        }
        // The body in parts of exactly `partSize` octets (the last one shorter), whatever the spool's
        // chunks are: a part's start is then a multiple of `partSize`.
        var part = ByteBuffer()
        part.reserveCapacity(min(Int(size), partSize))
        var start: Int64 = 0
        func add(_ bytes: [UInt8]) async throws {
            var index = 0
            while index < bytes.count {
                let take = min(partSize - part.readableBytes, bytes.count - index)
                part.writeBytes(bytes[index..<(index + take)])
                index += take
                if part.readableBytes == partSize { try await flush() }
            }
        }
        func flush() async throws {
            guard part.readableBytes > 0 else { return }
            let length = Int64(part.readableBytes)
            try await conn.query("INSERT INTO message_parts (message_id, start, data) VALUES (\(messageID), \(start), \(part))", logger: logger)
            start += length
            part.clear()
        }
        try await add(message.traceHeaders)
        switch message.body {
        case .bytes(let bytes):
            try await add(bytes)
        case .file(let path, let fileSize):
            var reader = try SpoolFileReader(path: path, size: fileSize)
            while let chunk = try reader.read() { try await add(chunk) }
        }
        try await flush()
        guard start == size else { throw StoreError.backend("wrote \(start) of \(size) octets") }
        let created = now
        var ids: [Int64] = []
        ids.reserveCapacity(recipients.count)
        // Each recipient's copy lands in its INBOX with the folder's next UID and a new MODSEQ; the folder
        // row stays locked until COMMIT, so UIDs become visible in commit order (docs/IMAP.md "Storage").
        let internalDate = Int64(received.rounded(.down))
        var folders: [Int64] = []
        for mailboxID in recipients {
            let inbox = try await PGFolders.inbox(conn, mailboxID: mailboxID, logger: logger)
            let (uid, modSeq) = try await PGFolders.takeUIDs(conn, folderID: inbox, count: 1, logger: logger)
            guard
                let id = try await conn.scalar(
                    """
                    INSERT INTO deliveries (mailbox_id, message_id, created_at, folder_id, uid, modseq, flags, internal_date, internal_zone, size)
                    VALUES (\(mailboxID), \(messageID), \(created), \(inbox), \(Int64(uid)), \(Int64(clamping: modSeq)), ' ', \(internalDate), 0,
                            \(size))
                    RETURNING id
                    """, as: Int64.self, logger: logger)
            else { throw StoreError.backend("INSERT returned no delivery id") }
            ids.append(id)
            folders.append(inbox)
        }
        try await PGFolders.notify(conn, channel: imapChannel(queueChannel: queueChannel), folders, logger: logger)
        for r in remote {
            try await conn.query(
                """
                INSERT INTO queue (message_id, recipient, domain, notify, orcpt, state, attempts, arrived_at,
                                   next_attempt, last_attempt, last_error, delay_notified)
                VALUES (\(messageID), \(r.address.description), \(r.domain), \(r.notify?.description),
                        \(r.originalRecipient), 'active', 0, \(received), \(received), NULL, NULL, false)
                """, logger: logger)
        }
        if !remote.isEmpty {
            _ = try await conn.rows("SELECT pg_notify(\(queueChannel), '')", logger: logger)
        }
        return ids
    }

    public func messages(mailboxID: Int64) async throws -> [MailboxMessage] {
        try await rows(
            """
            SELECT d.id, m.queue_id, m.sender, m.received_at, m.size
            FROM deliveries d JOIN messages m ON m.id = d.message_id
            WHERE d.mailbox_id = \(mailboxID)
              AND d.folder_id = (SELECT id FROM imap_folders WHERE mailbox_id = \(mailboxID) AND name = 'INBOX')
            ORDER BY d.uid
            """
        ).map { row in
            let (id, queueID, sender, received, size) = try row.decode((Int64, String, String, Double, Int64).self)
            return MailboxMessage(deliveryID: id, queueID: queueID, sender: sender, receivedAt: Date(timeIntervalSince1970: received), size: size)
        }
    }

    public func readMessage(mailboxID: Int64, deliveryID: Int64, offset: Int64, maxLength: Int) async throws -> [UInt8] {
        guard offset >= 0 else { throw StoreError.backend("negative read offset") }
        guard
            let row = try await rows(
                """
                SELECT m.id, m.size FROM deliveries d JOIN messages m ON m.id = d.message_id
                WHERE d.id = \(deliveryID) AND d.mailbox_id = \(mailboxID)
                """
            ).first
        else {
            throw StoreError.messageNotFound(deliveryID)
        }
        let (messageID, size) = try row.decode((Int64, Int64).self)
        return try await readBody(messageID: messageID, size: size, offset: offset, maxLength: maxLength)
    }

    /// Octets `offset ..< offset + maxLength` (clipped to `size`) of a body: only the parts that range
    /// covers, and of those only the octets in it (`substring` on uncompressed out-of-line values reads
    /// just those pages).
    func readBody(messageID: Int64, size: Int64, offset: Int64, maxLength: Int) async throws -> [UInt8] {
        guard maxLength > 0, offset < size else { return [] }
        let (query, expected) = Self.partsQuery(messageID: messageID, size: size, offset: offset, maxLength: maxLength)
        guard let out = try Self.joinParts(try await rows(query), messageID: messageID, expected: expected) else {
            throw StoreError.backend("message \(messageID): body shorter than its size (damaged or removed meanwhile)")
        }
        return out
    }

    /// The statement reading octets `offset ..< min(size, offset + maxLength)` and how many that is.
    /// substring positions are 1-based; GREATEST/LEAST clip the range to each part.
    static func partsQuery(messageID: Int64, size: Int64, offset: Int64, maxLength: Int) -> (PostgresQuery, Int) {
        let end = min(size, offset + Int64(maxLength))
        let first = offset - offset % Int64(partSize)
        let query: PostgresQuery = """
            SELECT start, substring(data FROM (GREATEST(\(offset) - start, 0) + 1)::integer
                                     FOR (LEAST(\(end) - start, octet_length(data)) - GREATEST(\(offset) - start, 0))::integer)
            FROM message_parts WHERE message_id = \(messageID) AND start >= \(first) AND start < \(end) ORDER BY start
            """
        return (query, Int(end - offset))
    }

    /// The octets of the parts in order; nil when they are fewer than `expected`.
    static func joinParts(_ rows: some Sequence<PostgresRow>, messageID: Int64, expected: Int) throws -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(expected)
        for row in rows {
            let (_, bytes) = try row.decode((Int64, ByteBuffer).self)
            out += bytes.readableBytesView
        }
        return out.count == expected ? out : nil
    }

    public func deleteMessages(mailboxID: Int64, deliveryIDs: [Int64]) async throws {
        let ids = Array(Set(deliveryIDs))
        guard !ids.isEmpty else { try checkOpen(); return }
        let logger = self.logger
        let now = clock.now.timeIntervalSince1970
        let channel = imapChannel
        let touched = try await write { conn in
            // A POP3 DELE is an IMAP expunge: the rows go, each folder gets a new MODSEQ and tombstones
            // (folder rows locked in id order first), so IMAP sessions see the messages vanish.
            let rows = try await conn.rows(
                "SELECT id, folder_id, uid FROM deliveries WHERE mailbox_id = \(mailboxID) AND id = ANY(\(ids)) ORDER BY uid", logger: logger)
            var byFolder: [Int64: [(deliveryID: Int64, uid: Int64)]] = [:]
            for row in rows {
                let (id, folder, uid) = try row.decode((Int64, Int64, Int64).self)
                byFolder[folder, default: []].append((id, uid))
            }
            let folders = byFolder.keys.sorted()
            try await conn.query("SELECT 1 FROM imap_folders WHERE id = ANY(\(folders)) ORDER BY id FOR UPDATE", logger: logger)
            var messageIDs: [Int64] = []
            for folder in folders {
                messageIDs += try await PGFolders.expungeRows(
                    conn, folderID: folder, rows: byFolder[folder] ?? [], now: now, channel: channel, logger: logger)
            }
            try await Self.deleteUnreferencedMessages(conn, among: messageIDs, logger: logger)
            return folders
        }
        imapChanges.notify(touched.map(IMAPMailboxID.init))
    }

    /// Deletes those of `messageIDs` that neither a delivery nor a queue entry references any more
    /// (their parts go with them: ON DELETE CASCADE).
    static func deleteUnreferencedMessages(_ conn: PostgresConnection, among messageIDs: [Int64], logger: Logger) async throws {
        let unique = Array(Set(messageIDs))
        guard !unique.isEmpty else { return }
        // Lock the rows first: two transactions that each removed one of a body's last two references
        // would otherwise both still see the other's (uncommitted) one and both keep the body. With the
        // lock the second waits, and its DELETE (a new snapshot) sees the first one's removal.
        try await conn.query("SELECT 1 FROM messages WHERE id = ANY(\(unique)) ORDER BY id FOR UPDATE", logger: logger)
        try await conn.query(
            """
            DELETE FROM messages WHERE id = ANY(\(unique))
            AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = messages.id)
            AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.message_id = messages.id)
            """, logger: logger)
    }

    /// Number of stored message bodies (for tests of body cleanup).
    public func storedMessageCount() async throws -> Int {
        let rows = try await rows("SELECT COUNT(*) FROM messages")
        return Int(try rows.first?.decode(Int64.self) ?? 0)
    }
}
