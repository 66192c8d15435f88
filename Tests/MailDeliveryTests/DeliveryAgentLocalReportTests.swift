// Issue 13 item 7: the "delivered" report the SMTP server asks the agent for (`localDeliveryReport`) is
// addressed like every other report.
import BadmailStore
import Foundation
import Logging
import MailCore
import MailQueue
import MailStore
import MailTestSupport
import NIOCore
import NIOPosix
import Testing

@testable import MailDelivery

@Suite struct DeliveryAgentLocalReportTests {
    /// The SMTP server's "delivered" report: to a local sender's mailbox, to a remote sender through the
    /// queue with NOTIFY=NEVER (RFC 3461 §6.2), to nobody (Badmail) when the local sender has no mailbox.
    @Test func localDeliveryReportIsAddressedLikeOtherReports() async throws {
        let store = InMemoryMailStore()
        _ = try await store.addDomain("local.test")
        let alice = try await store.addMailbox(EmailAddress(localPart: "alice", domain: "local.test"), passwordHash: nil, isAdmin: true)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let sink = CapturedLogs()
        let badmailPath = NSTemporaryDirectory() + "petrel-badmail-\(UUID().uuidString)"
        let agent = DeliveryAgentShutdownTests.agent(
            store: store, sink: sink, group: group, badmail: BadmailDirectory(path: badmailPath, maxBytes: 1_000_000))
        func report(from sender: MailPath) throws -> DeliveryReport {
            try #require(
                LocalDeliveryReport.make(
                    reportingMTA: "mx.local.test", sender: sender, envelopeID: "e1", arrivalDate: Date(), queueID: "Q1",
                    recipients: [.init(address: EmailAddress(localPart: "bob", domain: "local.test"))], smtpUTF8: false, deliveredAt: Date()))
        }
        let original = Array("Return-Path: <x>\r\nSubject: s\r\n\r\nbody\r\n".utf8)

        let local = try #require(
            await agent.localDeliveryReport(
                try report(from: .mailbox(EmailAddress(localPart: "alice", domain: "local.test"))),
                original: original, originalSize: Int64(original.count)))
        #expect(local.sender == .null)
        #expect(local.localRecipients == [alice.id])
        #expect(local.remoteRecipients.isEmpty)

        let remote = try #require(
            await agent.localDeliveryReport(
                try report(from: .mailbox(EmailAddress(localPart: "carol", domain: "remote.test"))),
                original: original, originalSize: Int64(original.count)))
        #expect(remote.localRecipients.isEmpty)
        #expect(remote.remoteRecipients.map(\.address.description) == ["carol@remote.test"])
        #expect(remote.remoteRecipients.first?.notify == .never)
        if case .bytes(let bytes) = remote.body {
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.contains("Action: delivered\r\n") && text.contains("Original-Envelope-Id: e1\r\n"))
        } else {
            Issue.record("the report body should be in memory")
        }

        let nobody = await agent.localDeliveryReport(
            try report(from: .mailbox(EmailAddress(localPart: "ghost", domain: "local.test"))),
            original: original, originalSize: Int64(original.count))
        #expect(nobody == nil)
        #expect(sink.all.contains { $0.contains("stored in badmail") })
        try await group.shutdownGracefully()
    }
}
