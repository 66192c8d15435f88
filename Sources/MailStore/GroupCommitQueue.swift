/// The batching queue of group commit, shared by the SQLite and PostgreSQL stores (their `deliver()`):
/// concurrent submissions share one write transaction and so one fsync / WAL flush.
///
/// Callers enqueue (item, continuation) under a lock. When no batch is running, the enqueuer starts one:
/// it takes everything pending (up to `maxBatch`), hands the items to the backend's `run` (one
/// transaction, a savepoint per item so a failing item fails alone), and only then resumes each
/// continuation with its own result; it loops while more is pending. One batch at a time per store: what
/// arrives while a commit is being flushed forms the next batch.
///
/// A backend whose transaction blocks (SQLite) gives a `BlockingRun` and a thread to run it on: the
/// whole drain loop then runs on that thread, and a submission costs one hand-off there and the
/// caller's resumption, with no Swift task in between (an async run needs a task to drive it, and each
/// of its awaits is a hand-off more).
import Synchronization

public final class GroupCommitQueue<Item: Sendable, Output: Sendable>: Sendable {
    /// Runs one batch in one transaction: one result per item, in order (a failure of the whole
    /// transaction is that failure for every item).
    public typealias Run = @Sendable ([Item]) async -> [Result<Output, StoreError>]
    /// The same, for a backend whose transaction blocks its thread.
    public typealias BlockingRun = @Sendable ([Item]) -> [Result<Output, StoreError>]
    /// Starts the drain loop on the backend's thread (for a `BlockingRun`), e.g. a `NIOThreadPool.submit`.
    public typealias StartThread = @Sendable (@escaping @Sendable () -> Void) -> Void

    private enum Runner: Sendable {
        case async(Run)
        case blocking(BlockingRun, StartThread)
    }

    private struct Pending: Sendable {
        var item: Item
        var continuation: CheckedContinuation<Output, any Error>
    }

    private struct State: Sendable {
        var pending: [Pending] = []
        var running = false
        var closed = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        /// Number of batches (transactions) run so far (for tests and measurements).
        var batchesRun = 0
    }

    private let state = Mutex(State())
    private let maxBatch: Int
    private let runner: Runner

    public init(maxBatch: Int, run: @escaping Run) {
        self.maxBatch = max(1, maxBatch)
        self.runner = .async(run)
    }

    /// A queue whose batches block: `start` runs the drain loop on the backend's own thread.
    public init(maxBatch: Int, thread start: @escaping StartThread, run: @escaping BlockingRun) {
        self.maxBatch = max(1, maxBatch)
        self.runner = .blocking(run, start)
    }

    public var batchCount: Int {
        state.withLock { $0.batchesRun }
    }

    /// Submissions waiting for a batch (for tests).
    public var pendingCount: Int {
        state.withLock { $0.pending.count }
    }

    /// Queues `item` and returns its result once its batch has committed (or failed).
    public func submit(_ item: Item) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            let start: Bool? = state.withLock { state in
                if state.closed { return nil }
                state.pending.append(Pending(item: item, continuation: continuation))
                let start = !state.running
                state.running = true
                return start
            }
            guard let start else {
                continuation.resume(throwing: StoreError.backend("store is closed"))
                return
            }
            guard start else { return }
            switch runner {
            case .async(let run): Task { await self.drain(run) }
            case .blocking(let run, let startThread): startThread { self.drain(run) }
            }
        }
    }

    /// Refuses new work and waits until the running batches are done.
    public func close() async {
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

    private func drain(_ run: Run) async {
        while case let batch = takeBatch(), !batch.isEmpty {
            finish(batch, await run(batch.map { $0.item }))
        }
        wakeIdleWaiters()
    }

    private func drain(_ run: BlockingRun) {
        while case let batch = takeBatch(), !batch.isEmpty {
            finish(batch, run(batch.map { $0.item }))
        }
        wakeIdleWaiters()
    }

    /// Resumes each caller of the batch with its own result.
    private func finish(_ batch: [Pending], _ results: [Result<Output, StoreError>]) {
        var results = results
        if results.count != batch.count {
            // A backend bug, never a reason to leave a caller waiting.
            results = Array(
                repeating: .failure(StoreError.backend("group commit returned \(results.count) results for \(batch.count)")), count: batch.count)
        }
        for (pending, result) in zip(batch, results) {
            pending.continuation.resume(with: result.mapError { $0 as any Error })
        }
    }

    private func wakeIdleWaiters() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.running else { return [] }
            defer { state.idleWaiters = [] }
            return state.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
