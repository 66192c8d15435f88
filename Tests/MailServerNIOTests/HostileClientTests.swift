// Hostile clients against the SMTP and POP3 adapters on in-memory channels with a virtual clock
// (NIOAsyncTestingChannel.advanceTime): lines without CRLF are refused while reading and the connection
// closes, and a client that trickles one byte at a time is timed out a line's deadline after the line's
// first byte — however many bytes keep arriving (ConnectionIO's per-line deadline). The same is tested through real sockets
// against the real binary in e2e/interop/test_limits.py.
import Foundation
import Logging
import MailCore
import MailStore
import MailTestSupport
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOSSL
import POP3Core
import SMTPCore
import Testing

@testable import MailServerNIO

@Suite struct HostileClientTests {
    /// Output collected from an in-memory channel, and its state.
    struct Client {
        let channel: NIOAsyncTestingChannel
        let pool: NIOThreadPool
        let logs: CapturedLogs

        func send(_ text: String) async throws { try await channel.writeInbound(ByteBuffer(string: text)) }
        func send(bytes count: Int, of byte: UInt8 = UInt8(ascii: "A")) async throws {
            try await channel.writeInbound(ByteBuffer(repeating: byte, count: count))
        }

        /// Everything written so far.
        func output() async throws -> String {
            var text = ""
            while let buffer = try await channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
            return text
        }

        /// Waits (in real time, bounded) for output containing `text`; returns all output seen. Each
        /// round runs what the loop has due now (without moving its clock): a task the handler started
        /// on its loop (`TaskPlace.eventLoop`) runs there, and a test loop runs in-loop work only when
        /// told to.
        func waitFor(_ text: String) async throws -> String {
            var seen = ""
            for _ in 0..<500 {
                await channel.testingEventLoop.run()
                seen += try await output()
                if seen.contains(text) { return seen }
                try await Task.sleep(for: .milliseconds(10))
            }
            Issue.record("no \(text.debugDescription) in \(seen.debugDescription)")
            return seen
        }

        func advance(seconds: Int64) async { await channel.testingEventLoop.advanceTime(by: .seconds(seconds)) }

        var isOpen: Bool { get async { (try? await channel.testingEventLoop.executeInContext { channel.isActive }) ?? false } }

        func finish() async throws {
            _ = try? await channel.finish()
            try await pool.shutdownGracefully()
        }
    }

    // MARK: - SMTP

    func smtp(
        commandTimeout: Int64 = 30, dataTimeout: Int64 = 30, tls: TLSContextProvider? = nil,
        configure: (inout SMTPServerConfiguration) -> Void = { _ in }
    ) async throws -> Client {
        let h = try await SMTPHandlerHarness.start(
            tls: tls, configure: configure,
            context: {
                $0.commandTimeout = .seconds(commandTimeout)
                $0.dataTimeout = .seconds(dataTimeout)
            })
        let client = Client(channel: h.channel, pool: h.pool, logs: h.logs)
        _ = try await client.waitFor("220 mx.test")
        return client
    }

    @Test func smtpCommandLineWithoutCRLFIsRefusedWhileReading() async throws {
        let c = try await smtp()
        for _ in 0..<16 { try await c.send(bytes: 64 * 1024) } // 1 MiB, no line end
        let out = try await c.waitFor("500 5.5.6")
        #expect(out == "500 5.5.6 Error: command line too long\r\n")
        try await c.channel.closeFuture.get()
        try await c.finish()
    }

    @Test func smtpBDATCommandLineIsACommandLine() async throws {
        let c = try await smtp()
        try await c.send("EHLO c.test\r\nMAIL FROM:<c@remote.test>\r\nRCPT TO:<alice@example.test>\r\n")
        _ = try await c.waitFor("250 2.1.5")
        try await c.send("BDAT 100" + String(repeating: "0", count: 600))
        _ = try await c.waitFor("500 5.5.6")
        try await c.channel.closeFuture.get()
        try await c.finish()
    }

    @Test func smtpAuthLinesMayBeLongerButContinuationsAreBoundedToo() async throws {
        let c = try await smtp { $0.allowPlaintextAuth = true }
        try await c.send("EHLO c.test\r\n")
        _ = try await c.waitFor("250 ")
        // An AUTH line of ~6000 octets is read whole (RFC 4954 §4), the PLAIN blob is just wrong.
        try await c.send("AUTH PLAIN " + String(repeating: "QUFB", count: 1500) + "\r\n")
        let plain = try await c.waitFor("\r\n")
        #expect(!plain.contains("5.5.6"), "got \(plain)")
        #expect(await c.isOpen)
        // A continuation line passes 12288 octets without CRLF: 500 5.5.6 and close.
        try await c.send("AUTH LOGIN\r\n")
        _ = try await c.waitFor("334 VXNlcm5hbWU6")
        try await c.send(bytes: 13000)
        _ = try await c.waitFor("500 5.5.6")
        try await c.channel.closeFuture.get()
        try await c.finish()
    }

    @Test func smtpCommandLineTrickleIsTimedOutFromItsFirstByte() async throws {
        let c = try await smtp(commandTimeout: 30)
        for _ in 0..<6 { // t = 5, 10, … 30: one byte every 5 s, first byte at t=5
            await c.advance(seconds: 5)
            try await c.send("N")
        }
        await c.advance(seconds: 4) // t=34
        #expect(await c.isOpen)
        #expect(try await c.output() == "")
        await c.advance(seconds: 1) // t=35 = first byte + 30
        _ = try await c.waitFor("421 4.4.2")
        try await c.channel.closeFuture.get()
        try await c.finish()
    }

    @Test func smtpIdleBetweenCommandsStillCounts() async throws {
        let c = try await smtp(commandTimeout: 30)
        try await c.send("NOOP\r\n")
        _ = try await c.waitFor("250 2.0.0 Ok")
        await c.advance(seconds: 29)
        #expect(await c.isOpen)
        await c.advance(seconds: 1)
        _ = try await c.waitFor("421 4.4.2")
        try await c.finish()
    }

    @Test func smtpDataLinesKeepASlowClientAliveButATrickleWithoutLineEndIsTimedOut() async throws {
        let c = try await smtp(dataTimeout: 30)
        try await c.send("EHLO c.test\r\nMAIL FROM:<c@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        _ = try await c.waitFor("354 ")
        for n in 0..<20 { // a slow but honest client: one line every 20 s, 400 s in all
            await c.advance(seconds: 20)
            try await c.send("line \(n)\r\n")
        }
        #expect(await c.isOpen)
        for _ in 0..<6 { // now one byte every 5 s and never a line end
            await c.advance(seconds: 5)
            try await c.send("x")
        }
        // The first byte came 5 s after the last line end: the line had until 30 s after that byte.
        await c.advance(seconds: 4)
        #expect(await c.isOpen)
        await c.advance(seconds: 1)
        _ = try await c.waitFor("421 4.4.2")
        try await c.channel.closeFuture.get()
        try await c.finish()
    }

    @Test func smtpBDATChunkTrickleIsTimedOut() async throws {
        let c = try await smtp(dataTimeout: 30)
        try await c.send("EHLO c.test\r\nMAIL FROM:<c@remote.test>\r\nRCPT TO:<alice@example.test>\r\nBDAT 1000 LAST\r\n")
        _ = try await c.waitFor("250 2.1.5")
        for _ in 0..<6 {
            await c.advance(seconds: 5)
            try await c.send("y")
        }
        await c.advance(seconds: 4)
        #expect(await c.isOpen)
        await c.advance(seconds: 1)
        _ = try await c.waitFor("421 4.4.2")
        try await c.finish()
    }

    @Test func smtpStalledSTARTTLSHandshakeIsTimedOut() async throws {
        let dir = NSTemporaryDirectory() + "petrel-hostile-tls-\(UUID().uuidString)"
        let paths = try TLSContextProvider.ensureCertificate(configured: nil, directory: dir, hostname: "mx.test", logger: Logger(label: "t"))
        let c = try await smtp(commandTimeout: 30, tls: try TLSContextProvider(paths: paths))
        try await c.send("EHLO c.test\r\nSTARTTLS\r\n")
        _ = try await c.waitFor("220 2.0.0")
        await c.advance(seconds: 29)
        #expect(await c.isOpen)
        await c.advance(seconds: 1) // the handshake is the client's work: it counts
        #expect(c.logs.all.contains { $0.hasPrefix("smtp timeout") })
        for _ in 0..<30 where await c.isOpen { await c.advance(seconds: 1) } // NIOSSL's own close
        #expect(await !c.isOpen)
        try await c.finish()
    }

    // MARK: - POP3

    func pop3(idleTimeout: Int64 = 30, maxSessionBytes: Int64 = 0) async throws -> Client {
        let h = try await POP3HandlerHarness.start(
            passwordHash: POP3ConnectionHandlerTests.secretHash, poolThreads: 1,
            context: {
                $0.idleTimeout = .seconds(idleTimeout)
                $0.maxSessionBytes = maxSessionBytes
            })
        let client = Client(channel: h.channel, pool: h.pool, logs: h.logs)
        _ = try await client.waitFor("+OK")
        return client
    }

    @Test func pop3CommandLineWithoutLineEndIsRefusedAt255Octets() async throws {
        let c = try await pop3()
        try await c.send("USER " + String(repeating: "u", count: 249)) // 254 octets: an LF may still come
        #expect(try await c.output() == "")
        try await c.send("u")
        #expect(try await c.waitFor("\r\n") == "-ERR Line too long, closing connection\r\n")
        try await c.channel.closeFuture.get()
        try await c.finish()
    }

    @Test func pop3AuthLinesMayBeLongerAndSASLResponsesAreBounded() async throws {
        let c = try await pop3()
        try await c.send("AUTH PLAIN " + String(repeating: "QUFB", count: 500) + "\r\n") // 2011 octets: read whole
        let first = try await c.waitFor("\r\n")
        #expect(first.hasPrefix("-ERR") && !first.contains("Line too long"), "got \(first)")
        try await c.send("AUTH PLAIN\r\n")
        _ = try await c.waitFor("+ ")
        try await c.send(bytes: 12288)
        _ = try await c.waitFor("-ERR Line too long")
        try await c.channel.closeFuture.get()
        try await c.finish()
    }

    @Test func pop3LineTrickleIsTimedOutFromItsFirstByte() async throws {
        let c = try await pop3(idleTimeout: 30)
        await c.advance(seconds: 10)
        for _ in 0..<5 { // first byte at t=10: deadline t=40
            try await c.send("C")
            await c.advance(seconds: 5)
        }
        await c.advance(seconds: 4) // t=39
        #expect(await c.isOpen)
        await c.advance(seconds: 1)
        _ = try await c.waitFor("-ERR Autologout")
        try await c.channel.closeFuture.get()
        try await c.finish()
    }

    @Test func pop3SessionByteCap() async throws {
        let c = try await pop3(maxSessionBytes: 4096)
        for _ in 0..<680 { try await c.send("CAPA\r\n") } // 4080 octets: fine
        #expect(await c.isOpen)
        try await c.send("CAPA\r\nCAPA\r\nCAPA\r\n")
        _ = try await c.waitFor("-ERR Session byte limit exceeded")
        try await c.channel.closeFuture.get()
        #expect(c.logs.all.contains { $0.hasPrefix("pop3 session byte limit exceeded") })
        try await c.finish()
    }
}
