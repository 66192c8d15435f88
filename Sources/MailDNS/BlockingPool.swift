import Foundation

/// A few dedicated threads for blocking calls (libresolv waits in poll(2) for up to the query timeout), so
/// they never occupy Swift concurrency's cooperative threads. Threads start on demand up to `maxThreads`
/// and then stay for the life of the process, waiting on a condition when idle.
final class BlockingPool: @unchecked Sendable { // state guarded by `condition`
    static let shared = BlockingPool(maxThreads: 8)

    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var threads = 0
    private var idle = 0
    private let maxThreads: Int

    init(maxThreads: Int) { self.maxThreads = max(1, maxThreads) }

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        let spawn = idle == 0 && threads < maxThreads
        if spawn { threads += 1 }
        condition.signal()
        condition.unlock()
        if spawn {
            let thread = Thread { [self] in self.work() }
            thread.name = "petrel-dns"
            thread.start()
        }
    }

    /// Runs `body` on a pool thread and resumes the caller with its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            submit { continuation.resume(returning: body()) }
        }
    }

    private func work() {
        while true {
            condition.lock()
            while jobs.isEmpty {
                idle += 1
                condition.wait()
                idle -= 1
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
