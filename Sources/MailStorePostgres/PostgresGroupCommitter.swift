/// Group commit for `deliver()` on PostgreSQL: concurrent deliveries share one transaction and so one
/// WAL flush (`synchronous_commit=on`), as the SQLite store does with one fsync.
///
/// The queue is MailStore's `GroupCommitQueue` (shared with the SQLite store); a batch here runs BEGIN,
/// then each message inside its own SAVEPOINT (a failing message is rolled back to its savepoint and
/// fails alone), then COMMIT.
import Foundation
import Logging
import MailCore
import MailStore
import PostgresNIO

typealias PostgresGroupCommitter = GroupCommitQueue<IncomingMessage, [Int64]>

extension GroupCommitQueue where Item == IncomingMessage, Output == [Int64] {
    /// The PostgreSQL store's committer (rows stamped with `clock` at the start of each batch).
    static func postgres(
        client: PostgresClient, logger: Logger, maxBatch: Int, clock: any MailClock, queueChannel: String,
        connectionWait: Duration
    ) -> PostgresGroupCommitter {
        PostgresGroupCommitter(maxBatch: maxBatch) { messages in
            let now = clock.now.timeIntervalSince1970
            do {
                return try await PostgresMailStore.transaction(client, logger: logger, wait: connectionWait, clock: clock) { conn in
                    // The INBOX rows this batch takes UIDs from, locked in id order up front: batches of
                    // two nodes never wait for each other in a cycle.
                    let local = Array(Set(messages.flatMap(\.localRecipients))).sorted()
                    if !local.isEmpty {
                        try await conn.query(
                            "SELECT 1 FROM imap_folders WHERE mailbox_id = ANY(\(local)) AND name = 'INBOX' ORDER BY id FOR UPDATE",
                            logger: logger)
                    }
                    var results: [Result<[Int64], StoreError>] = []
                    results.reserveCapacity(messages.count)
                    for message in messages {
                        try await conn.query("SAVEPOINT petrel_message", logger: logger)
                        do {
                            let ids = try await PostgresMailStore.insert(message, on: conn, now: now, queueChannel: queueChannel, logger: logger)
                            try await conn.query("RELEASE SAVEPOINT petrel_message", logger: logger)
                            results.append(.success(ids))
                        } catch {
                            // Undo this message only; if even that fails, the batch fails as a whole.
                            try await conn.query("ROLLBACK TO SAVEPOINT petrel_message", logger: logger)
                            results.append(.failure(PostgresMailStore.storeError(error)))
                        }
                    }
                    return results
                }
            } catch {
                return Array(repeating: .failure(PostgresMailStore.storeError(error)), count: messages.count)
            }
        }
    }
}
