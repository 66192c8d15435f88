import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import PetrelServer

/// BackgroundServices.swift: the background ServiceGroup stops only when `stop` is called (not when the
/// surrounding PetrelService group starts its graceful shutdown), and then in reverse order.
@Suite struct BackgroundServicesTests {
    final class Events: Sendable {
        let list = Mutex<[String]>([])
        func add(_ event: String) { list.withLock { $0.append(event) } }
        var all: [String] { list.withLock { $0 } }
    }

    struct Recorder: Service {
        let name: String
        let events: Events
        func run() async throws {
            events.add("\(name) started")
            try? await gracefulShutdown()
            events.add("\(name) stopped")
        }
    }

    /// Plays PetrelService: starts the background group, and on its own graceful shutdown does some
    /// "listener" work before stopping the group.
    struct Outer: Service {
        let events: Events
        func run() async throws {
            let background = BackgroundServices(
                services: [
                    Recorder(name: "first", events: events),
                    Recorder(name: "second", events: events)
                ],
                logger: Logger(label: "test.services"))
            try? await gracefulShutdown()
            events.add("outer shutdown")
            // Time for a wrongly inherited shutdown to reach the background group (it must not).
            try await Task.sleep(for: .milliseconds(200))
            events.add("stop called")
            let stopped = await background.stop(deadline: .seconds(60))
            events.add(stopped ? "stopped in time" : "deadline passed")
        }
    }

    @Test func backgroundGroupStopsOnlyWhenAskedAndInReverseOrder() async throws {
        let events = Events()
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: Outer(events: events))],
                logger: Logger(label: "test.outer")))
        let running = Task { try await group.run() }
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while events.all.filter({ $0.hasSuffix("started") }).count < 2, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        await group.triggerGracefulShutdown()
        try await running.value
        let all = events.all
        #expect(Set(all.prefix(2)) == ["first started", "second started"])
        #expect(Array(all.dropFirst(2)) == ["outer shutdown", "stop called", "second stopped", "first stopped", "stopped in time"])
    }
}
