/// `MessageRetrieval` for the SQLite store (RFC 1939 §5 RETR/TOP): the mailbox listing with each
/// delivery's `messages.id`, and a blocking ranged read that checks the delivery with one cached
/// statement (primary-key lookup, no deliveries⋈messages join, no SQL parsing per chunk) and then reads
/// the body straight from the BLOB (BlobIO.swift), both in the read transaction the open BLOB handle holds.
/// Meant for a thread pool: `DatabasePool.unsafeRead` runs on the calling thread, no dispatch hop.
import GRDB
import MailStore

extension SQLiteMailStore {
    public func retrievableMessages(mailboxID: Int64) async throws -> [RetrievableMessage] {
        try await read { db in
            let statement = try db.cachedStatement(
                sql: """
                    SELECT d.id, d.message_id, m.size
                    FROM deliveries d JOIN messages m ON m.id = d.message_id
                    WHERE d.mailbox_id = ? AND d.folder_id = (\(Self.inboxOf))
                    ORDER BY d.uid
                    """)
            return try Row.fetchAll(statement, arguments: [mailboxID, mailboxID]).map { row in
                RetrievableMessage(
                    deliveryID: try row.decode(Int64.self, atIndex: 0),
                    bodyID: try row.decode(Int64.self, atIndex: 1),
                    size: try row.decode(Int64.self, atIndex: 2))
            }
        }
    }

    public func readMessageBlocking(
        mailboxID: Int64, message: RetrievableMessage, offset: Int64,
        maxLength: Int
    ) throws -> [UInt8] {
        guard offset >= 0 else { throw StoreError.backend("negative read offset") }
        try checkOpen()
        do {
            // No BEGIN/COMMIT (two statements parsed per call): an open BLOB handle keeps the connection in
            // one read transaction (one WAL snapshot) until it is closed, so the delivery check below sees
            // exactly the state the bytes are read from.
            return try pool.unsafeRead { db in
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
                    return []
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
                let bytes = try blob.read(at: Int(offset), maxLength: maxLength)
                try blob.close()
                return bytes
            }
        } catch {
            throw Self.storeError(error)
        }
    }
}
