/// Group commit for `deliver()`: concurrent deliveries share one write transaction and one fsync.
///
/// The queue is MailStore's `GroupCommitQueue` (shared with the PostgreSQL store); a batch here is ONE
/// GRDB write transaction (BEGIN IMMEDIATE … COMMIT, on GRDB's writer queue, not on a Swift concurrency
/// thread) with a SAVEPOINT per message so a failing message does not abort the others. With
/// `PRAGMA synchronous=FULL` in WAL mode the COMMIT is the fsync.
import Foundation
import GRDB
import MailStore

typealias GroupCommitter = GroupCommitQueue<IncomingMessage, [Int64]>

extension GroupCommitQueue where Item == IncomingMessage, Output == [Int64] {
    /// The SQLite store's committer: `work` inserts one message inside its savepoint.
    static func sqlite(
        writer: DatabasePool, maxBatch: Int, work: @escaping @Sendable (Database, IncomingMessage) throws -> [Int64]
    ) -> GroupCommitter {
        GroupCommitter(maxBatch: maxBatch) { messages in
            do {
                return try await writer.write { db in
                    var results: [Result<[Int64], StoreError>] = []
                    results.reserveCapacity(messages.count)
                    for message in messages {
                        do {
                            var ids: [Int64] = []
                            try db.inSavepoint {
                                ids = try work(db, message)
                                return .commit
                            }
                            results.append(.success(ids))
                        } catch {
                            // Some errors (disk full, I/O) make SQLite roll back the whole transaction:
                            // then nothing of this batch can commit.
                            guard db.isInsideTransaction else { throw error }
                            results.append(.failure(SQLiteMailStore.storeError(error)))
                        }
                    }
                    return results
                }
            } catch {
                return Array(repeating: .failure(SQLiteMailStore.storeError(error)), count: messages.count)
            }
        }
    }
}
