// The delivery agent's blocking work (Badmail fsyncs, report rendering) runs on its NIOThreadPool, never
// on the actor: with the pool's only thread held, a Badmail write waits while the actor goes on scanning.
import BadmailStore
import Dispatch
import Foundation
import Logging
import MailCore
import MailDNS
import MailQueue
import MailStore
import NIOPosix
import Testing

@testable import MailDelivery

@Suite struct DeliveryAgentBlockingWorkTests {
    @Test func badmailWriteWaitsForThePoolNotTheActor() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let gate = DispatchSemaphore(value: 0)
        let held = DispatchSemaphore(value: 0)
        pool.submit { _ in
            held.signal()
            gate.wait()
        }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                held.wait()
                done.resume()
            }
        }
        let path = NSTemporaryDirectory() + "petrel-badmail-pool-\(UUID().uuidString)"
        let configuration = DeliveryAgentConfiguration(
            hostname: "mx.local.test",
            client: SMTPClientConfiguration(heloName: "mx.local.test", tlsPolicy: .none, timeouts: .uniform(.seconds(5))),
            badmail: BadmailDirectory(path: path, maxBytes: 1_000_000))
        let agent = DeliveryAgent(
            store: InMemoryMailStore(), configuration: configuration, resolver: StaticResolver(),
            group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test.delivery"),
            blockingPool: pool)
        let write = Task {
            await agent.storeBadmail(
                queueID: "Q1", reason: "report could not be addressed", sender: "<>",
                recipients: ["nobody@remote.test"], arrivedAt: Date(),
                message: Array("Subject: report\r\n\r\nbody\r\n".utf8))
        }
        // The actor answers while the write is parked behind the held pool thread.
        #expect(await agent.runOnce() == 0)
        #expect(await agent.runOnce() == 0)
        #expect(await agent.scans == 2)
        #expect(try BadmailDirectory(path: path).list().isEmpty)
        gate.signal()
        await write.value
        let entries = try BadmailDirectory(path: path).list()
        #expect(entries.count == 1)
        #expect(entries.first?.reason == "report could not be addressed")
        try await pool.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The scan loop sleeps on the injected clock: with a 60-second poll interval, the next scan comes as
    /// soon as the manual clock is advanced, not a minute of real time later. Two sleepers: the scan loop's
    /// wait and the lease renewal loop (every 100 s with the default 300 s lease, not woken by 60 s).
    @Test func scanLoopSleepsOnTheInjectedClock() async throws {
        let clock = ManualMailClock(Date(timeIntervalSince1970: 1_900_000_000))
        let configuration = DeliveryAgentConfiguration(
            hostname: "mx.local.test",
            client: SMTPClientConfiguration(heloName: "mx.local.test", tlsPolicy: .none, timeouts: .uniform(.seconds(5))),
            pollInterval: .seconds(60))
        let agent = DeliveryAgent(
            store: InMemoryMailStore(), configuration: configuration, resolver: StaticResolver(),
            group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test.delivery"),
            clock: clock)
        let run = Task { await agent.run() }
        try await waitUntil { await agent.scans == 1 && clock.sleeperCount == 2 }
        clock.advance(60)
        try await waitUntil { await agent.scans == 2 && clock.sleeperCount == 2 }
        #expect(await agent.scans == 2)
        run.cancel()
        await run.value
    }

    func waitUntil(_ condition: @Sendable () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !(await condition()) {
            guard ContinuousClock.now < deadline else { Issue.record("condition not reached"); return }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
