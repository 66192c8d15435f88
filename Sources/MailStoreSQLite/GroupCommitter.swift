/// Group commit for `deliver()`: concurrent deliveries share one write transaction and one fsync.
///
/// Callers enqueue (message, continuation) under a lock. When no batch is running, the enqueuer starts
/// one: it takes everything pending (up to `maxBatch`), runs ONE GRDB write transaction (BEGIN IMMEDIATE …
/// COMMIT, on GRDB's writer queue, not on a Swift concurrency thread) with a SAVEPOINT per message so a
/// failing message does not abort the others, then resumes each continuation with its own result, and
/// loops while more is pending. With `PRAGMA synchronous=FULL` in WAL mode the COMMIT is the fsync.
import Foundation
import GRDB
import MailStore
import Synchronization

final class GroupCommitter: Sendable {
    typealias Work = @Sendable (Database, IncomingMessage) throws -> [Int64]

    private struct Pending {
        var message: IncomingMessage
        var continuation: CheckedContinuation<[Int64], any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var running = false
        var closed = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        /// Number of write transactions run so far (for tests and measurements).
        var batchesRun = 0
    }

    private let state = Mutex(State())
    private let writer: DatabasePool
    private let maxBatch: Int
    private let work: Work

    init(writer: DatabasePool, maxBatch: Int, work: @escaping Work) {
        self.writer = writer
        self.maxBatch = max(1, maxBatch)
        self.work = work
    }

    var batchCount: Int {
        state.withLock { $0.batchesRun }
    }

    func submit(_ message: IncomingMessage) async throws -> [Int64] {
        try await withCheckedThrowingContinuation { continuation in
            let start: Bool? = state.withLock { state in
                if state.closed { return nil }
                state.pending.append(Pending(message: message, continuation: continuation))
                let start = !state.running
                state.running = true
                return start
            }
            guard let start else {
                continuation.resume(throwing: StoreError.backend("store is closed"))
                return
            }
            if start {
                Task { await self.drain() }
            }
        }
    }

    /// Refuses new work and waits until the running batches are done.
    func close() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let wait = state.withLock { state in
                state.closed = true
                if state.running {
                    state.idleWaiters.append(waiter)
                    return true
                }
                return false
            }
            if !wait { waiter.resume() }
        }
    }

    private func takeBatch() -> [Pending] {
        let maxBatch = self.maxBatch
        return state.withLock { state in
            guard !state.pending.isEmpty else {
                state.running = false
                return []
            }
            let n = min(maxBatch, state.pending.count)
            let batch = Array(state.pending.prefix(n))
            state.pending.removeFirst(n)
            state.batchesRun += 1
            return batch
        }
    }

    private func drain() async {
        while true {
            let batch = takeBatch()
            if batch.isEmpty { break }
            let messages = batch.map(\.message)
            let work = self.work
            let results: [Result<[Int64], StoreError>]
            do {
                results = try await writer.write { db in
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
                let failure = SQLiteMailStore.storeError(error)
                results = Array(repeating: .failure(failure), count: batch.count)
            }
            for (pending, result) in zip(batch, results) {
                pending.continuation.resume(with: result.mapError { $0 as any Error })
            }
        }
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.running else { return [] }
            defer { state.idleWaiters = [] }
            return state.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
