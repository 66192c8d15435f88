import NIOPosix

/// Where the resolver's blocking calls run (libresolv waits in poll(2) for up to the query timeout), so
/// they never occupy Swift concurrency's cooperative threads. The server passes an `NIOThreadPool` of its
/// own (shut down with the server); its thread count is the bound on lookups waiting at once. The bound
/// is generous because a silent nameserver holds a thread for the whole timeout: with a few threads, a
/// handful of unanswered questions (client-name checks on port 25, MX lookups of the delivery agent)
/// would queue every other lookup behind them. Tests may pass any other runner.
public protocol BlockingCallRunner: Sendable {
    /// Runs `body` on a thread that may block and returns its result; throws when the runner no longer
    /// accepts work (shut down).
    func runBlocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async throws -> T
}

extension NIOThreadPool: BlockingCallRunner {
    public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async throws -> T {
        try await runIfActive(body)
    }
}

extension LibresolvResolver {
    /// Threads of the resolver's pool in the server: lookups that can wait at once.
    public static let defaultConcurrentLookups = 64
}
