/// `MessageRetrieval` for the SQLite store (RFC 1939 §5 RETR/TOP): the mailbox listing with each
/// delivery's `messages.id`, and a blocking ranged read that checks the delivery with one cached
/// statement (primary-key lookup, no deliveries⋈messages join, no SQL parsing per chunk) and then reads
/// the body straight from the BLOB (BlobIO.swift), both in the read transaction the open BLOB handle holds.
/// The read runs on a NIO thread pool (`readPool`): `DatabasePool.unsafeRead` runs on the calling thread.
///
/// And `MaildropLocking`: the `maildrop_locks` lease row ("v7-maildrop-lock"), one upsert per take-over,
/// so two processes on one file agree.
import Foundation
import GRDB
import MailCore
import MailStore
import NIOCore
import NIOPosix

extension SQLiteMailStore {
    public func retrievableMessages(mailboxID: Int64) async throws -> [RetrievableMessage] {
        try await read { db in
            let statement = try db.cachedStatement(
                sql: """
                    SELECT d.id, d.message_id, m.size, f.uid_validity, d.uid, d.body_form
                    FROM deliveries d JOIN messages m ON m.id = d.message_id JOIN imap_folders f ON f.id = d.folder_id
                    WHERE d.mailbox_id = ? AND d.folder_id = (\(Self.inboxOf))
                    ORDER BY d.uid
                    """)
            return try Row.fetchAll(statement, arguments: [mailboxID, mailboxID]).map { row in
                RetrievableMessage(
                    deliveryID: try row.decode(Int64.self, atIndex: 0),
                    bodyID: try row.decode(Int64.self, atIndex: 1),
                    size: try row.decode(Int64.self, atIndex: 2),
                    uniqueID: RetrievableMessage.uniqueID(
                        uidValidity: UInt32(truncatingIfNeeded: try row.decode(Int64.self, atIndex: 3)),
                        uid: UInt32(truncatingIfNeeded: try row.decode(Int64.self, atIndex: 4))),
                    form: BodyForm(rawValue: try row.decode(Int.self, atIndex: 5)))
            }
        }
    }

    public func readMessage(
        mailboxID: Int64, message: RetrievableMessage, offset: Int64,
        maxLength: Int
    ) async throws -> ByteBuffer {
        guard offset >= 0 else { throw StoreError.backend("negative read offset") }
        try checkOpen()
        let maxLength = RetrievalLimits.clip(maxLength)
        // The blocking BLOB read runs on a NIO thread pool, never on a Swift concurrency thread.
        do {
            return try await readPool.runIfActive {
                try self.readBlocking(mailboxID: mailboxID, message: message, offset: offset, maxLength: maxLength)
            }
        } catch {
            throw Self.storeError(error)
        }
    }

    /// POP3's read-ahead: the whole messages (each clipped to `RetrievalLimits.maxChunk`) in one hand-off to
    /// the reading pool and one read transaction (one WAL snapshot, one set of SQLite's lock calls), where
    /// `readMessage` for each would cost a thread round trip and a transaction per message.
    public func readMessages(mailboxID: Int64, messages: [RetrievableMessage]) async -> [Result<ByteBuffer, any Error>] {
        do {
            try checkOpen()
            return try await readPool.runIfActive {
                try self.pool.read { db in
                    messages.map { message in
                        Result {
                            let length = RetrievalLimits.clip(Int(clamping: message.size))
                            return try Self.readBody(db, mailboxID: mailboxID, message: message, offset: 0, maxLength: length)
                        }.mapError { Self.storeError($0) }
                    }
                }
            }
        } catch {
            let failure = Self.storeError(error)
            return messages.map { _ in .failure(failure) }
        }
    }

    /// The ranged read itself: blocks the calling (thread-pool) thread.
    private func readBlocking(mailboxID: Int64, message: RetrievableMessage, offset: Int64, maxLength: Int) throws -> ByteBuffer {
        do {
            // No BEGIN/COMMIT (two statements parsed per call): an open BLOB handle keeps the connection in
            // one read transaction (one WAL snapshot) until it is closed, so the delivery check below sees
            // exactly the state the bytes are read from.
            return try pool.unsafeRead { db in
                try Self.readBody(db, mailboxID: mailboxID, message: message, offset: offset, maxLength: maxLength)
            }
        } catch {
            throw Self.storeError(error)
        }
    }

    /// Checks that the delivery still names the body in this mailbox, then reads the range straight into
    /// the buffer the protocol sends (no array in between).
    private static func readBody(_ db: Database, mailboxID: Int64, message: RetrievableMessage, offset: Int64, maxLength: Int) throws
        -> ByteBuffer
    {
        // messages.id is not AUTOINCREMENT: a body key alone could name a newer message after a
        // removal, so the delivery (AUTOINCREMENT, never reused) must still point at it.
        let check = try db.cachedStatement(
            sql: """
                SELECT 1 FROM deliveries WHERE id = ? AND mailbox_id = ? AND message_id = ?
                """)
        let arguments: StatementArguments = [message.deliveryID, mailboxID, message.bodyID]
        guard maxLength > 0, offset < message.size else {
            guard try Int.fetchOne(check, arguments: arguments) != nil else {
                throw StoreError.messageNotFound(message.deliveryID)
            }
            return ByteBuffer()
        }
        let blob: BlobIO.Handle
        do {
            blob = try BlobIO.Handle(db, messageID: message.bodyID, writable: false)
        } catch {
            // The body is gone (deleted by another session or the CLI): the delivery is too.
            guard try Int.fetchOne(check, arguments: arguments) != nil else {
                throw StoreError.messageNotFound(message.deliveryID)
            }
            throw error
        }
        guard try Int.fetchOne(check, arguments: arguments) != nil else {
            try? blob.close()
            throw StoreError.messageNotFound(message.deliveryID)
        }
        let bytes = try blob.readBuffer(at: Int(offset), maxLength: maxLength)
        try blob.close()
        return bytes
    }

    // MARK: - MaildropLocking

    public func acquireMaildropLock(mailboxID: Int64, owner: String, duration: Duration) async throws -> MaildropLease? {
        let now = clock.now
        let expires = now.addingTimeInterval(duration.timeInterval)
        return try await write { db in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM mailboxes WHERE id = ?", arguments: [mailboxID]) != nil else {
                throw StoreError.mailboxNotFound("id \(mailboxID)")
            }
            // One statement: free, expired (take-over) or already ours → the row is ours; else unchanged.
            try db.execute(
                sql: """
                    INSERT INTO maildrop_locks (mailbox_id, owner, expires_at) VALUES (?, ?, ?)
                    ON CONFLICT(mailbox_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                    WHERE maildrop_locks.owner = excluded.owner OR maildrop_locks.expires_at <= ?
                    """, arguments: [mailboxID, owner, expires.timeIntervalSince1970, now.timeIntervalSince1970])
            guard db.changesCount > 0 else { return nil }
            return MaildropLease(mailboxID: mailboxID, owner: owner, expiresAt: expires)
        }
    }

    public func renewMaildropLock(_ lease: MaildropLease, duration: Duration) async throws -> MaildropLease? {
        let expires = clock.now.addingTimeInterval(duration.timeInterval)
        return try await write { db in
            try db.execute(
                sql: "UPDATE maildrop_locks SET expires_at = ? WHERE mailbox_id = ? AND owner = ?",
                arguments: [expires.timeIntervalSince1970, lease.mailboxID, lease.owner])
            guard db.changesCount > 0 else { return nil }
            return MaildropLease(mailboxID: lease.mailboxID, owner: lease.owner, expiresAt: expires)
        }
    }

    public func releaseMaildropLock(_ lease: MaildropLease) async throws {
        try await write { db in
            try db.execute(
                sql: "DELETE FROM maildrop_locks WHERE mailbox_id = ? AND owner = ?", arguments: [lease.mailboxID, lease.owner])
        }
    }
}
