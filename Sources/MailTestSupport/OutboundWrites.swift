/// The handler harnesses' read of the next thing the handler wrote, with a deadline: a reply that never
/// comes (a handler that sends one octet too few, or nothing) fails the test with this error after
/// `timeout` of real time instead of leaving it waiting until the CI run's own limit.
import NIOCore
import NIOEmbedded
import Synchronization

public struct OutboundWriteTimeout: Error, CustomStringConvertible {
    public let timeout: Duration
    public var description: String { "the handler wrote nothing more within \(timeout)" }
}

extension NIOAsyncTestingChannel {
    /// The next outbound `ByteBuffer`, or `OutboundWriteTimeout` after `timeout`. NIO's
    /// `waitForOutboundWrite` cannot be cancelled, so after a timeout its wait stays registered and takes
    /// the next write: the harness is not usable after this error, which ends the test anyway.
    public func nextOutboundWrite(within timeout: Duration = .seconds(30)) async throws -> ByteBuffer {
        let channel = self
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer, any Error>) in
            let once = ResumeOnce(continuation)
            let timer = Task {
                try? await Task.sleep(for: timeout)
                once.resume(with: .failure(OutboundWriteTimeout(timeout: timeout)))
            }
            Task {
                do { once.resume(with: .success(try await channel.waitForOutboundWrite(as: ByteBuffer.self))) } catch {
                    once.resume(with: .failure(error))
                }
                timer.cancel() // the timer's resume then finds the continuation taken
            }
        }
    }
}

/// A continuation resumed by whichever of two tasks comes first.
private final class ResumeOnce: Sendable {
    private let continuation: Mutex<CheckedContinuation<ByteBuffer, any Error>?>

    init(_ continuation: CheckedContinuation<ByteBuffer, any Error>) { self.continuation = Mutex(continuation) }

    func resume(with result: Result<ByteBuffer, any Error>) {
        continuation.withLock { $0.take() }?.resume(with: result)
    }
}
