/// Group commit for `deliver()` on PostgreSQL: concurrent deliveries share one transaction and so one
/// WAL flush (`synchronous_commit=on`), as MailStoreSQLite's GroupCommitter does with one fsync.
///
/// Callers enqueue (message, continuation) under a lock. When no batch is running, the enqueuer starts
/// one: it takes everything pending (up to `maxBatch`), runs BEGIN, then each message inside its own
/// SAVEPOINT (a failing message is rolled back to its savepoint and fails alone), then COMMIT, and only
/// then resumes each continuation with its own result; it loops while more is pending. One batch at a
/// time per store: the messages that arrive while a COMMIT is being flushed form the next batch.
import Foundation
import Logging
import MailCore
import MailStore
import PostgresNIO
import Synchronization

final class PostgresGroupCommitter: Sendable {
    private struct Pending {
        var message: IncomingMessage
        var continuation: CheckedContinuation<[Int64], any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var running = false
        var closed = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var batchesRun = 0
    }

    private let state = Mutex(State())
    private let client: PostgresClient
    private let logger: Logger
    private let maxBatch: Int
    private let clock: any MailClock

    init(client: PostgresClient, logger: Logger, maxBatch: Int, clock: any MailClock) {
        self.clock = clock
        self.client = client
        self.logger = logger
        self.maxBatch = max(1, maxBatch)
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
        let logger = self.logger
        while true {
            let batch = takeBatch()
            if batch.isEmpty { break }
            let messages = batch.map(\.message)
            let now = clock.now.timeIntervalSince1970
            let results: [Result<[Int64], StoreError>]
            do {
                results = try await PostgresMailStore.transaction(client, logger: logger) { conn in
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
                            let ids = try await PostgresMailStore.insert(message, on: conn, now: now, logger: logger)
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
                let failure = PostgresMailStore.storeError(error)
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
