/// A dedicated `LISTEN` connection: every `NOTIFY` on one channel rings all subscribers.
///
/// Generic over the channel name, so the queue's wake-ups (`petrel_queue…`) and the IMAP folder changes
/// (`petrel_imap…`, which need the payload: `onPayload`) use the same machinery, each with a listener of
/// its own. The connection is opened
/// at the first subscriber, not from the pool (a pooled connection goes back to the pool and would lose
/// its LISTEN). When it breaks, the listener logs it, waits (1 s, doubling up to 30 s, on the store's
/// clock), connects again and LISTENs again ("re-listening" in the log); subscribers then get one ring,
/// since notifications sent while nobody listened are lost. `close()` ends it and every subscriber's stream.
import Foundation
import Logging
import MailCore
import NIOPosix
import PostgresNIO
import Synchronization

final class PostgresNotificationListener: Sendable {
    let channel: String
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let clock: any MailClock
    /// Called with each notification's payload, and with nil each time the LISTEN comes into force (the
    /// first time and after a reconnect: what was sent while nobody listened is lost).
    private let onPayload: (@Sendable (String?) -> Void)?

    private struct State {
        var subscribers: [Int: AsyncStream<Void>.Continuation] = [:]
        var nextID = 0
        var task: Task<Void, Never>?
        var closed = false
        /// LISTEN is in force now (for tests and logs).
        var listening = false
        var connects = 0
    }

    private let state = Mutex(State())

    init(
        channel: String, configuration: PostgresConnection.Configuration, logger: Logger, clock: any MailClock,
        onPayload: (@Sendable (String?) -> Void)? = nil
    ) {
        self.channel = channel
        self.onPayload = onPayload
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
    }

    /// A stream that yields once per notification (bursts may be merged: each subscriber keeps at most
    /// one pending ring). Starts the listening connection if it is not running.
    func subscribe() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let start: Bool = state.withLock { state in
            if state.closed {
                continuation.finish()
                return false
            }
            let id = state.nextID
            state.nextID += 1
            state.subscribers[id] = continuation
            continuation.onTermination = { [weak self] _ in
                self?.state.withLock { _ = $0.subscribers.removeValue(forKey: id) }
            }
            return state.task == nil
        }
        if start { startTask() }
        return stream
    }

    /// Starts the listening connection without a subscriber (for `onPayload`); nothing if it runs.
    func start() {
        if state.withLock({ $0.task == nil && !$0.closed }) { startTask() }
    }

    private func startTask() {
        let task = Task { await self.run() }
        let extra = state.withLock { state -> Task<Void, Never>? in
            if state.closed || state.task != nil { return task }
            state.task = task
            return nil
        }
        extra?.cancel()
    }

    /// True while the LISTEN is in force.
    var isListening: Bool { state.withLock { $0.listening } }

    /// Connections made so far (1 after the first LISTEN; more after reconnects).
    var connectCount: Int { state.withLock { $0.connects } }

    func close() async {
        let (task, subscribers) = state.withLock { state in
            state.closed = true
            defer {
                state.subscribers = [:]
                state.task = nil
            }
            return (state.task, Array(state.subscribers.values))
        }
        task?.cancel()
        await task?.value
        for subscriber in subscribers { subscriber.finish() }
    }

    private func ring() {
        for subscriber in state.withLock({ Array($0.subscribers.values) }) { subscriber.yield() }
    }

    private func run() async {
        var failures = 0
        while !Task.isCancelled {
            do {
                let conn = try await PostgresConnection.connect(
                    on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: 2, logger: logger)
                let reconnect = state.withLock { state in
                    state.connects += 1
                    return state.connects > 1
                }
                do {
                    try await conn.listen(on: channel) { notifications in
                        state.withLock { $0.listening = true }
                        failures = 0
                        if reconnect {
                            logger.notice("re-listening after reconnect", metadata: ["channel": "\(channel)"])
                            ring()
                        } else {
                            logger.debug("listening", metadata: ["channel": "\(channel)"])
                        }
                        onPayload?(nil)
                        for try await notification in notifications {
                            ring()
                            onPayload?(notification.payload)
                        }
                    }
                } catch {
                    state.withLock { $0.listening = false }
                    try? await conn.close()
                    throw error
                }
                state.withLock { $0.listening = false }
                try? await conn.close()
                if Task.isCancelled { return }
                logger.warning("notification connection ended", metadata: ["channel": "\(channel)"])
            } catch {
                if Task.isCancelled { return }
                logger.warning(
                    "notification connection lost", metadata: ["channel": "\(channel)", "error": "\(PostgresMailStore.storeError(error))"])
            }
            failures += 1
            let wait = min(30, 1 << min(failures - 1, 5))
            do { try await clock.sleep(for: .seconds(wait)) } catch { return }
        }
    }
}
