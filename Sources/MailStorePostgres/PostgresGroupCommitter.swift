/// Group commit for `deliver()` on PostgreSQL: concurrent deliveries share one transaction and so one
/// WAL flush (`synchronous_commit=on`), as the SQLite store does with one fsync.
///
/// The queue is MailStore's `GroupCommitQueue` (shared with the SQLite store). A batch runs BEGIN, locks
/// the INBOX rows it takes UIDs from, writes every message whose body is in memory with one statement
/// (`PostgresBatchInsert`), each other message (a spooled body, streamed part by part) inside its own
/// SAVEPOINT, then COMMIT. If the one statement fails, the transaction is rolled back and the batch is
/// redone with a savepoint per message, so a failing message still fails alone.
import Foundation
import Logging
import MailCore
import MailStore
import PostgresNIO
import Synchronization

typealias PostgresGroupCommitter = GroupCommitQueue<IncomingMessage, [Int64]>

/// What the committer did, for tests and measurements: messages written by the one batch statement, and
/// batches redone one savepoint per message because that statement failed.
final class PostgresCommitCounters: Sendable {
    struct Counts: Sendable {
        var batchedMessages = 0
        var fallbacks = 0
    }

    let counts = Mutex(Counts())
}

extension GroupCommitQueue where Item == IncomingMessage, Output == [Int64] {
    /// The PostgreSQL store's committer (rows stamped with `clock` at the start of each batch).
    static func postgres(
        client: PostgresClient, logger: Logger, maxBatch: Int, clock: any MailClock, queueChannel: String,
        connectionWait: Duration, counters: PostgresCommitCounters
    ) -> PostgresGroupCommitter {
        PostgresGroupCommitter(maxBatch: maxBatch) { messages in
            let now = clock.now.timeIntervalSince1970
            do {
                return try await PostgresMailStore.transaction(client, logger: logger, wait: connectionWait, clock: clock) { conn in
                    let inboxes = try await lockInboxes(messages, on: conn, logger: logger)
                    var results = [Result<[Int64], StoreError>?](repeating: nil, count: messages.count)
                    var rows = PostgresBatchInsert.Rows()
                    var batched: [Int] = []
                    for (index, message) in messages.enumerated() where PostgresBatchInsert.isEligible(message) {
                        if message.localRecipients.isEmpty && message.remoteRecipients.isEmpty {
                            results[index] = .success([])
                            continue
                        }
                        do {
                            if try rows.add(message, inboxes: inboxes) { batched.append(index) }
                        } catch {
                            results[index] = .failure(PostgresMailStore.storeError(error))
                        }
                    }
                    if !rows.isEmpty {
                        // The IMAP notifications PGFolders.notify sends on the per-message path.
                        let payloads = IMAPFolderNotification.payloads(rows.foldersNotified)
                        let ids = try await PostgresBatchInsert.run(
                            rows, now: now, queueChannel: queueChannel,
                            imapChannel: PostgresMailStore.imapChannel(queueChannel: queueChannel), imapPayloads: payloads, on: conn,
                            logger: logger)
                        for (index, delivered) in zip(batched, ids) { results[index] = .success(delivered) }
                        counters.counts.withLock { $0.batchedMessages += batched.count }
                    }
                    for index in messages.indices where results[index] == nil {
                        results[index] = try await insertOne(messages[index], now: now, queueChannel: queueChannel, on: conn, logger: logger)
                    }
                    return results.map { $0 ?? .failure(StoreError.backend("message left out of its batch")) }
                }
            } catch let failed as PostgresBatchInsert.Failed {
                counters.counts.withLock { $0.fallbacks += 1 }
                logger.notice(
                    "batch insert failed, one savepoint per message instead",
                    metadata: ["error": "\(PostgresMailStore.storeError(failed.underlying))"])
            } catch {
                return Array(repeating: .failure(PostgresMailStore.storeError(error)), count: messages.count)
            }
            do {
                return try await PostgresMailStore.transaction(client, logger: logger, wait: connectionWait, clock: clock) { conn in
                    _ = try await lockInboxes(messages, on: conn, logger: logger)
                    var results: [Result<[Int64], StoreError>] = []
                    results.reserveCapacity(messages.count)
                    for message in messages {
                        results.append(try await insertOne(message, now: now, queueChannel: queueChannel, on: conn, logger: logger))
                    }
                    return results
                }
            } catch {
                return Array(repeating: .failure(PostgresMailStore.storeError(error)), count: messages.count)
            }
        }
    }

    /// Locks the INBOX rows the batch takes UIDs from, in id order up front (batches of two nodes never
    /// wait for each other in a cycle); returns mailbox id → INBOX id for those that have one.
    private static func lockInboxes(_ messages: [IncomingMessage], on conn: PostgresConnection, logger: Logger) async throws -> [Int64: Int64] {
        let local = Array(Set(messages.flatMap(\.localRecipients))).sorted()
        guard !local.isEmpty else { return [:] }
        let rows = try await conn.rows(
            "SELECT mailbox_id, id FROM imap_folders WHERE mailbox_id = ANY(\(local)) AND name = 'INBOX' ORDER BY id FOR UPDATE",
            logger: logger)
        var inboxes: [Int64: Int64] = [:]
        for row in rows {
            let (mailbox, folder) = try row.decode((Int64, Int64).self)
            inboxes[mailbox] = folder
        }
        return inboxes
    }

    /// One message inside its own savepoint (rolled back to it alone when it fails; if even that fails,
    /// the batch fails as a whole).
    private static func insertOne(
        _ message: IncomingMessage, now: Double, queueChannel: String, on conn: PostgresConnection, logger: Logger
    ) async throws -> Result<[Int64], StoreError> {
        try await conn.query("SAVEPOINT petrel_message", logger: logger)
        do {
            let ids = try await PostgresMailStore.insert(message, on: conn, now: now, queueChannel: queueChannel, logger: logger)
            try await conn.query("RELEASE SAVEPOINT petrel_message", logger: logger)
            return .success(ids)
        } catch {
            try await conn.query("ROLLBACK TO SAVEPOINT petrel_message", logger: logger)
            return .failure(PostgresMailStore.storeError(error))
        }
    }
}
