import Foundation
@testable import MailDNS
import Testing

@Suite struct BlockingPoolTests {
    /// Jobs submitted back to back while one thread is idle must each get a thread: a blocked job (a
    /// silent nameserver) must never hold up the one behind it.
    @Test func blockedJobsDoNotQueueBehindEachOther() async {
        let pool = BlockingPool(maxThreads: 4)
        _ = await pool.run { 1 }   // one thread now exists and is idle
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        for _ in 0..<3 {
            pool.submit {
                started.signal()
                _ = release.wait(timeout: .now() + 30)
            }
        }
        // All three run at once (each waits for `release`), so all three start.
        var startedCount = 0
        for _ in 0..<3 where started.wait(timeout: .now() + 10) == .success { startedCount += 1 }
        #expect(startedCount == 3)
        for _ in 0..<3 { release.signal() }
    }

    @Test func manyRunsOnTwoThreadsAllReturnTheirResults() async {
        let pool = BlockingPool(maxThreads: 2)
        let results = await withTaskGroup(of: Int.self) { group in
            for i in 0..<20 { group.addTask { await pool.run { i * 2 } } }
            return await group.reduce(0, +)
        }
        #expect(results == (0..<20).map { $0 * 2 }.reduce(0, +))
    }
}
