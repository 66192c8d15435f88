/// The `RelayDirectory` half of the PostgreSQL store (the access lists) and `MessageRetrieval` (POP3
/// reads by body key).
import Foundation
import Logging
import MailCore
import MailStore
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

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
            SELECT d.id, d.message_id, m.size FROM deliveries d JOIN messages m ON m.id = d.message_id
            WHERE d.mailbox_id = \(mailboxID)
              AND d.folder_id = (SELECT id FROM imap_folders WHERE mailbox_id = \(mailboxID) AND name = 'INBOX')
            ORDER BY d.uid
            """
        ).map { row in
            let (delivery, body, size) = try row.decode((Int64, Int64, Int64).self)
            return RetrievableMessage(deliveryID: delivery, bodyID: body, size: size)
        }
    }

    /// Runs on the calling (thread-pool) thread and waits for postgres-nio's event loop, never for a
    /// Swift concurrency thread: it uses a connection of its own (`BlockingReader`) through NIO futures,
    /// so it cannot starve when every cooperative thread is busy or itself waiting.
    public func readMessageBlocking(mailboxID: Int64, message: RetrievableMessage, offset: Int64, maxLength: Int) throws -> [UInt8] {
        guard offset >= 0 else { throw StoreError.backend("negative read offset") }
        try checkOpen()
        do {
            return try blockingReader.read(mailboxID: mailboxID, message: message, offset: offset, maxLength: maxLength)
        } catch {
            throw Self.storeError(error)
        }
    }

    /// Checks that the delivery still exists, belongs to `mailboxID` and refers to `message.bodyID`, and
    /// reads the range, in one statement's snapshot for the check and one for the octets (a delivery
    /// deleted in between leaves the body in place until that transaction commits, so the octets read
    /// are still the message's own: message ids are identity values, never reused).
    func readRetrievable(mailboxID: Int64, message: RetrievableMessage, offset: Int64, maxLength: Int) async throws -> [UInt8] {
        let check = try await rows(
            "SELECT m.size FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE d.id = \(message.deliveryID) AND d.mailbox_id = \(mailboxID) AND d.message_id = \(message.bodyID)"
        )
        guard let row = check.first else { throw StoreError.messageNotFound(message.deliveryID) }
        let size = try row.decode(Int64.self)
        do {
            return try await readBody(messageID: message.bodyID, size: size, offset: offset, maxLength: maxLength)
        } catch {
            // Removed meanwhile (another session, the CLI): the body went with its last delivery.
            if try await rows("SELECT 1 FROM deliveries WHERE id = \(message.deliveryID) AND mailbox_id = \(mailboxID)").isEmpty {
                throw StoreError.messageNotFound(message.deliveryID)
            }
            throw error
        }
    }
}

/// The connection `readMessageBlocking` uses: opened on first use (again after it closed), driven
/// with NIO futures and `wait()` (callers are thread-pool threads, never an event loop).
final class BlockingReader: Sendable {
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let connection = Mutex<EventLoopFuture<PostgresConnection>?>(nil)
    private let closed = Mutex(false)

    init(configuration: PostgresConnection.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    private func connect() throws -> PostgresConnection {
        let future = try connection.withLock { current -> EventLoopFuture<PostgresConnection> in
            if closed.withLock({ $0 }) { throw StoreError.backend("store is closed") }
            if let current { return current }
            let made = PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: 0, logger: logger)
            current = made
            return made
        }
        do {
            let conn = try future.wait()
            if !conn.isClosed { return conn }
        } catch {
            connection.withLock { if $0 === future { $0 = nil } }
            throw error
        }
        connection.withLock { if $0 === future { $0 = nil } }
        return try connect()
    }

    func read(mailboxID: Int64, message: RetrievableMessage, offset: Int64, maxLength: Int) throws -> [UInt8] {
        let conn = try connect()
        let check = try conn.query(
            """
            SELECT m.size FROM deliveries d JOIN messages m ON m.id = d.message_id
            WHERE d.id = \(message.deliveryID) AND d.mailbox_id = \(mailboxID) AND d.message_id = \(message.bodyID)
            """, logger: logger
        ).wait()
        guard let row = check.rows.first else { throw StoreError.messageNotFound(message.deliveryID) }
        let size = try row.decode(Int64.self)
        guard maxLength > 0, offset < size else { return [] }
        let (query, expected) = PostgresMailStore.partsQuery(messageID: message.bodyID, size: size, offset: offset, maxLength: maxLength)
        let parts = try conn.query(query, logger: logger).wait()
        let out = try PostgresMailStore.joinParts(parts.rows, messageID: message.bodyID, expected: expected)
        if out == nil {
            // Removed meanwhile (another session, the CLI): the body went with its last delivery.
            let still = try conn.query("SELECT 1 FROM deliveries WHERE id = \(message.deliveryID)", logger: logger).wait()
            if still.rows.isEmpty { throw StoreError.messageNotFound(message.deliveryID) }
            throw StoreError.backend("message \(message.bodyID): body shorter than its size (damaged)")
        }
        return out ?? []
    }

    func close() {
        closed.withLock { $0 = true }
        let future = connection.withLock { current in
            defer { current = nil }
            return current
        }
        future?.whenSuccess { conn in conn.close().whenComplete { _ in } }
    }
}
