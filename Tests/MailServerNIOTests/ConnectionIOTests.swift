// Tests for ConnectionIO.swift, the plumbing both connection handlers share, on an EmbeddedChannel:
// input accumulation, read suspension and resumption, deferred flushing, close, the idle timer, the
// switch to TLS (pipelined bytes discarded, the reply flushed in plain text first) and the handshake event.
import Foundation
import Logging
import MailCore
import MailTestSupport
import NIOCore
import NIOEmbedded
import NIOSSL
import NIOTLS
import Testing

@testable import MailServerNIO

@Suite struct ConnectionIOTests {
    /// Counts the reads that reach the socket side of the pipeline.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    /// A handler that only forwards `read` to its ConnectionIO, as the protocol handlers do.
    final class Probe: ChannelDuplexHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundIn = ByteBuffer
        let io: ConnectionIO
        var canConsumeInput = true
        init(io: ConnectionIO) { self.io = io }
        func read(context: ChannelHandlerContext) {
            io.read(context: context, canConsumeInput: canConsumeInput)
        }
    }

    struct Fixture {
        let channel = EmbeddedChannel()
        let counter = ReadCounter()
        let probe: Probe
        let context: ChannelHandlerContext
        let logs = CapturedLogs()
        var logger: Logger { Logger(label: "test") { _ in CapturingLogHandler(sink: logs) } }
        var io: ConnectionIO { probe.io }

        init(maxBufferedInput: Int = 8) throws {
            probe = Probe(io: ConnectionIO(protocolName: "smtp", maxBufferedInput: maxBufferedInput, maxLineLength: 100))
            try channel.pipeline.syncOperations.addHandler(counter)
            try channel.pipeline.syncOperations.addHandler(probe)
            context = try channel.pipeline.syncOperations.context(handler: probe)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        }

        func receive(_ text: String) {
            var bytes = ByteBuffer(string: text)
            io.append(&bytes)
        }

        func outbound() throws -> String {
            var text = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
            return text
        }
    }

    @Test func appendAccumulatesInput() throws {
        let f = try Fixture()
        #expect(f.io.bufferedBytes == 0)
        f.receive("EHLO ")
        f.receive("a.example\r\n")
        #expect(f.io.bufferedBytes == 16)
        #expect(f.io.buffer.map { String(buffer: $0) } == "EHLO a.example\r\n")
        var buffer = try #require(f.io.buffer)
        #expect(f.io.framer.next(from: &buffer) == .line(Array("EHLO a.example".utf8)))
    }

    @Test func readsStopWhenTheBufferIsFullAndResumeWhenItDrains() throws {
        let f = try Fixture(maxBufferedInput: 8)
        f.channel.read()
        #expect(f.counter.reads == 1)
        f.receive("12345678")
        f.channel.read()
        #expect(f.counter.reads == 1)
        #expect(f.io.readSuspended)
        f.io.resumeReadingIfPossible(context: f.context, canConsumeInput: true)
        #expect(f.counter.reads == 1, "still full")
        f.io.buffer = nil
        f.io.resumeReadingIfPossible(context: f.context, canConsumeInput: true)
        #expect(f.counter.reads == 2)
        #expect(!f.io.readSuspended)
        f.io.resumeReadingIfPossible(context: f.context, canConsumeInput: true)
        #expect(f.counter.reads == 2, "nothing was held back")
    }

    @Test func readsStopWhileTheSessionWaitsWithInputBuffered() throws {
        let f = try Fixture(maxBufferedInput: 1024)
        f.probe.canConsumeInput = false
        f.channel.read()
        #expect(f.counter.reads == 1, "an empty buffer never blocks reading")
        f.receive("RCPT TO:<a@b>\r\n")
        f.channel.read()
        #expect(f.counter.reads == 1)
        f.io.resumeReadingIfPossible(context: f.context, canConsumeInput: false)
        #expect(f.counter.reads == 1)
        f.io.resumeReadingIfPossible(context: f.context, canConsumeInput: true)
        #expect(f.counter.reads == 2)
    }

    @Test func writesWaitForTheFlush() throws {
        let f = try Fixture()
        f.io.write(Array("250 one\r\n".utf8), context: f.context)
        f.io.write(ByteBuffer(string: "250 two\r\n"), context: f.context)
        #expect(f.io.outputPending)
        #expect(try f.outbound() == "")
        f.io.flushIfNeeded(context: f.context)
        #expect(!f.io.outputPending)
        #expect(try f.outbound() == "250 one\r\n250 two\r\n")
    }

    /// A short reply goes out in the buffer of the one before once the socket has let go of it (no allocation
    /// per reply); a reply written while the earlier one is still held (not flushed, not taken) gets storage of
    /// its own and leaves the held octets as they were; a long one is not kept.
    @Test func shortRepliesReuseTheirBufferWithoutTouchingOneStillHeld() throws {
        let f = try Fixture()
        func address(_ b: ByteBuffer) -> UnsafeRawPointer? { b.withUnsafeReadableBytes { $0.baseAddress } }
        func send(_ text: String) throws -> ByteBuffer {
            f.io.write(Array(text.utf8), context: f.context)
            f.io.flushIfNeeded(context: f.context)
            return try #require(try f.channel.readOutbound(as: ByteBuffer.self))
        }
        let long = "220 the first reply, the longest " + String(repeating: "x", count: 60) + "\r\n"
        var first: ByteBuffer? = try send(long)
        let firstAddress = first.flatMap(address)
        let firstCapacity = first?.capacity ?? 0
        #expect(first.map { String(buffer: $0) } == long)
        first = nil
        // Storage of the same size made now would take the freed block if the reply's buffer had been freed
        // (malloc hands a freed block out again), so the address check below tells reuse from a new buffer.
        let blocker = ByteBufferAllocator().buffer(capacity: firstCapacity)
        let second = try send("250 second\r\n")
        #expect(String(buffer: second) == "250 second\r\n")
        #expect(address(second) == firstAddress, "the released buffer is reused")
        withExtendedLifetime(blocker) {}
        // `second` is still held here: the next reply must not write into it.
        let third = try send("354 third, a little longer\r\n")
        #expect(String(buffer: second) == "250 second\r\n")
        #expect(String(buffer: third) == "354 third, a little longer\r\n")
        #expect(address(third) != address(second))
        // ... and only as much as it needs: replies a client never reads must not cost the kept capacity each.
        #expect(third.capacity < firstCapacity, "\(third.capacity) of \(firstCapacity)")
        // Two writes before one flush: both are held by the channel, both arrive intact.
        f.io.write(Array("250 a\r\n".utf8), context: f.context)
        f.io.write(Array("250 b\r\n".utf8), context: f.context)
        f.io.flushIfNeeded(context: f.context)
        #expect(try f.outbound() == "250 a\r\n250 b\r\n")
        let tooLong = String(repeating: "x", count: ConnectionIO.reusedReplyCapacity + 1)
        #expect(String(buffer: try send(tooLong)) == tooLong)
        #expect(String(buffer: try send("221 bye\r\n")) == "221 bye\r\n")
    }

    @Test func closeFlushesThenClosesOnce() throws {
        let f = try Fixture()
        f.io.write(Array("221 bye\r\n".utf8), context: f.context)
        f.io.close(context: f.context)
        f.channel.embeddedEventLoop.run()
        #expect(f.io.closed)
        #expect(!f.channel.isActive)
        #expect(try f.outbound() == "221 bye\r\n")
        f.io.close(context: f.context)
        f.io.write(Array("late\r\n".utf8), context: f.context)
        f.io.flushIfNeeded(context: f.context)
        #expect(try f.outbound() == "")
        f.io.resumeReadingIfPossible(context: f.context, canConsumeInput: true)
    }

    /// A handler's side of the deadline: a fixed timeout, a busy switch, expiries counted.
    final class DeadlineOwner: ConnectionDeadlineOwner {
        var clientTimeout: TimeAmount = .seconds(10)
        var serverBusy = false
        var expired = 0
        func deadlineExpired(context: ChannelHandlerContext) { expired += 1 }
    }

    /// Holds every write's promise, as NIOSSL does before its handshake and as a socket whose peer
    /// stopped reading does: the last output is never taken.
    final class WriteHolder: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var held: [EventLoopPromise<Void>] = []
        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if let promise { held.append(promise) }
        }
        func flush(context: ChannelHandlerContext) {}
    }

    /// A close whose last output is never taken still closes, after `closeGrace`; and not before.
    @Test func closeWhoseOutputIsNeverTakenClosesAfterTheGrace() throws {
        let f = try Fixture()
        let holder = WriteHolder()
        try f.channel.pipeline.syncOperations.addHandler(holder, position: .first)
        f.io.write(Array("221 bye\r\n".utf8), context: f.context)
        f.io.close(context: f.context)
        f.channel.embeddedEventLoop.run()
        #expect(f.io.closed)
        #expect(f.channel.isActive, "waits for the output")
        f.channel.embeddedEventLoop.advanceTime(by: ConnectionIO.closeGrace - .milliseconds(1))
        #expect(f.channel.isActive)
        f.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!f.channel.isActive, "closed at the grace")
        for promise in holder.held { promise.fail(ChannelError.ioOnClosedChannel) }
    }

    @Test func idleTimerExpiresRearmsWhileBusyAndStopsWhenClosed() throws {
        let f = try Fixture()
        let owner = DeadlineOwner()
        owner.serverBusy = true
        f.io.armIdleTimer(context: f.context, owner: owner)
        f.channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(owner.expired == 0, "busy: re-armed")
        owner.serverBusy = false
        f.channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(owner.expired == 0)
        f.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(owner.expired == 1)

        f.io.armIdleTimer(context: f.context, owner: owner)
        f.channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        f.io.armIdleTimer(context: f.context, owner: owner)
        f.channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        #expect(owner.expired == 1, "re-arming restarts the span")
        f.io.channelInactive()
        f.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(owner.expired == 1)
        owner.clientTimeout = .seconds(1)
        f.io.armIdleTimer(context: f.context, owner: owner)
        f.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(owner.expired == 1, "no timer on a closed connection")
    }

    /// Closing drops the owner (the handler, which holds the `ConnectionIO`): no cycle outlives the
    /// connection.
    @Test func closingLetsGoOfTheDeadlineOwner() throws {
        let f = try Fixture()
        weak var gone: DeadlineOwner?
        do {
            let owner = DeadlineOwner()
            gone = owner
            f.io.restartDeadline(context: f.context, owner: owner)
        }
        #expect(gone != nil, "held while the deadline runs")
        f.io.channelInactive()
        #expect(gone == nil)
    }

    /// What the handlers do with the buffer: take it, frame, put back what is left (nil when empty).
    func frameAll(_ f: Fixture) -> [FramedLine] {
        var out: [FramedLine] = []
        while var buf = f.io.buffer {
            f.io.buffer = nil
            let framed = f.io.framer.next(from: &buf)
            f.io.buffer = buf.readableBytes > 0 ? buf : nil
            guard let framed else { break }
            out.append(framed)
        }
        return out
    }

    /// The outside test's 1.4 GiB: a moving reader index never frees the storage under a ByteBuffer,
    /// and appending kept growing it. Here 8 MiB of one line without CRLF, in 16 KiB reads.
    @Test func storageStaysBoundedForALineWithoutEnd() throws {
        let f = try Fixture(maxBufferedInput: 64 * 1024)
        f.io.framer.limit = .fixed(512)
        let chunk = String(repeating: "z", count: 16 * 1024)
        var reported: [FramedLine] = []
        for _ in 0..<512 {
            f.receive(chunk)
            reported += frameAll(f)
            #expect(f.io.bufferCapacity <= 64 * 1024)
        }
        #expect(reported == [.tooLong])
    }

    /// Pipelined lines that always leave a partial line behind: the consumed prefix must be dropped, or
    /// the storage grows with every byte ever received (the reader index never returns to 0).
    @Test func storageStaysBoundedWhenAPartialLineIsAlwaysLeftOver() throws {
        let f = try Fixture(maxBufferedInput: 64 * 1024)
        f.io.framer.limit = .fixed(512)
        var lines = 0
        f.receive("NO")
        for _ in 0..<20_000 {
            f.receive("OP\r\nNOOP\r\nNO")
            lines += frameAll(f).count
            #expect(f.io.bufferedBytes == 2)
        }
        #expect(lines == 40_000)
        #expect(f.io.bufferCapacity <= 4096, "storage \(f.io.bufferCapacity) for 2 unread octets")
    }

    @Test func aLinesDeadlineRunsFromItsFirstByteAndATrickleDoesNotMoveIt() throws {
        let f = try Fixture()
        let owner = DeadlineOwner()
        let loop = f.channel.embeddedEventLoop
        func restart(_ started: Bool = false) {
            f.io.restartDeadline(lineStarted: started, context: f.context, owner: owner)
        }
        func byteArrives() {
            f.io.lineBytesArrived(context: f.context, owner: owner)
        }
        restart() // t=0: the server waits for a line
        loop.advanceTime(by: .seconds(8))
        byteArrives() // t=8: its first byte; the line must be complete by t=18
        #expect(f.io.lineStarted)
        for _ in 0..<9 { // one byte a second: nothing moves the deadline
            loop.advanceTime(by: .seconds(1))
            byteArrives()
        }
        #expect(owner.expired == 0)
        loop.advanceTime(by: .seconds(1))
        #expect(owner.expired == 1, "t=18")

        restart() // a line was taken: wait again, first byte restarts once
        loop.advanceTime(by: .seconds(9))
        byteArrives()
        loop.advanceTime(by: .seconds(9))
        #expect(owner.expired == 1)
        restart(true) // taken, and bytes of the next line were already buffered
        loop.advanceTime(by: .seconds(5))
        byteArrives() // not a first byte: no restart
        loop.advanceTime(by: .seconds(5))
        #expect(owner.expired == 2)
    }

    @Test func readsStopWhileTheClientDoesNotTakeOurOutput() throws {
        let f = try Fixture(maxBufferedInput: 1024)
        f.channel.isWritable = false
        f.channel.read()
        #expect(f.counter.reads == 0, "a client that does not read our replies is not read either")
        #expect(f.io.readSuspended)
        f.channel.isWritable = true
        f.io.writabilityChanged(context: f.context, canConsumeInput: true)
        #expect(f.counter.reads == 1)
    }

    @Test func tlsSwitchWithoutTLSRefuses() throws {
        let f = try Fixture()
        f.receive("MAIL FROM:<a@b>\r\n")
        #expect(!f.io.switchToTLS(nil, command: "STARTTLS", context: f.context, logger: f.logger))
        #expect(f.logs.all.contains { $0.hasPrefix("STARTTLS requested but TLS is not configured") })
    }

    @Test func tlsSwitchFlushesTheReplyAndDiscardsPipelinedBytes() throws {
        let dir = NSTemporaryDirectory() + "petrel-io-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = try TLSContextProvider.ensureCertificate(
            configured: nil, directory: dir, hostname: "mx.example.test",
            logger: Logger(label: "test"))
        let tls = try TLSContextProvider(paths: paths)
        let f = try Fixture(maxBufferedInput: 1024)
        f.io.write(Array("220 2.0.0 Ready to start TLS\r\n".utf8), context: f.context)
        f.receive("MAIL FROM:<evil@example>\r\n")
        var overlong = ByteBuffer(string: String(repeating: "x", count: 200))
        #expect(f.io.framer.next(from: &overlong) == .tooLong, "the framer now discards up to the next line end")
        #expect(f.io.framer.discarding)
        #expect(f.io.switchToTLS(tls, command: "STARTTLS", context: f.context, logger: f.logger))
        #expect(try f.outbound() == "220 2.0.0 Ready to start TLS\r\n", "the reply goes out in plain text")
        #expect(f.io.buffer == nil)
        #expect(f.logs.all.contains { $0.hasPrefix("smtp discarded data pipelined after STARTTLS") && $0.contains("bytes=26") })
        var fresh = ByteBuffer(string: "EHLO a\r\n")
        #expect(f.io.framer.next(from: &fresh) == .line(Array("EHLO a".utf8)), "the framer starts afresh")
        #expect((try? f.channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)) != nil)
        _ = try? f.channel.finish()
    }

    @Test func handshakeEventGivesTLSInfo() throws {
        let f = try Fixture()
        #expect(f.io.handshakeCompleted("something else", context: f.context, logger: f.logger) == nil)
        let info = f.io.handshakeCompleted(TLSUserEvent.handshakeCompleted(negotiatedProtocol: nil), context: f.context, logger: f.logger)
        #expect(info == TLSInfo(version: "TLS", cipher: "unknown"), "no NIOSSL handler in this pipeline")
        #expect(f.logs.all.contains { $0.hasPrefix("smtp tls established") })
    }

    @Test func errorsCloseTheChannel() throws {
        let f = try Fixture()
        struct Boom: Error {}
        f.io.errorCaught(Boom(), context: f.context, logger: f.logger)
        f.channel.embeddedEventLoop.run()
        #expect(!f.channel.isActive)
        #expect(f.logs.all.contains { $0.hasPrefix("smtp connection error") })
    }
}
