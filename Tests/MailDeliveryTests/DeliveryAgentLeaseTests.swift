// The delivery agent owns queue work through leases in the store, not a set in memory: two agents on one
// store (two nodes) never send the same entry; a lease that ran out lets the other agent deliver, and the
// late owner's results are dropped instead of applied twice; renewals keep a long transfer's entries.
// Time is the manual clock: leases expire without waiting.
import Foundation
import Logging
import MailCore
import MailDNS
import MailQueue
import MailStore
import MailTestSupport
import NIOCore
import NIOPosix
import Testing

@testable import MailDelivery

@Suite(.serialized) struct DeliveryAgentLeaseTests {
    static let start = Date(timeIntervalSince1970: 1_900_000_000)
    static let lease: Duration = .seconds(300)

    struct Nodes {
        let store: InMemoryMailStore
        let server: ScriptedSMTPServer
        let a: DeliveryAgent
        let b: DeliveryAgent
        let clock: ManualMailClock
    }

    static func nodes(_ options: ScriptedServerOptions = ScriptedServerOptions(), group: any EventLoopGroup) async throws -> Nodes {
        let store = InMemoryMailStore()
        let server = try await ScriptedSMTPServer.start(group: group, options: options)
        let clock = ManualMailClock(start)
        func agent(_ node: String) -> DeliveryAgent {
            let configuration = DeliveryAgentConfiguration(
                hostname: "mx.local.test",
                routes: RouteTable(routes: ["remote.test": NextHopAddress(host: "127.0.0.1", port: server.port)], remotePort: server.port),
                client: SMTPClientConfiguration(heloName: "mx.local.test", tlsPolicy: .none, timeouts: .uniform(.seconds(5))),
                maxMessagesPerConnection: 2, nodeID: node, leaseDuration: lease)
            return DeliveryAgent(
                store: store, configuration: configuration, resolver: StaticResolver(), group: group,
                logger: Logger(label: "test.delivery.\(node)"), clock: clock)
        }
        return Nodes(store: store, server: server, a: agent("node-a"), b: agent("node-b"), clock: clock)
    }

    static func queue(_ store: InMemoryMailStore, _ recipient: String, at date: Date) async throws {
        _ = try await store.deliver(
            IncomingMessage(
                queueID: QueueID.generate(date: date), sender: .mailbox(address("alice@local.test")), localRecipients: [],
                receivedAt: date, traceHeaders: Array("Received: from client.test\r\n".utf8),
                body: .bytes(Array("Subject: \(recipient)\r\n\r\nHello\r\n".utf8)),
                remoteRecipients: [OutboundRecipient(address: address(recipient))]))
    }

    @Test func twoAgentsOnOneStoreSendEachEntryOnce() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let n = try await Self.nodes(group: group)
        for i in 0..<12 { try await Self.queue(n.store, "r\(i)@remote.test", at: Self.start) }
        // Both scan at once. Each plans at most 8 entries (4 connections of 2 messages), and when both
        // list the queue before either claims, they plan the same 8 and one of them claims none: the
        // other 4 wait for the next scan. So passes run until the queue is empty (at most 4).
        var sentByAgents = 0
        for _ in 0..<4 where try await !n.store.queueEntries().isEmpty {
            async let fromA = n.a.runOnce()
            async let fromB = n.b.runOnce()
            let (a, b) = await (fromA, fromB)
            sentByAgents += a + b
        }
        #expect(sentByAgents == 12)
        let sent = n.server.snapshot.rawBodies.map { String(decoding: $0, as: UTF8.self) }
        #expect(sent.count == 12)
        for i in 0..<12 {
            #expect(sent.filter { $0.contains("Subject: r\(i)@remote.test\r\n") }.count == 1, "r\(i) sent once")
        }
        #expect(try await n.store.queueEntries().isEmpty)
        let heldA = await n.a.heldEntries
        let heldB = await n.b.heldEntries
        #expect(heldA.isEmpty && heldB.isEmpty)
        await n.server.stop()
        try await group.shutdownGracefully()
    }

    @Test func anExpiredLeaseGoesToTheOtherAgentAndTheLateResultIsDropped() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var options = ScriptedServerOptions()
        options.rcptReplies = ["bob@remote.test": "450 4.2.1 busy"]
        let n = try await Self.nodes(options, group: group)
        try await Self.queue(n.store, "bob@remote.test", at: Self.start)
        // Node A claims the entry and stalls before sending.
        let (batches, _) = await n.a.scan()
        #expect(batches.count == 1)
        #expect(try await n.store.queueEntries().first?.lease?.owner == "node-a")
        // While A's lease runs, B finds nothing to do.
        n.clock.advance(299)
        #expect(await n.b.runOnce() == 0)
        // Past it, B takes the entry and records its attempt.
        n.clock.advance(2)
        #expect(await n.b.runOnce() == 1)
        var entry = try #require(try await n.store.queueEntries().first)
        #expect(entry.attempts == 1 && entry.lease == nil)
        // A wakes up and finishes its transfer: its result is refused, not counted a second time.
        for batch in batches { await n.a.deliver(batch) }
        entry = try #require(try await n.store.queueEntries().first)
        #expect(entry.attempts == 1)
        #expect(entry.nextAttempt == n.clock.now.addingTimeInterval(300), "B's retry time stands")
        #expect(await n.a.heldEntries.isEmpty)
        await n.server.stop()
        try await group.shutdownGracefully()
    }

    @Test func renewalKeepsALongTransfersEntriesAndNoticesALostLease() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let n = try await Self.nodes(group: group)
        try await Self.queue(n.store, "bob@remote.test", at: Self.start)
        let (batches, _) = await n.a.scan()
        let ids = Set(batches.flatMap(\.entryIDs))
        #expect(ids.count == 1)
        #expect(await n.a.heldEntries == ids)
        // Renewed at two thirds of the lease: still A's after the first lease would have ended.
        n.clock.advance(200)
        await n.a.renewLeases()
        n.clock.advance(200)
        #expect(await n.b.runOnce() == 0)
        #expect(try await n.store.queueEntries().first?.lease?.until == Self.start.addingTimeInterval(500))
        // No renewal in time (a stalled node): B claims it, and A's next renewal finds it lost.
        n.clock.advance(101)
        #expect(
            try await n.store.claimQueueEntries(
                QueueClaim(owner: "node-b", now: n.clock.now, leaseUntil: n.clock.now.addingTimeInterval(300), limit: 10)
            ).count == 1)
        await n.a.renewLeases()
        #expect(await n.a.heldEntries.isEmpty)
        await n.server.stop()
        try await group.shutdownGracefully()
    }

    @Test func aStoppedAgentLeavesNothingLeased() async throws {
        // A transfer cancelled by the stop is recorded as deferred (which ends its lease); whatever is
        // still held after that (a result that could not be recorded) is released, not left to run out.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var options = ScriptedServerOptions()
        options.finalReply = nil // the transfer hangs after the body
        let n = try await Self.nodes(options, group: group)
        try await Self.queue(n.store, "bob@remote.test", at: Self.start)
        let run = Task { await n.a.run() }
        var held: Set<Int64> = []
        for _ in 0..<500 where held.isEmpty {
            held = await n.a.heldEntries
            if held.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(held.count == 1)
        run.cancel()
        await run.value
        let entry = try #require(try await n.store.queueEntries().first)
        #expect(entry.lease == nil, "\(entry)")
        #expect(await n.a.heldEntries.isEmpty)
        await n.server.stop()
        try await group.shutdownGracefully()
    }

    @Test func releasedLeasesAreClaimableAtOnce() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let n = try await Self.nodes(group: group)
        try await Self.queue(n.store, "bob@remote.test", at: Self.start)
        let (batches, _) = await n.a.scan()
        #expect(batches.count == 1)
        #expect(await n.b.scan().0.isEmpty, "A holds it")
        await n.a.releaseHeldLeases()
        #expect(await n.a.heldEntries.isEmpty)
        #expect(try await n.store.queueEntries().first?.lease == nil)
        #expect(await n.b.scan().0.count == 1, "B takes it with no time passed")
        await n.server.stop()
        try await group.shutdownGracefully()
    }

    @Test func anAgentStartingUnderTheIdOfADeadRunTakesItsEntriesBackAtOnce() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let n = try await Self.nodes(group: group)
        try await Self.queue(n.store, "bob@remote.test", at: Self.start)
        try await Self.queue(n.store, "carol@remote.test", at: Self.start)
        // Node B's earlier run claimed one entry, then died (no release); A holds the other.
        _ = try await n.store.claimQueueEntries(
            QueueClaim(owner: "node-b", now: Self.start, leaseUntil: Self.start.addingTimeInterval(300), limit: 1, entryIDs: nil))
        #expect(await n.a.scan().0.count == 1)
        // B starts again under the same id: its old lease is handed back, A's stays.
        await n.b.releaseLeasesOfAnEarlierRun()
        let entries = try await n.store.queueEntries()
        let owners = entries.map { $0.lease?.owner ?? "-" }.sorted()
        #expect(owners == ["-", "node-a"])
        #expect(await n.b.scan().0.count == 1, "B delivers its entry with no time passed")
        await n.a.releaseHeldLeases()
        await n.b.releaseHeldLeases()
        await n.server.stop()
        try await group.shutdownGracefully()
    }

    @Test func theLeaseTimingIsPure() {
        let timing = QueueLeaseTiming(duration: .seconds(300))
        #expect(timing.renewInterval == .seconds(100))
        #expect(timing.until(Self.start) == Self.start.addingTimeInterval(300))
        #expect(QueueLeaseTiming(duration: .zero).duration == .seconds(1))
    }
}
