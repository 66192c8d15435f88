/// The one injected clock: wall time as a `Date` (queue times, report dates, file ages) and sleeping
/// (poll intervals, retry waits). The server runs on `WallClock`; tests drive `ManualMailClock`, whose
/// time moves only when the test advances it, so schedules are checked without sleeping.
import Foundation
import Synchronization

public protocol MailClock: Sendable {
    /// The current wall-clock time.
    var now: Date { get }
    /// Suspends for `duration` of this clock's time; throws `CancellationError` when the task is cancelled.
    func sleep(for duration: Duration) async throws
}

/// The system's clock: `Date()` and `Task.sleep`.
public struct WallClock: MailClock {
    public init() {}
    public var now: Date { Date() }
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}

/// A clock for tests: `now` changes only through `advance`/`set`; a sleeper wakes when the time
/// reaches its deadline (or its task is cancelled).
public final class ManualMailClock: MailClock {
    private struct State {
        var now: Date
        var nextID = 0
        var sleepers: [Int: (deadline: Date, continuation: CheckedContinuation<Void, any Error>)] = [:]
    }

    private let state: Mutex<State>

    public init(_ start: Date) { state = Mutex(State(now: start)) }

    public var now: Date { state.withLock { $0.now } }

    /// Moves the time forward by `seconds` and wakes the sleepers whose deadline has come.
    public func advance(_ seconds: TimeInterval) {
        set(state.withLock { $0.now }.addingTimeInterval(max(0, seconds)))
    }

    /// Sets the time (never backwards) and wakes the sleepers whose deadline has come.
    public func set(_ date: Date) {
        let due = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            if date > s.now { s.now = date }
            let ready = s.sleepers.filter { $0.value.deadline <= s.now }
            for id in ready.keys { s.sleepers[id] = nil }
            return ready.map(\.value.continuation)
        }
        for continuation in due { continuation.resume() }
    }

    /// Sleepers waiting for the time to move (for tests that wait until a loop is parked).
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    public func sleep(for duration: Duration) async throws {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let id = state.withLock { s -> Int in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: (any Error)?? = state.withLock { s in
                    if Task.isCancelled { return .some(CancellationError()) }
                    let deadline = s.now.addingTimeInterval(max(0, seconds))
                    if deadline <= s.now { return .some(nil) }
                    s.sleepers[id] = (deadline, continuation)
                    return .none
                }
                switch resumeNow {
                case .some(.some(let error)): continuation.resume(throwing: error)
                case .some(.none): continuation.resume()
                case .none: break
                }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }
}
