import Foundation

/// Dedicated threads for blocking calls (libresolv waits in poll(2) for up to the query timeout), so they
/// never occupy Swift concurrency's cooperative threads. Threads start on demand — whenever more jobs
/// wait than threads are idle — up to `maxThreads`, and then stay for the life of the process, waiting on
/// a condition when idle. The cap is generous because a silent nameserver holds a thread for the whole
/// timeout: with a few threads, a handful of unanswered questions (client-name checks on port 25, MX
/// lookups of the delivery agent) would queue every other lookup behind them.
final class BlockingPool: @unchecked Sendable { // state guarded by `condition`
    static let shared = BlockingPool(maxThreads: 64)

    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var threads = 0
    private var idle = 0
    private let maxThreads: Int

    init(maxThreads: Int) { self.maxThreads = max(1, maxThreads) }

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        let spawn = jobs.count > idle && threads < maxThreads
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
