import Foundation
import Logging
import MailCore
import MailServerNIO
import MailStore
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOSSL
import SMTPCore
import Testing

/// The SMTP adapter on an in-memory channel: framing, pipelining, DATA, the STARTTLS switch, and the
/// store round trip (with the in-memory backend), without sockets.
/// Collects log messages so a test can see what the handler reported.
final class CapturedLogs: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String] = []
    func append(_ s: String) { lock.lock(); entries.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return entries }
}

struct CapturingLogHandler: LogHandler {
    let sink: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        sink.append("\(event.message) " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
    }
}

@Suite struct SMTPConnectionHandlerTests {
    struct Harness {
        let channel: NIOAsyncTestingChannel
        let store: InMemoryMailStore
        let logs: CapturedLogs
        let pool: NIOThreadPool

        /// Reads outbound bytes until `count` complete replies (final lines "NNN ...") have arrived.
        func replies(_ count: Int) async throws -> [String] {
            var text = ""
            var finals = 0
            while finals < count {
                let buffer = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
                text += String(buffer: buffer)
                finals = text.split(separator: "\r\n").filter { $0.count >= 4 && $0[$0.index($0.startIndex, offsetBy: 3)] == " " }.count
            }
            return text.split(separator: "\r\n").map(String.init)
        }

        func send(_ text: String) async throws {
            try await channel.writeInbound(ByteBuffer(string: text))
        }

        func finish() async throws {
            _ = try? await channel.finish()
            try await pool.shutdownGracefully()
        }
    }

    func makeHarness(tls: TLSContextProvider? = nil, configure: (inout SMTPServerConfiguration) -> Void = { _ in }) async throws -> Harness {
        let store = InMemoryMailStore()
        _ = try await store.addDomain("example.test")
        _ = try await store.addMailbox(EmailAddress(localPart: "alice", domain: "example.test"), passwordHash: nil, isAdmin: false)
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        var config = SMTPServerConfiguration(hostname: "mx.test")
        config.tlsAvailable = tls != nil
        configure(&config)
        let logs = CapturedLogs()
        let logger = Logger(label: "test", factory: { _ in CapturingLogHandler(sink: logs) })
        let spool = NSTemporaryDirectory() + "petrel-handler-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let context = SMTPServerContext(
            configuration: config, store: store, spoolDirectory: spool,
            connections: ConnectionTracker(limits: .init(maxConnections: 10, maxConnectionsPerIP: 10)),
            authenticator: Authenticator(store: store, threadPool: pool, throttle: AuthThrottle(), logger: logger),
            tls: tls, logger: logger)
        let channel = NIOAsyncTestingChannel()
        try await channel.testingEventLoop.executeInContext {
            let handler = SMTPConnectionHandler(server: context, client: ClientInfo(ip: IPAddress("192.0.2.7"), port: 4000))
            try channel.pipeline.syncOperations.addHandler(handler)
        }
        try await channel.connect(to: try SocketAddress(ipAddress: "192.0.2.7", port: 4000))
        return Harness(channel: channel, store: store, logs: logs, pool: pool)
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
