import Foundation
import MailCore
import MailTestSupport
import NIOPosix
import Synchronization
import Testing

@testable import MailDNS

/// The resolver tests' thread pool (the server makes its own, `LibresolvResolver.defaultConcurrentLookups`
/// threads, and shuts it down with itself). Enough threads that silent-nameserver tests overlap.
enum TestPools {
    static let dns: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 16)
        pool.start()
        return pool
    }()
}

/// Runs calls on `base` and records how long each ran on its thread: the resolver's own time, without
/// the wait for a cooperative thread to resume the caller (long when the whole suite loads two cores).
final class TimedRunner: BlockingCallRunner {
    let base: any BlockingCallRunner
    private let times = Mutex<[Duration]>([])

    init(_ base: any BlockingCallRunner) { self.base = base }

    var durations: [Duration] { times.withLock { $0 } }

    func runBlocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async throws -> T {
        try await base.runBlocking { [self] in
            let start = ContinuousClock.now
            let result = body()
            let elapsed = ContinuousClock.now - start
            times.withLock { $0.append(elapsed) }
            return result
        }
    }
}

@Suite struct BlockingCallRunnerTests {
    /// Blocked calls up to the pool's thread count run at once: a silent nameserver holding one thread
    /// never holds up the call behind it. (The test never blocks a Swift concurrency thread itself: it
    /// polls the count of started calls.)
    @Test func blockedCallsRunSideBySideUpToTheThreadCount() async throws {
        let pool = NIOThreadPool(numberOfThreads: 3)
        pool.start()
        let runner: any BlockingCallRunner = pool
        let started = StartedCount()
        let release = DispatchSemaphore(value: 0)
        let calls = (0..<3).map { _ in
            Task {
                _ = try? await runner.runBlocking {
                    started.value.withLock { $0 += 1 }
                    _ = release.wait(timeout: .now() + 60)
                }
            }
        }
        // All three run at once (each waits for `release`), so all three start.
        let deadline = ContinuousClock.now + .seconds(30)
        while started.value.withLock({ $0 }) < 3, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(started.value.withLock { $0 } == 3)
        for _ in 0..<3 { release.signal() }
        for call in calls { await call.value }
        try await pool.shutdownGracefully()
    }

    @Test func manyRunsOnTwoThreadsAllReturnTheirResults() async throws {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<20 { group.addTask { try await pool.runBlocking { i * 2 } } }
            return try await group.reduce(0, +)
        }
        #expect(results == (0..<20).map { $0 * 2 }.reduce(0, +))
        try await pool.shutdownGracefully()
    }

    /// After the server shut its pool down, a lookup fails temporarily and sends nothing.
    @Test func aStoppedPoolAnswersTemporaryFailureWithoutAsking() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        try await pool.shutdownGracefully()
        let server = try #require(TestDNSServer(table: LibresolvResolverTests.table))
        defer { server.stop() }
        let resolver = LibresolvResolver(nameserver: server.address, port: server.port, timeout: .seconds(1), runner: pool)
        #expect(await resolver.mx("example.test").isTemporaryFailure)
        #expect(server.queries.isEmpty)
    }
}

private final class StartedCount: Sendable {
    let value = Mutex(0)
}
