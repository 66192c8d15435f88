// Tests for DeliveryAgent (+Attempt, +Reports): the queue → SMTP → results loop against a scripted
// SMTP server on loopback, with an injected clock so the retry schedule, delay warnings and expiry are
// checked without sleeping.
import BadmailStore
import Foundation
import Logging
import MailCore
import MailDNS
import MailQueue
import MailStore
import MailTestSupport
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import MailDelivery

/// The manual clock of MailCore: time moves only when a test advances it.
typealias TestClock = ManualMailClock

@Suite(.serialized) struct DeliveryAgentTests {
    static let start = Date(timeIntervalSince1970: 1_900_000_000)
    static let schedule: RetrySchedule = {
        (try? RetrySchedule(intervals: [60, 600], expireAfter: 3 * 3600, delayWarningAfter: 3600)) ?? .default
    }()

    struct Fixture {
        let store: InMemoryMailStore
        let server: ScriptedSMTPServer
        let agent: DeliveryAgent
        let clock: TestClock
        let aliceID: Int64
        let badmailPath: String
    }

    static func fixture(
        _ options: ScriptedServerOptions = ScriptedServerOptions(), resolver: StaticResolver = StaticResolver(),
        bounceCopyTo: EmailAddress? = nil, group: any EventLoopGroup
    ) async throws -> Fixture {
        let store = InMemoryMailStore()
        _ = try await store.addDomain("local.test")
        let alice = try await store.addMailbox(EmailAddress(localPart: "alice", domain: "local.test"), passwordHash: nil, isAdmin: true)
        let server = try await ScriptedSMTPServer.start(group: group, options: options)
        let clock = TestClock(start)
        let badmailPath = NSTemporaryDirectory() + "petrel-badmail-\(UUID().uuidString)"
        let configuration = DeliveryAgentConfiguration(
            hostname: "mx.local.test", schedule: schedule,
            routes: RouteTable(routes: ["remote.test": NextHopAddress(host: "127.0.0.1", port: server.port)], remotePort: server.port),
            client: SMTPClientConfiguration(heloName: "mx.local.test", tlsPolicy: .none, timeouts: .uniform(.seconds(5))),
            bounceCopyTo: bounceCopyTo, badmail: BadmailDirectory(path: badmailPath, maxBytes: 1_000_000))
        let agent = DeliveryAgent(
            store: store, configuration: configuration, resolver: resolver, group: group,
            logger: Logger(label: "test.delivery"), clock: clock)
        return Fixture(store: store, server: server, agent: agent, clock: clock, aliceID: alice.id, badmailPath: badmailPath)
    }

    static func queue(
        _ store: InMemoryMailStore, from sender: MailPath = .mailbox(EmailAddress(localPart: "alice", domain: "local.test")),
        to recipients: [String], at date: Date, body: String = "Subject: test\r\n\r\nHello\r\n.dot\r\n"
    ) async throws {
        let remote = recipients.map { OutboundRecipient(address: address($0)) }
        let trace = "Return-Path: \(sender)\r\nReceived: from client.test by mx.local.test; Sun, 29 Nov 2026 08:00:00 +0000\r\n"
        _ = try await store.deliver(
            IncomingMessage(
                queueID: QueueID.generate(date: date), sender: sender, localRecipients: [],
                receivedAt: date, traceHeaders: Array(trace.utf8), body: .bytes(Array(body.utf8)),
                remoteRecipients: remote))
    }

    static func reports(_ store: InMemoryMailStore, mailbox: Int64) async throws -> [String] {
        var texts: [String] = []
        for message in try await store.messages(mailboxID: mailbox) {
            let bytes = try await store.readMessage(mailboxID: mailbox, deliveryID: message.deliveryID, offset: 0, maxLength: 1 << 20)
            texts.append(String(decoding: bytes, as: UTF8.self))
        }
        return texts
    }

    @Test func deliversAndEmptiesTheQueue() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let f = try await Self.fixture(group: group)
        try await Self.queue(f.store, to: ["bob@remote.test", "carol@remote.test"], at: Self.start)
        #expect(await f.agent.runOnce() == 2)
        let record = f.server.snapshot
        #expect(record.rawBodies.count == 1, "two recipients, one transaction")
        let body = String(decoding: record.rawBodies.first ?? [], as: UTF8.self)
        #expect(body.hasPrefix("Received: from client.test"), "our Return-Path line is not sent")
        #expect(body.contains("\r\n..dot\r\n"))
        #expect(record.commands.contains("RCPT TO:<bob@remote.test>") && record.commands.contains("RCPT TO:<carol@remote.test>"))
        #expect(try await f.store.queueEntries().isEmpty)
        #expect(try await f.store.storedMessageCount() == 0, "the body goes once nothing references it")
        await f.server.stop()
        try await group.shutdownGracefully()
    }

    @Test func temporaryFailureFollowsTheScheduleThenWarnsThenExpires() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var options = ScriptedServerOptions()
        options.rcptReplies = ["bob@remote.test": "450 4.2.1 mailbox busy"]
        let f = try await Self.fixture(options, group: group)
        try await Self.queue(f.store, to: ["bob@remote.test"], at: Self.start)

        #expect(await f.agent.runOnce() == 1)
        var entry = try #require(try await f.store.queueEntries().first)
        #expect(entry.attempts == 1)
        #expect(entry.nextAttempt == Self.start.addingTimeInterval(60))
        #expect(entry.lastError?.contains("450 4.2.1") == true)

        // Not due yet: nothing is tried.
        f.clock.advance(30)
        #expect(await f.agent.runOnce() == 0)
        f.clock.advance(31)
        #expect(await f.agent.runOnce() == 1)
        entry = try #require(try await f.store.queueEntries().first)
        #expect(entry.attempts == 2)
        #expect(entry.nextAttempt == f.clock.now.addingTimeInterval(600))
        #expect(try await Self.reports(f.store, mailbox: f.aliceID).isEmpty)

        // Past the delay-warning age: one "delayed" report, then no more.
        f.clock.advance(3600)
        #expect(await f.agent.runOnce() == 1)
        var texts = try await Self.reports(f.store, mailbox: f.aliceID)
        #expect(texts.count == 1)
        #expect(texts.first?.contains("Action: delayed") == true)
        #expect(texts.first?.hasPrefix("Return-Path: <>\r\n") == true)
        f.clock.advance(600)
        #expect(await f.agent.runOnce() == 1)
        #expect(try await Self.reports(f.store, mailbox: f.aliceID).count == 1)

        // At the expiry: the last attempt fails and a failure report goes out; the entry is gone.
        f.clock.advance(3 * 3600)
        #expect(await f.agent.runOnce() == 1)
        texts = try await Self.reports(f.store, mailbox: f.aliceID)
        #expect(texts.count == 2)
        #expect(texts.last?.contains("Action: failed") == true)
        #expect(texts.last?.contains("450 4.2.1") == true)
        #expect(try await f.store.queueEntries().isEmpty)
        await f.server.stop()
        try await group.shutdownGracefully()
    }

    @Test func permanentFailureReportsOnceForSeveralRecipients() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var options = ScriptedServerOptions()
        options.rcptReplies = ["x@remote.test": "550 5.1.1 no such user", "y@remote.test": "550 5.1.1 no such user"]
        let f = try await Self.fixture(options, group: group)
        try await Self.queue(f.store, to: ["x@remote.test", "y@remote.test", "z@remote.test"], at: Self.start)
        #expect(await f.agent.runOnce() == 3)
        let texts = try await Self.reports(f.store, mailbox: f.aliceID)
        #expect(texts.count == 1)
        let report = texts.first ?? ""
        #expect(report.contains("Final-Recipient: rfc822;x@remote.test") || report.contains("Final-Recipient: rfc822; x@remote.test"))
        #expect(report.contains("y@remote.test"))
        #expect(!report.contains("Final-Recipient: rfc822;z@remote.test") && !report.contains("Final-Recipient: rfc822; z@remote.test"))
        #expect(f.server.snapshot.rawBodies.count == 1, "z was delivered")
        #expect(try await f.store.queueEntries().isEmpty)
        await f.server.stop()
        try await group.shutdownGracefully()
    }

    /// Issue 13 item 11: a report to an SMTPUTF8 sender at a Unicode domain is queued under the A-label
    /// routing domain (THE recipient decision), and that is the name the resolver is asked for. The
    /// resolver here knows only the A-label (a temporary failure: the report stays queued); had the
    /// U-label been used it would be NXDOMAIN and the report would vanish into Badmail.
    @Test func reportToAUnicodeSenderDomainIsQueuedUnderItsALabel() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var options = ScriptedServerOptions()
        options.rcptReplies = ["x@remote.test": "550 5.1.1 no such user"]
        let resolver = StaticResolver(failures: ["xn--bcher-kva.example": "test: try later"])
        let f = try await Self.fixture(options, resolver: resolver, group: group)
        try await Self.queue(f.store, from: .mailbox(address("anna@Bücher.example")), to: ["x@remote.test"], at: Self.start)
        #expect(await f.agent.runOnce() == 1)
        f.clock.advance(1)
        _ = await f.agent.runOnce()
        let reports = try await f.store.queueEntries()
        #expect(reports.count == 1)
        let report = try #require(reports.first)
        #expect(report.sender == .null)
        #expect(report.recipient.address == address("anna@bücher.example"))
        #expect(report.recipient.domain == "xn--bcher-kva.example")
        #expect(report.recipient.notify == .never)
        await f.server.stop()
        try await group.shutdownGracefully()
    }

    @Test func failureReportsAreCopiedToTheAdministrator() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var options = ScriptedServerOptions()
        options.rcptReplies = ["x@remote.test": "550 5.1.1 no such user"]
        let f = try await Self.fixture(options, bounceCopyTo: address("hostmaster@local.test"), group: group)
        let admin = try await f.store.addMailbox(EmailAddress(localPart: "hostmaster", domain: "local.test"), passwordHash: nil, isAdmin: false)
        try await Self.queue(f.store, to: ["x@remote.test"], at: Self.start)
        #expect(await f.agent.runOnce() == 1)
        let toSender = try await Self.reports(f.store, mailbox: f.aliceID)
        let toAdmin = try await Self.reports(f.store, mailbox: admin.id)
        #expect(toSender.count == 1 && toAdmin.count == 1)
        #expect(toAdmin.first?.contains("Action: failed") == true)
        await f.server.stop()
        try await group.shutdownGracefully()
    }

    @Test func aBounceThatBouncesGoesToBadmail() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var options = ScriptedServerOptions()
        options.rcptReplies = ["ghost@remote.test": "550 5.1.1 no such user"]
        let f = try await Self.fixture(options, group: group)
        try await Self.queue(f.store, from: .null, to: ["ghost@remote.test"], at: Self.start)
        #expect(await f.agent.runOnce() == 1)
        let entries = try BadmailDirectory(path: f.badmailPath).list()
        #expect(entries.count == 1)
        #expect(entries.first?.reason.contains("550 5.1.1") == true)
        #expect(try await f.store.queueEntries().isEmpty)
        #expect(try await Self.reports(f.store, mailbox: f.aliceID).isEmpty, "no bounce of a bounce")
        try? FileManager.default.removeItem(atPath: f.badmailPath)
        await f.server.stop()
        try await group.shutdownGracefully()
    }

    @Test func nullMXFailsAtOnceWithoutConnecting() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let resolver = StaticResolver(mx: ["nullmx.test": [MXRecord(preference: 0, exchange: "")]])
        let f = try await Self.fixture(resolver: resolver, group: group)
        try await Self.queue(f.store, to: ["someone@nullmx.test"], at: Self.start)
        #expect(await f.agent.runOnce() == 1)
        let texts = try await Self.reports(f.store, mailbox: f.aliceID)
        #expect(texts.count == 1)
        #expect(texts.first?.contains("Status: 5.1.10") == true)
        #expect(f.server.snapshot.connections == 0)
        await f.server.stop()
        try await group.shutdownGracefully()
    }

    @Test func mailLoopIsReturnedWith546() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let f = try await Self.fixture(group: group)
        let hops = (0..<31).map { "Received: from h\($0).test by h\($0 + 1).test; Sun, 29 Nov 2026 08:00:00 +0000\r\n" }.joined()
        try await Self.queue(f.store, to: ["bob@remote.test"], at: Self.start, body: hops + "Subject: loop\r\n\r\nbody\r\n")
        #expect(await f.agent.runOnce() == 1)
        let texts = try await Self.reports(f.store, mailbox: f.aliceID)
        #expect(texts.first?.contains("Status: 5.4.6") == true)
        #expect(f.server.snapshot.connections == 0)
        await f.server.stop()
        try await group.shutdownGracefully()
    }

    @Test func connectionRefusedDefers() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let f = try await Self.fixture(group: group)
        await f.server.stop()
        try await Self.queue(f.store, to: ["bob@remote.test"], at: Self.start)
        #expect(await f.agent.runOnce() == 1)
        let entry = try #require(try await f.store.queueEntries().first)
        #expect(entry.attempts == 1)
        #expect(entry.lastError?.contains("connect") == true)
        try await group.shutdownGracefully()
    }

    @Test func returnPathLength() {
        #expect(DeliveryAgent.returnPathLength(Array("Return-Path: <a@b>\r\nReceived: x\r\n".utf8)) == 20)
        #expect(DeliveryAgent.returnPathLength(Array("return-path: <a@b>\r\n  folded\r\nX: y\r\n".utf8)) == 30)
        #expect(DeliveryAgent.returnPathLength(Array("Received: x\r\n".utf8)) == 0)
        #expect(DeliveryAgent.returnPathLength(Array("Return-Path: <a@b>".utf8)) == 0)
    }
}
