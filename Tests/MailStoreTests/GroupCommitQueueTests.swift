/// The group commit queue on its own (the stores' suites test it through `deliver()`): what arrives while
/// a batch runs forms the next batch, each caller gets its own result, and with a blocking run (SQLite)
/// every batch runs on the thread the queue was given, even when that thread pool is already shut down.
import Foundation
import MailStore
import NIOPosix
import Synchronization
import Testing

@Suite struct GroupCommitQueueTests {
    /// A gate the first batch waits at, so that the next submissions pile up behind it.
    final class Gate: Sendable {
        private let state = Mutex<(open: Bool, entered: Bool)>((false, false))

        /// Waits until opened, for 10 s at most (a broken queue must fail the test, not hang it).
        func enterAndWait() {
            state.withLock { $0.entered = true }
            for _ in 0..<10_000 where !state.withLock({ $0.open }) { usleep(1000) }
        }

        /// Waits (10 s at most) until a batch is at the gate.
        func waitUntilEntered() async throws {
            for _ in 0..<10_000 where !entered { try await Task.sleep(for: .milliseconds(1)) }
            #expect(entered, "no batch reached the gate")
        }

        var entered: Bool { state.withLock { $0.entered } }
        func open() { state.withLock { $0.open = true } }
    }

    /// What the blocking run saw: batch sizes, and whether each ran inside a job of the given pool.
    final class Record: Sendable {
        let batches = Mutex<[[Int]]>([])
        let insideJob = Mutex(false)
        let ranOutsideJob = Mutex(false)
    }

    /// A blocking queue on `pool` whose run doubles each item, fails odd items above 100, and waits at
    /// `gate` in its first batch.
    func blockingQueue(pool: NIOThreadPool, record: Record, gate: Gate?) -> GroupCommitQueue<Int, Int> {
        GroupCommitQueue<Int, Int>(
            maxBatch: 8,
            thread: { drain in
                pool.submit { _ in
                    record.insideJob.withLock { $0 = true }
                    drain()
                    record.insideJob.withLock { $0 = false }
                }
            }
        ) { items in
            if !record.insideJob.withLock({ $0 }) { record.ranOutsideJob.withLock { $0 = true } }
            let first = record.batches.withLock { batches in
                batches.append(items)
                return batches.count == 1
            }
            if first, let gate { gate.enterAndWait() }
            return items.map { $0 > 100 && $0 % 2 == 1 ? .failure(.backend("odd \($0)")) : .success($0 * 2) }
        }
    }

    static func outcome(_ queue: GroupCommitQueue<Int, Int>, _ item: Int) async -> Result<Int, StoreError> {
        do { return .success(try await queue.submit(item)) } catch { return .failure((error as? StoreError) ?? .backend("\(error)")) }
    }

    @Test func aBlockingQueueBatchesWhatArrivesMeanwhileOnItsOwnThread() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let record = Record()
        let gate = Gate()
        let queue = blockingQueue(pool: pool, record: record, gate: gate)
        try await withThrowingTaskGroup(of: (Int, Result<Int, StoreError>).self) { group in
            group.addTask { (1, await Self.outcome(queue, 1)) }
            try await gate.waitUntilEntered()
            // These arrive while the first batch holds the thread: they form the next batches (at most 8).
            for item in [2, 3, 101, 102, 103, 4, 5, 6, 7, 8, 9] {
                group.addTask { (item, await Self.outcome(queue, item)) }
            }
            for _ in 0..<10_000 where queue.pendingCount < 11 { try await Task.sleep(for: .milliseconds(1)) }
            gate.open()
            var results: [Int: Result<Int, StoreError>] = [:]
            for try await (item, result) in group { results[item] = result }
            #expect(results.count == 12)
            for (item, result) in results {
                switch result {
                case .success(let value): #expect(value == item * 2 && !(item > 100 && item % 2 == 1))
                case .failure(let error): #expect(item == 101 || item == 103, "\(item): \(error)")
                }
            }
        }
        let batches = record.batches.withLock { $0 }
        #expect(batches.first == [1])
        #expect(batches.dropFirst().map(\.count) == [8, 3], "\(batches)")
        #expect(queue.batchCount == 3)
        #expect(!record.ranOutsideJob.withLock { $0 }, "a batch ran off the queue's thread")
        try await pool.shutdownGracefully()
    }

    /// A pool already shut down hands the drain back `.cancelled` on the submitter's thread: it must still
    /// run, or its caller would wait for ever.
    @Test func aShutDownThreadStillAnswersEveryCaller() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        try await pool.shutdownGracefully()
        let queue = blockingQueue(pool: pool, record: Record(), gate: nil)
        #expect(try await queue.submit(21) == 42)
        await #expect(throws: StoreError.self) { try await queue.submit(101) }
    }

    @Test func closeWaitsForTheRunningBatchThenRefuses() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let gate = Gate()
        let queue = blockingQueue(pool: pool, record: Record(), gate: gate)
        let first = Task { try await queue.submit(5) }
        try await gate.waitUntilEntered()
        let closed = Task { await queue.close() }
        try await Task.sleep(for: .milliseconds(20))
        gate.open()
        await closed.value
        #expect(try await first.value == 10)
        await #expect(throws: StoreError.self) { try await queue.submit(6) }
        try await pool.shutdownGracefully()
    }

    /// A backend returning the wrong number of results fails every caller of the batch, never leaves one
    /// waiting: for both kinds of run.
    @Test func aWrongResultCountFailsTheBatch() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let blocking = GroupCommitQueue<Int, Int>(maxBatch: 4, thread: { drain in pool.submit { _ in drain() } }) { _ in [] }
        await #expect(throws: StoreError.self) { try await blocking.submit(1) }
        let async = GroupCommitQueue<Int, Int>(maxBatch: 4) { _ in [.success(1), .success(2)] }
        await #expect(throws: StoreError.self) { try await async.submit(1) }
        try await pool.shutdownGracefully()
    }
}
