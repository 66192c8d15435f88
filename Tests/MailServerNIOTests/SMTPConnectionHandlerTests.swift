import Foundation
import Logging
import MailCore
import MailServerNIO
import MailStore
import MailTestSupport
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOSSL
import SMTPCore
import Testing

/// The SMTP adapter on an in-memory channel: framing, pipelining, DATA, the STARTTLS switch, and the
/// store round trip (with the in-memory backend), without sockets.
@Suite struct SMTPConnectionHandlerTests {
    typealias Harness = SMTPHandlerHarness

    func makeHarness(tls: TLSContextProvider? = nil, configure: (inout SMTPServerConfiguration) -> Void = { _ in }) async throws -> Harness {
        try await .start(tls: tls, configure: configure)
    }

    @Test func greetingAndEHLO() async throws {
        let h = try await makeHarness()
        #expect(try await h.replies(1) == ["220 mx.test ESMTP Petrel"])
        try await h.send("EHLO client.test\r\n")
        let ehlo = try await h.replies(1)
        #expect(ehlo.first == "250-mx.test")
        #expect(ehlo.contains("250-PIPELINING") && ehlo.contains("250-CHUNKING") && ehlo.last == "250 HELP")
        try await h.finish()
    }

    @Test func pipelinedTransactionIsStoredOnceWithTraceHeaders() async throws {
        let h = try await makeHarness()
        _ = try await h.replies(1)
        try await h.send(
            "EHLO client.test\r\nMAIL FROM:<carol@remote.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<ALICE@example.test>\r\nDATA\r\n")
        let replies = try await h.replies(5)
        #expect(replies.suffix(4).map { String($0.prefix(3)) } == ["250", "250", "250", "354"])
        try await h.send("Subject: hi\r\n\r\n..dotted\r\n.\r\n")
        let final = try await h.replies(1)
        #expect(final.first?.hasPrefix("250 2.0.0 Ok: queued as ") == true)
        let box = try #require(try await h.store.mailbox(EmailAddress(localPart: "alice", domain: "example.test")))
        let messages = try await h.store.messages(mailboxID: box.id)
        #expect(messages.count == 1)
        let bytes = try await h.store.readMessage(mailboxID: box.id, deliveryID: messages[0].deliveryID, offset: 0, maxLength: 1 << 20)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("Return-Path: <carol@remote.test>\r\nReceived: from client.test ([192.0.2.7])"))
        #expect(text.hasSuffix("Subject: hi\r\n\r\n.dotted\r\n"))
        try await h.finish()
    }

    @Test func bareLineFeedInDataClosesWithoutStoring() async throws {
        let h = try await makeHarness()
        _ = try await h.replies(1)
        try await h.send("EHLO c.test\r\nMAIL FROM:<c@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        _ = try await h.replies(4)
        try await h.send("Subject: x\r\n\r\nsmuggle\n.\nMAIL FROM:<evil@remote.test>\r\n.\r\n")
        let reply = try await h.replies(1)
        #expect(reply.first?.hasPrefix("521 5.5.2") == true)
        try await h.channel.closeFuture.get()
        let box = try #require(try await h.store.mailbox(EmailAddress(localPart: "alice", domain: "example.test")))
        #expect(try await h.store.messages(mailboxID: box.id).isEmpty)
        try await h.finish()
    }

    @Test func overlongCommandLineIsRefusedAndTheConnectionCloses() async throws {
        let h = try await makeHarness()
        _ = try await h.replies(1)
        try await h.send(String(repeating: "X", count: 600) + "\r\nNOOP\r\n")
        let replies = try await h.replies(1)
        #expect(replies == ["500 5.5.6 Error: command line too long"])
        try await h.channel.closeFuture.get()
        try await h.finish()
    }

    @Test func startTLSDiscardsPipelinedBytesAndInstallsTLS() async throws {
        let dir = NSTemporaryDirectory() + "petrel-handler-tls-\(UUID().uuidString)"
        let paths = try TLSContextProvider.ensureCertificate(configured: nil, directory: dir, hostname: "mx.test", logger: Logger(label: "t"))
        let h = try await makeHarness(tls: try TLSContextProvider(paths: paths))
        _ = try await h.replies(1)
        try await h.send("EHLO c.test\r\n")
        let ehlo = try await h.replies(1)
        #expect(ehlo.contains("250-STARTTLS"))
        try await h.send("STARTTLS\r\nNOOP\r\nMAIL FROM:<evil@remote.test>\r\n")
        #expect(try await h.replies(1) == ["220 2.0.0 Ready to start TLS"])
        // The TLS handler is now first, and the 36 pipelined octets (NOOP and MAIL) were dropped, not run.
        try await h.channel.pipeline.containsHandler(type: NIOSSLServerHandler.self).get()
        #expect(h.logs.all.contains { $0.hasPrefix("smtp discarded data pipelined after STARTTLS") && $0.contains("bytes=36") })
        try await h.finish()
    }
}
