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
        let agent = DeliveryAgent(store: InMemoryMailStore(), configuration: configuration, resolver: StaticResolver(),
                                  group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test.delivery"),
                                  blockingPool: pool)
        let write = Task {
            await agent.storeBadmail(queueID: "Q1", reason: "report could not be addressed", sender: "<>",
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
}
