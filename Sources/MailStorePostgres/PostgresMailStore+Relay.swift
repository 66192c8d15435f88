/// The `RelayDirectory` half of the PostgreSQL store (the access lists), `MessageRetrieval` (POP3
/// reads by body key, through the client's pool) and `MaildropLocking` (the `maildrop_locks` lease rows).
import Foundation
import Logging
import MailCore
import MailStore
import NIOCore
import NIOPosix
import PostgresNIO

extension PostgresMailStore {
    public func addAccessEntry(_ value: String, to list: AccessList) async throws -> Bool {
        try AccessEntry.checkStorable(value)
        return try await !rows(
            """
            INSERT INTO access_entries (list, value, added_at) VALUES (\(list.rawValue), \(value), \(self.now))
            ON CONFLICT (list, value) DO NOTHING RETURNING 1
            """
        ).isEmpty
    }

    public func removeAccessEntry(_ value: String, from list: AccessList) async throws -> Bool {
        try await !rows("DELETE FROM access_entries WHERE list = \(list.rawValue) AND value = \(value) RETURNING 1").isEmpty
    }

    public func accessEntries() async throws -> [AccessEntry] {
        try await rows("SELECT list, value, added_at FROM access_entries").compactMap { row -> AccessEntry? in
            let (list, value, added) = try row.decode((String, String, Double).self)
            guard let list = AccessList(rawValue: list) else { return nil }
            return AccessEntry(list: list, value: value, addedAt: Date(timeIntervalSince1970: added))
        }.sorted(by: AccessEntry.storeOrder)
    }

    // MARK: - MessageRetrieval

    public func retrievableMessages(mailboxID: Int64) async throws -> [RetrievableMessage] {
        try await rows(
            """
            SELECT d.id, d.message_id, m.size, f.uid_validity, d.uid, m.body_form
            FROM deliveries d JOIN messages m ON m.id = d.message_id JOIN imap_folders f ON f.id = d.folder_id
            WHERE d.mailbox_id = \(mailboxID) AND f.mailbox_id = \(mailboxID) AND f.name = 'INBOX'
            ORDER BY d.uid
            """
        ).map { row in
            let (delivery, body, size, validity, uid, form) = try row.decode((Int64, Int64, Int64, Int64, Int64, Int64).self)
            return RetrievableMessage(
                deliveryID: delivery, bodyID: body, size: size,
                uniqueID: RetrievableMessage.uniqueID(
                    uidValidity: UInt32(truncatingIfNeeded: validity), uid: UInt32(truncatingIfNeeded: uid)),
                form: BodyForm(rawValue: Int(truncatingIfNeeded: form)))
        }
    }

    /// One statement per chunk through the client's pool: the parts the range covers, only while the
    /// delivery still exists, belongs to `mailboxID` and refers to `message.bodyID` (checked in the same
    /// statement snapshot; message ids are identity values, never reused). No row for a non-empty range:
    /// the delivery is gone (`.messageNotFound`) or the body is damaged.
    public func readMessage(mailboxID: Int64, message: RetrievableMessage, offset: Int64, maxLength: Int) async throws -> ByteBuffer {
        guard offset >= 0 else { throw StoreError.backend("negative read offset") }
        let maxLength = RetrievalLimits.clip(maxLength)
        let owned: PostgresQuery = """
            SELECT 1 FROM deliveries WHERE id = \(message.deliveryID) AND mailbox_id = \(mailboxID) AND message_id = \(message.bodyID)
            """
        guard maxLength > 0, offset < message.size else {
            guard try await !rows(owned).isEmpty else { throw StoreError.messageNotFound(message.deliveryID) }
            return ByteBuffer()
        }
        let end = min(message.size, offset + Int64(maxLength))
        let first = offset - offset % Int64(Self.partSize)
        let parts = try await rows(
            """
            SELECT p.start, substring(p.data FROM (GREATEST(\(offset) - p.start, 0) + 1)::integer
                                     FOR (LEAST(\(end) - p.start, octet_length(p.data)) - GREATEST(\(offset) - p.start, 0))::integer)
            FROM message_parts p
            WHERE p.message_id = \(message.bodyID) AND p.start >= \(first) AND p.start < \(end)
              AND EXISTS (SELECT 1 FROM deliveries d WHERE d.id = \(message.deliveryID) AND d.mailbox_id = \(mailboxID)
                                                     AND d.message_id = \(message.bodyID))
            ORDER BY p.start
            """)
        var out = ByteBuffer()
        out.reserveCapacity(Int(end - offset))
        for row in parts {
            var (_, bytes) = try row.decode((Int64, ByteBuffer).self)
            out.writeBuffer(&bytes)
        }
        guard out.readableBytes == Int(end - offset) else {
            // Removed meanwhile (another session, the CLI): the body went with its last delivery.
            guard try await !rows(owned).isEmpty else { throw StoreError.messageNotFound(message.deliveryID) }
            throw StoreError.backend("message \(message.bodyID): body shorter than its size (damaged)")
        }
        return out
    }

    // MARK: - MaildropLocking

    /// One upsert: a free, expired (take-over) or already-ours row becomes ours; a running lease of another
    /// owner is left as it is (`ON CONFLICT … DO UPDATE … WHERE` locks the row, so two nodes racing for
    /// it are serialized and exactly one wins).
    public func acquireMaildropLock(mailboxID: Int64, owner: String, duration: Duration) async throws -> MaildropLease? {
        let now = clock.now
        let expires = now.addingTimeInterval(duration.timeInterval)
        let taken = try await rows(
            """
            INSERT INTO maildrop_locks (mailbox_id, owner, expires_at)
            SELECT id, \(owner), \(expires.timeIntervalSince1970) FROM mailboxes WHERE id = \(mailboxID)
            ON CONFLICT (mailbox_id) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
            WHERE maildrop_locks.owner = EXCLUDED.owner OR maildrop_locks.expires_at <= \(now.timeIntervalSince1970)
            RETURNING 1
            """)
        if !taken.isEmpty { return MaildropLease(mailboxID: mailboxID, owner: owner, expiresAt: expires) }
        guard try await !rows("SELECT 1 FROM mailboxes WHERE id = \(mailboxID)").isEmpty else {
            throw StoreError.mailboxNotFound("id \(mailboxID)")
        }
        return nil
    }

    public func renewMaildropLock(_ lease: MaildropLease, duration: Duration) async throws -> MaildropLease? {
        let expires = clock.now.addingTimeInterval(duration.timeInterval)
        let renewed = try await rows(
            """
            UPDATE maildrop_locks SET expires_at = \(expires.timeIntervalSince1970)
            WHERE mailbox_id = \(lease.mailboxID) AND owner = \(lease.owner) RETURNING 1
            """)
        return renewed.isEmpty ? nil : MaildropLease(mailboxID: lease.mailboxID, owner: lease.owner, expiresAt: expires)
    }

    public func releaseMaildropLock(_ lease: MaildropLease) async throws {
        _ = try await rows("DELETE FROM maildrop_locks WHERE mailbox_id = \(lease.mailboxID) AND owner = \(lease.owner) RETURNING 1")
    }
}
