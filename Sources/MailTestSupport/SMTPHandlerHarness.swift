/// One `SMTPConnectionHandler` on an in-memory channel (`NIOAsyncTestingChannel`, virtual time) with an
/// in-memory store holding `example.test` and `alice@example.test`, a one-thread pool and captured logs:
/// the harness the SMTP adapter tests share (SMTPConnectionHandlerTests, …AbuseTests, HostileClientTests).
import Foundation
import Logging
import MailCore
import MailServerNIO
import MailStore
import NIOCore
import NIOEmbedded
import NIOPosix
import SMTPCore

public struct SMTPHandlerHarness: Sendable {
    public let channel: NIOAsyncTestingChannel
    public let store: InMemoryMailStore
    public let logs: CapturedLogs
    public let pool: NIOThreadPool

    /// Starts the handler for a client at 192.0.2.7:4000. `configure` changes the session's settings
    /// (hostname "mx.test"; `tlsAvailable` when `tls` is given), `context` the adapter's (timeouts,
    /// greeting delay, client-host check…). The logger of the context records into `logs`.
    public static func start(
        tls: TLSContextProvider? = nil,
        configure: (inout SMTPServerConfiguration) -> Void = { _ in },
        context change: (inout SMTPServerContext) -> Void = { _ in }
    ) async throws -> SMTPHandlerHarness {
        let store = InMemoryMailStore()
        _ = try await store.addDomain("example.test")
        _ = try await store.addMailbox(EmailAddress(localPart: "alice", domain: "example.test"), passwordHash: nil, isAdmin: false)
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        var config = SMTPServerConfiguration(hostname: "mx.test")
        config.tlsAvailable = tls != nil
        configure(&config)
        let logs = CapturedLogs()
        let logger = logs.logger()
        let spool = NSTemporaryDirectory() + "petrel-handler-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        var context = SMTPServerContext(
            configuration: config, store: store, spoolDirectory: spool,
            connections: ConnectionTracker(limits: .init(maxConnections: 10, maxConnectionsPerIP: 10)),
            authenticator: Authenticator(store: store, threadPool: pool, throttle: AuthThrottle(), logger: logger),
            tls: tls, logger: logger)
        change(&context)
        let server = context
        let channel = NIOAsyncTestingChannel()
        try await channel.testingEventLoop.executeInContext {
            let handler = SMTPConnectionHandler(server: server, client: ClientInfo(ip: IPAddress("192.0.2.7"), port: 4000))
            try channel.pipeline.syncOperations.addHandler(handler)
        }
        try await channel.connect(to: try SocketAddress(ipAddress: "192.0.2.7", port: 4000))
        return SMTPHandlerHarness(channel: channel, store: store, logs: logs, pool: pool)
    }

    /// Reads outbound bytes until `count` complete replies (final lines "NNN ...") have arrived; returns
    /// every line.
    public func replies(_ count: Int) async throws -> [String] {
        var text = ""
        var finals = 0
        while finals < count {
            let buffer = try await channel.nextOutboundWrite()
            text += String(buffer: buffer)
            finals = text.split(separator: "\r\n").filter { $0.count >= 4 && $0[$0.index($0.startIndex, offsetBy: 3)] == " " }.count
        }
        return text.split(separator: "\r\n").map(String.init)
    }

    public func send(_ text: String) async throws { try await channel.writeInbound(ByteBuffer(string: text)) }

    public func finish() async throws {
        _ = try? await channel.finish()
        try await pool.shutdownGracefully()
    }
}
