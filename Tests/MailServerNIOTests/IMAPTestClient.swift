/// A raw IMAP client over a real loopback socket for the listener tests: writes what the test says, collects
/// every octet the server sends, and can switch to TLS (STARTTLS) or start with it (port 993 style), and to
/// raw DEFLATE both ways after COMPRESS (RFC 4978; zlib through compress-nio, as the server).
import CompressNIO
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

final class IMAPTestClient: Sendable {
    let channel: any Channel
    private let inbox: Inbox
    private let compression: Compression

    /// The client's zlib streams once COMPRESS is active (nil before). Used under the lock: by `send`
    /// (deflate) and by the collector on the event loop (inflate).
    final class Compression: @unchecked Sendable {
        let lock = NIOLock()
        var deflater: ZlibCompressor?
        var inflater: ZlibDecompressor?
        /// Armed before COMPRESS is sent: input is plain up to the end of the line that starts with this
        /// (the server's tagged OK), compressed after it.
        var inflateAfterLine: [UInt8]?
        private var currentLine: [UInt8] = []

        /// What the server sent, inflated where it is compressed.
        func receive(_ buffer: ByteBuffer) -> [UInt8] {
            lock.withLock {
                var bytes = Array(buffer.readableBytesView)
                var plain: [UInt8] = []
                if let prefix = inflateAfterLine {
                    var index = 0
                    while index < bytes.count {
                        let byte = bytes[index]
                        index += 1
                        plain.append(byte)
                        currentLine.append(byte)
                        guard byte == 10 else { continue }
                        let line = currentLine
                        currentLine = []
                        if line.starts(with: prefix) {
                            inflateAfterLine = nil
                            inflater = try? ZlibDecompressor(algorithm: .deflate, windowSize: 15)
                            break
                        }
                    }
                    bytes.removeFirst(index)
                }
                guard let inflater, !bytes.isEmpty else { return plain + bytes }
                var input = ByteBufferAllocator().buffer(capacity: bytes.count)
                input.writeBytes(bytes)
                return plain + Self.inflate(&input, with: inflater)
            }
        }

        /// Inflates everything in `input` (tests trust the server's output size).
        static func inflate(_ input: inout ByteBuffer, with inflater: ZlibDecompressor) -> [UInt8] {
            var out: [UInt8] = []
            while true {
                var chunk = ByteBufferAllocator().buffer(capacity: 64 * 1024)
                var more = false
                do {
                    try inflater.inflate(from: &input, to: &chunk)
                } catch let error as CompressNIOError where error == .bufferOverflow {
                    more = true
                } catch {
                    more = false
                }
                out += Array(chunk.readableBytesView)
                if !more { return out }
            }
        }
    }

    final class Inbox: Sendable {
        let state = NIOLockedValueBox<(bytes: [UInt8], closed: Bool)>(([], false))
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let inbox: Inbox
        let compression: Compression
        init(_ inbox: Inbox, _ compression: Compression) {
            self.inbox = inbox
            self.compression = compression
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            let bytes = compression.receive(buffer)
            inbox.state.withLockedValue { $0.bytes += bytes }
        }
        func channelInactive(context: ChannelHandlerContext) {
            inbox.state.withLockedValue { $0.closed = true }
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    private init(channel: any Channel, inbox: Inbox, compression: Compression) {
        self.channel = channel
        self.inbox = inbox
        self.compression = compression
    }

    static func tlsConfiguration() -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        return configuration
    }

    static func connect(port: Int, tls: Bool = false, group: any EventLoopGroup) async throws -> IMAPTestClient {
        let inbox = Inbox()
        let compression = Compression()
        let sslContext = tls ? try NIOSSLContext(configuration: tlsConfiguration()) : nil
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandler(Collector(inbox, compression))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return IMAPTestClient(channel: channel, inbox: inbox, compression: compression)
    }

    func send(_ text: String) async throws {
        try await send(Array(text.utf8))
    }

    /// Sends `bytes`, deflated (with a sync flush) once COMPRESS is active.
    func send(_ bytes: [UInt8]) async throws {
        let deflated = try compression.lock.withLock { () throws -> [UInt8]? in
            guard let deflater = compression.deflater else { return nil }
            return try Self.deflate(bytes, with: deflater)
        }
        try await sendRaw(deflated ?? bytes)
    }

    /// Sends `bytes` as they are (compressed data made by the test, invalid data).
    func sendRaw(_ bytes: [UInt8]) async throws {
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        try await channel.writeAndFlush(buffer).get()
    }

    /// Sends `tag COMPRESS DEFLATE` and returns the lines through the tagged answer; after an OK both
    /// directions are raw DEFLATE (the server's octets after its OK line are inflated, whatever read
    /// brings them).
    func compress(tag: String) async throws -> [String] {
        armInflate(afterLineStarting: "\(tag) OK")
        let reply = try await command(tag, "COMPRESS DEFLATE")
        if reply.last?.hasPrefix("\(tag) OK") == true { try startDeflate() }
        return reply
    }

    /// Input after the line starting with `prefix` is inflated.
    func armInflate(afterLineStarting prefix: String) {
        compression.lock.withLock { compression.inflateAfterLine = Array(prefix.utf8) }
    }

    /// Later `send`s are deflated on `deflater` (a test that made the first compressed octets itself
    /// passes the compressor it used: it is one stream).
    func startDeflate(_ deflater: ZlibCompressor? = nil) throws {
        let deflater = try deflater ?? ZlibCompressor(algorithm: .deflate)
        compression.lock.withLock { compression.deflater = deflater }
    }

    /// `bytes`, `count` times over, deflated on this client's stream (for `sendRaw`).
    func deflated(_ bytes: [UInt8], repeat count: Int = 1) throws -> [UInt8] {
        try compression.lock.withLock { () throws -> [UInt8] in
            guard let deflater = compression.deflater else { return bytes }
            return try Self.deflate(bytes, with: deflater, repeat: count)
        }
    }

    /// Deflates `bytes`, `count` times over, on `deflater` and ends with a sync flush: raw DEFLATE octets.
    static func deflate(_ bytes: [UInt8], with deflater: ZlibCompressor, repeat count: Int = 1) throws -> [UInt8] {
        var out: [UInt8] = []
        var input = ByteBufferAllocator().buffer(capacity: max(bytes.count, 16))
        for round in 0..<(count + 1) {
            let flush: CompressNIOFlush = round == count ? .sync : .no
            input.clear()
            if round < count { input.writeBytes(bytes) }
            while true {
                var output = ByteBufferAllocator().buffer(capacity: 64 * 1024)
                do {
                    try deflater.deflate(from: &input, to: &output, flush: flush)
                } catch let error as CompressNIOError where error == .bufferOverflow {
                    // No progress possible: nothing more to give.
                }
                out += Array(output.readableBytesView)
                if input.readableBytes == 0 && output.writableBytes > 0 { break }
            }
        }
        return out
    }

    /// Puts TLS in front (after the server's STARTTLS OK was read).
    func startTLS() async throws {
        let context = try NIOSSLContext(configuration: Self.tlsConfiguration())
        try await channel.eventLoop.submit {
            try self.channel.pipeline.syncOperations.addHandler(
                NIOSSLClientHandler(context: context, serverHostname: nil), position: .first)
        }.get()
    }

    var isClosed: Bool { inbox.state.withLockedValue { $0.closed } }

    /// Everything received and not yet taken.
    var pendingBytes: Int { inbox.state.withLockedValue { $0.bytes.count } }

    struct Timeout: Error, CustomStringConvertible {
        var waitingFor: String
        var received: String
        var description: String { "timed out waiting for \(waitingFor); unread: \(received.prefix(500))" }
    }

    /// The next line (CRLF removed), or nil when the connection closed first.
    func line(timeout: Duration = .seconds(10)) async throws -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let taken: String?? = inbox.state.withLockedValue { state in
                if let end = state.bytes.indices.dropLast().first(where: { state.bytes[$0] == 13 && state.bytes[$0 + 1] == 10 }) {
                    let text = String(decoding: state.bytes[..<end], as: UTF8.self)
                    state.bytes.removeFirst(end + 2)
                    return .some(text)
                }
                return state.closed ? .some(nil) : nil
            }
            if let taken { return taken }
            if ContinuousClock.now > deadline {
                throw Timeout(waitingFor: "a line", received: inbox.state.withLockedValue { String(decoding: $0.bytes, as: UTF8.self) })
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Lines up to and including the one starting with `prefix` (a tag, "+", "* BYE").
    func lines(through prefix: String, timeout: Duration = .seconds(10)) async throws -> [String] {
        var out: [String] = []
        while true {
            guard let line = try await line(timeout: timeout) else {
                throw Timeout(waitingFor: "\"\(prefix)\" (connection closed after \(out))", received: "")
            }
            out.append(line)
            if line.hasPrefix(prefix) { return out }
        }
    }

    /// Sends `tag command` and returns the lines through the tagged response.
    func command(_ tag: String, _ command: String) async throws -> [String] {
        try await send("\(tag) \(command)\r\n")
        return try await lines(through: "\(tag) ")
    }

    /// Waits until the server has closed the connection. The server closes at once, or within
    /// `ConnectionIO.closeGrace` (5 s) when a write never completes, so the default limit is far beyond
    /// what a working server needs. (In full runs `sessionOverDeflate` at times saw no close after LOGOUT
    /// although the server had closed its end: a PostgreSQL server started by another test at that
    /// moment had inherited the socket. `PostgresTestCluster.run` now closes every other descriptor.)
    func waitClosed(timeout: Duration = .seconds(30)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isClosed {
            if ContinuousClock.now > deadline { return false }
            try await Task.sleep(for: .milliseconds(5))
        }
        return true
    }

    func close() async {
        try? await channel.close()
    }
}
