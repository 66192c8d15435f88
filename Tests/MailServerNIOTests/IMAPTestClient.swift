/// A raw IMAP client over a real loopback socket for the listener tests: writes what the test says, collects
/// every octet the server sends, and can switch to TLS (STARTTLS) or start with it (port 993 style).
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

final class IMAPTestClient: Sendable {
    let channel: any Channel
    private let inbox: Inbox

    final class Inbox: Sendable {
        let state = NIOLockedValueBox<(bytes: [UInt8], closed: Bool)>(([], false))
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let inbox: Inbox
        init(_ inbox: Inbox) { self.inbox = inbox }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            inbox.state.withLockedValue { $0.bytes += Array(buffer.readableBytesView) }
        }
        func channelInactive(context: ChannelHandlerContext) {
            inbox.state.withLockedValue { $0.closed = true }
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    private init(channel: any Channel, inbox: Inbox) {
        self.channel = channel
        self.inbox = inbox
    }

    static func tlsConfiguration() -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        return configuration
    }

    static func connect(port: Int, tls: Bool = false, group: any EventLoopGroup) async throws -> IMAPTestClient {
        let inbox = Inbox()
        let sslContext = tls ? try NIOSSLContext(configuration: tlsConfiguration()) : nil
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandler(Collector(inbox))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return IMAPTestClient(channel: channel, inbox: inbox)
    }

    func send(_ text: String) async throws {
        try await send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) async throws {
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        try await channel.writeAndFlush(buffer).get()
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

    /// Waits until the server has closed the connection.
    func waitClosed(timeout: Duration = .seconds(10)) async throws -> Bool {
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
