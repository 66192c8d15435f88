/// Where a connection handler's Swift task runs (`TaskPlace`, ConnectionIO.swift): on the connection's
/// event loop between its waits, or on Swift's global executor; either way its result or error
/// completes the promise.
import NIOCore
import NIOPosix
import Testing

@testable import MailServerNIO

@Suite struct TaskPlaceTests {
    struct Refused: Error {}

    @Test func aTaskPlacedOnTheEventLoopRunsThereBetweenItsWaits() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let loop = group.next()

        let onLoop = loop.makePromise(of: [Bool].self)
        onLoop.completeWithTask(on: .eventLoop) {
            var seen = [loop.inEventLoop]
            let value = try await pool.runIfActive { 41 + 1 } // a blocking call's thread, then back
            seen.append(loop.inEventLoop && value == 42)
            try await Task.sleep(for: .milliseconds(1))
            seen.append(loop.inEventLoop)
            return seen
        }
        #expect(try await onLoop.futureResult.get() == [true, true, true])

        let global = loop.makePromise(of: [Bool].self)
        global.completeWithTask(on: .global) {
            var seen = [loop.inEventLoop]
            _ = try await pool.runIfActive { 0 }
            seen.append(loop.inEventLoop)
            return seen
        }
        #expect(try await global.futureResult.get() == [false, false])

        for place in [TaskPlace.eventLoop, .global] {
            let failing = loop.makePromise(of: Int.self)
            failing.completeWithTask(on: place) { throw Refused() }
            await #expect(throws: Refused.self) { try await failing.futureResult.get() }
        }
        try await pool.shutdownGracefully()
        try await group.shutdownGracefully()
    }
}
