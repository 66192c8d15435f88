import Foundation
import Logging
import MailCore
import MailServerNIO
import MailStore
import MailTestSupport
import NIOCore
import NIOEmbedded
import NIOPosix
import POP3Core
import SMTPCore
import Testing

/// Protocol findings through the SMTP and POP3 adapters on an in-memory channel: the bound of logins in flight
/// (the slot of a failed login is held through its delay, even after the client left) and NUL in DATA
/// and BDAT refused with nothing stored. The harness is shared with SMTPSuccessReportHandlerTests.
@Suite struct SMTPConnectionHandlerFindingsTests {
    static let clientIP = IPAddress("192.0.2.7")
    static let alice = EmailAddress(localPart: "alice", domain: "example.test")
    static let bob = EmailAddress(localPart: "bob", domain: "example.test")
    /// scrypt (ln=10, fast) of "secret", salt "petrel-test-salt" (as in POP3ConnectionHandlerTests).
    static let secretHash = "$scrypt$ln=10,r=8,p=1$cGV0cmVsLXRlc3Qtc2FsdA$F6NoQSNEaJ4lBCchrCu1ximbPZV86jMyw2pLeOhgB0Q"

    final class Harness: @unchecked Sendable {
        let channel: NIOAsyncTestingChannel
        let store: InMemoryMailStore
        let throttle: AuthThrottle
        let logs: CapturedLogs
        let pool: NIOThreadPool
        private var text = ""

        init(channel: NIOAsyncTestingChannel, store: InMemoryMailStore, throttle: AuthThrottle, logs: CapturedLogs, pool: NIOThreadPool) {
            self.channel = channel
            self.store = store
            self.throttle = throttle
            self.logs = logs
            self.pool = pool
        }

        /// The next `count` complete replies (their final lines).
        func replies(_ count: Int) async throws -> [String] {
            var finals: [String] = []
            while finals.count < count {
                while let end = text.range(of: "\r\n") {
                    let line = String(text[..<end.lowerBound])
                    text.removeSubrange(..<end.upperBound)
                    if line.count >= 4, line[line.index(line.startIndex, offsetBy: 3)] == " " { finals.append(line) }
                    if finals.count == count { return finals }
                }
                let buffer = try await channel.nextOutboundWrite()
                text += String(buffer: buffer)
            }
            return finals
        }

        func send(_ text: String) async throws { try await channel.writeInbound(ByteBuffer(string: text)) }
        func send(_ bytes: [UInt8]) async throws { try await channel.writeInbound(ByteBuffer(bytes: bytes)) }

        func messages(_ address: EmailAddress) async throws -> [String] {
            guard let box = try await store.mailbox(address) else { return [] }
            var out: [String] = []
            for message in try await store.messages(mailboxID: box.id) {
                let bytes = try await store.readMessage(mailboxID: box.id, deliveryID: message.deliveryID, offset: 0, maxLength: 1 << 20)
                out.append(String(decoding: bytes, as: UTF8.self))
            }
            return out
        }

        func finish() async throws {
            _ = try? await channel.finish()
            try await pool.shutdownGracefully()
        }
    }

    func makeHarness(
        throttle: AuthThrottle = AuthThrottle(),
        configure: (inout SMTPServerContext) -> Void = { _ in }
    ) async throws -> Harness {
        let store = InMemoryMailStore()
        _ = try await store.addDomain("example.test")
        _ = try await store.addMailbox(Self.alice, passwordHash: Self.secretHash, isAdmin: false)
        _ = try await store.addMailbox(Self.bob, passwordHash: Self.secretHash, isAdmin: false)
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        var config = SMTPServerConfiguration(hostname: "mx.test")
        config.allowPlaintextAuth = true
        let logs = CapturedLogs()
        let logger = Logger(label: "test", factory: { _ in CapturingLogHandler(sink: logs) })
        let spool = NSTemporaryDirectory() + "petrel-findings-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        var context = SMTPServerContext(
            configuration: config, store: store, spoolDirectory: spool,
            connections: ConnectionTracker(limits: .init(maxConnections: 10, maxConnectionsPerIP: 10)),
            authenticator: Authenticator(
                store: store, threadPool: pool, throttle: throttle, logger: logger,
                unknownUserHash: Self.secretHash),
            logger: logger)
        configure(&context)
        let services = context
        let channel = NIOAsyncTestingChannel()
        try await channel.testingEventLoop.executeInContext {
            let handler = SMTPConnectionHandler(server: services, client: ClientInfo(ip: Self.clientIP, port: 4000))
            try channel.pipeline.syncOperations.addHandler(handler)
        }
        try await channel.connect(to: try SocketAddress(ipAddress: "192.0.2.7", port: 4000))
        return Harness(channel: channel, store: store, throttle: throttle, logs: logs, pool: pool)
    }

    static func plain(_ user: String, _ password: String) -> String {
        Base64.encode(Array("\0\(user)\0\(password)".utf8))
    }

    // MARK: - Logins in flight

    @Test func loginOverTheBoundIs421AndCloses() async throws {
        let throttle = AuthThrottle(settings: .init(maxConcurrentPerIP: 1, maxConcurrentPerAccount: 10))
        let held = try #require(throttle.beginLogin(ip: Self.clientIP, account: "someone@example.test"))
        let h = try await makeHarness(throttle: throttle)
        _ = try await h.replies(1)
        try await h.send("EHLO c.test\r\nAUTH PLAIN \(Self.plain("alice@example.test", "secret"))\r\n")
        let replies = try await h.replies(2)
        #expect(replies[1] == "421 4.7.0 mx.test Error: too many logins in progress, try again later")
        try await h.channel.closeFuture.get()
        #expect(h.logs.all.contains { $0.hasPrefix("smtp auth refused") && $0.contains("too many logins in progress") })
        // The refused login took no slot; the harness's own is still the only one.
        #expect(throttle.loginsInFlight(ip: Self.clientIP).ip == 1)
        throttle.endLogin(held)
        try await h.finish()
    }

    @Test func failedLoginHoldsItsSlotThroughTheDelayEvenAfterTheClientLeft() async throws {
        let throttle = AuthThrottle(settings: .init(baseDelay: 5, maxDelay: 5, maxConcurrentPerIP: 1, maxConcurrentPerAccount: 10))
        let h = try await makeHarness(throttle: throttle)
        _ = try await h.replies(1)
        try await h.send("EHLO c.test\r\nAUTH PLAIN \(Self.plain("alice@example.test", "wrong"))\r\n")
        _ = try await h.replies(1)
        // Wait for the verdict (the password check runs on the thread pool).
        let deadline = ContinuousClock.now + .seconds(30)
        while !h.logs.all.contains(where: { $0.hasPrefix("smtp auth failed") }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(throttle.loginsInFlight(ip: Self.clientIP).ip == 1)
        // The client hangs up without waiting for the 535: the slot stays taken until the delay is over.
        try await h.channel.close()
        await h.channel.testingEventLoop.advanceTime(by: .seconds(4))
        #expect(throttle.loginsInFlight(ip: Self.clientIP).ip == 1)
        #expect(throttle.beginLogin(ip: Self.clientIP, account: "x") == nil)
        await h.channel.testingEventLoop.advanceTime(by: .seconds(2))
        #expect(throttle.loginsInFlight(ip: Self.clientIP).ip == 0)
        try await h.finish()
    }

    @Test func successfulLoginGivesTheSlotBackAtOnce() async throws {
        let throttle = AuthThrottle(settings: .init(maxConcurrentPerIP: 1, maxConcurrentPerAccount: 1))
        let h = try await makeHarness(throttle: throttle)
        _ = try await h.replies(1)
        try await h.send("EHLO c.test\r\nAUTH PLAIN \(Self.plain("alice@example.test", "secret"))\r\n")
        let replies = try await h.replies(2)
        #expect(replies[1] == "235 2.7.0 Authentication successful")
        let inFlight = throttle.loginsInFlight(ip: Self.clientIP, account: "alice@example.test")
        #expect(inFlight.ip == 0 && inFlight.account == 0)
        try await h.finish()
    }

    /// POP3: a PASS over the per-account bound gets -ERR [SYS/TEMP] and the connection closes.
    @Test func pop3LoginOverTheBoundIsSysTempAndCloses() async throws {
        let throttle = AuthThrottle(settings: .init(maxConcurrentPerIP: 10, maxConcurrentPerAccount: 1))
        let held = try #require(throttle.beginLogin(ip: IPAddress("198.51.100.1"), account: "BOB@example.test"))
        let store = InMemoryMailStore()
        _ = try await store.addDomain("example.test")
        _ = try await store.addMailbox(Self.bob, passwordHash: Self.secretHash, isAdmin: false)
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let logs = CapturedLogs()
        let logger = Logger(label: "test", factory: { _ in CapturingLogHandler(sink: logs) })
        var config = POP3ServerConfiguration(hostname: "mx.test")
        config.allowPlaintextAuth = true
        let services = POP3ServerContext(
            configuration: config, store: store,
            authenticator: Authenticator(store: store, threadPool: pool, throttle: throttle, logger: logger),
            connections: ConnectionTracker(limits: .init(maxConnections: 10, maxConnectionsPerIP: 10)), logger: logger)
        let channel = NIOAsyncTestingChannel()
        try await channel.testingEventLoop.executeInContext {
            try channel.pipeline.syncOperations.addHandler(POP3ConnectionHandler(server: services, client: ClientInfo(ip: Self.clientIP, port: 4000)))
        }
        try await channel.connect(to: try SocketAddress(ipAddress: "192.0.2.7", port: 4000))
        try await channel.writeInbound(ByteBuffer(string: "USER bob@example.test\r\nPASS secret\r\n"))
        var text = ""
        while !text.contains("[SYS/TEMP]") || !text.hasSuffix("\r\n") {
            text += String(buffer: try await channel.nextOutboundWrite())
        }
        #expect(text.hasSuffix("-ERR [SYS/TEMP] Too many logins in progress, try again later\r\n"))
        try await channel.closeFuture.get()
        #expect(logs.all.contains { $0.hasPrefix("pop3 login refused") && $0.contains("too many logins in progress") })
        throttle.endLogin(held)
        _ = try? await channel.finish()
        try await pool.shutdownGracefully()
    }

    // MARK: - NUL in the body

    @Test func nulInDataAndBdatIs554AndNothingIsStored() async throws {
        let h = try await makeHarness()
        _ = try await h.replies(1)
        try await h.send("EHLO c.test\r\nMAIL FROM:<c@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        _ = try await h.replies(4)
        try await h.send(Array("Subject: x\r\n\r\nnul:".utf8) + [0] + Array("here\r\n.\r\n".utf8))
        #expect(try await h.replies(1) == ["554 5.6.0 Error: NUL character in message, transaction failed"])
        try await h.send("MAIL FROM:<c@remote.test>\r\nRCPT TO:<alice@example.test>\r\nBDAT 5 LAST\r\n")
        _ = try await h.replies(2)
        try await h.send([0x61, 0x00, 0x62, 0x0D, 0x0A])
        #expect(try await h.replies(1) == ["554 5.6.0 Error: NUL character in message, transaction failed"])
        // The connection stays usable, and a clean message is stored.
        try await h.send("MAIL FROM:<c@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        _ = try await h.replies(3)
        try await h.send("Subject: ok\r\n\r\nclean\r\n.\r\n")
        #expect(try await h.replies(1).first?.hasPrefix("250 2.0.0 Ok: queued as ") == true)
        let stored = try await h.messages(Self.alice)
        #expect(stored.count == 1)
        #expect(stored.first?.hasSuffix("Subject: ok\r\n\r\nclean\r\n") == true)
        try await h.finish()
    }
}
