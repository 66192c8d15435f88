/// Group commit for `deliver()`: concurrent deliveries share one write transaction and one fsync.
///
/// The queue is MailStore's `GroupCommitQueue` (shared with the PostgreSQL store); a batch here is ONE
/// write transaction (BEGIN IMMEDIATE … COMMIT) with a SAVEPOINT per message when there are several, so
/// a failing message does not abort the others (a batch of one is its own transaction: it commits or
/// rolls back whole). With `PRAGMA synchronous=FULL` in WAL mode the COMMIT is the fsync.
///
/// The drain loop runs on the store's writing thread (`SQLiteMailStore.writeThread`, a one-thread
/// `NIOThreadPool`), never on a Swift concurrency thread, and calls GRDB's synchronous write there: a
/// delivery costs one hand-off to that thread and one back to its caller (GRDB's async write would add
/// its writer queue's hop and a task to drive it).
///
/// The transaction and savepoint statements are cached statements (prepared once per connection), not
/// GRDB's `inTransaction` / `inSavepoint`, which prepare each of them again on every call: four to six
/// statements parsed per message otherwise.
import Foundation
import GRDB
import MailStore
import NIOPosix

typealias GroupCommitter = GroupCommitQueue<IncomingMessage, [Int64]>

extension GroupCommitQueue where Item == IncomingMessage, Output == [Int64] {
    /// The SQLite store's committer: `work` inserts one message inside its savepoint.
    static func sqlite(
        writer: DatabasePool, thread: NIOThreadPool, maxBatch: Int,
        work: @escaping @Sendable (Database, IncomingMessage) throws -> [Int64]
    ) -> GroupCommitter {
        // A pool already shut down hands the job back `.cancelled` on the caller's thread: it still
        // runs, so no caller is left waiting.
        GroupCommitter(maxBatch: maxBatch, thread: { drain in thread.submit { _ in drain() } }) { messages in
            do {
                return try writer.writeWithoutTransaction { db in
                    try SQLiteTransaction.run(db) {
                        if messages.count == 1, let message = messages.first {
                            return [.success(try work(db, message))]
                        }
                        var results: [Result<[Int64], StoreError>] = []
                        results.reserveCapacity(messages.count)
                        for message in messages {
                            do {
                                results.append(.success(try SQLiteTransaction.savepoint(db) { try work(db, message) }))
                            } catch {
                                // Some errors (disk full, I/O) make SQLite roll back the whole transaction:
                                // then nothing of this batch can commit.
                                guard db.isInsideTransaction else { throw error }
                                results.append(.failure(SQLiteMailStore.storeError(error)))
                            }
                        }
                        return results
                    }
                }
            } catch {
                return Array(repeating: .failure(SQLiteMailStore.storeError(error)), count: messages.count)
            }
        }
    }
}

/// BEGIN IMMEDIATE … COMMIT and SAVEPOINT … RELEASE with cached statements.
enum SQLiteTransaction {
    /// Runs `body` in an immediate transaction: COMMIT when it returns, ROLLBACK when it (or the COMMIT)
    /// throws.
    static func run<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
        do {
            let value = try body()
            try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
            return value
        } catch {
            if db.isInsideTransaction { try? db.rollback() }
            throw error
        }
    }

    /// Runs `body` in a savepoint inside the current transaction: released when it returns, rolled back
    /// to (and released) when it throws, so its writes are undone and the transaction goes on.
    static func savepoint<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        try db.cachedStatement(sql: "SAVEPOINT message").execute()
        do {
            let value = try body()
            try db.cachedStatement(sql: "RELEASE SAVEPOINT message").execute()
            return value
        } catch {
            if db.isInsideTransaction {
                try? db.cachedStatement(sql: "ROLLBACK TRANSACTION TO SAVEPOINT message").execute()
                try? db.cachedStatement(sql: "RELEASE SAVEPOINT message").execute()
            }
            throw error
        }
    }
}
