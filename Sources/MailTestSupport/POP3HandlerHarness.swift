/// One `POP3ConnectionHandler` on an in-memory channel (`NIOAsyncTestingChannel`, virtual time) with an
/// in-memory store holding `alice@example.test` and her messages, a thread pool and captured logs: the
/// harness the POP3 adapter tests share (POP3ConnectionHandlerTests, HostileClientTests).
import Foundation
import MailCore
import MailServerNIO
import MailStore
import NIOCore
import NIOEmbedded
import NIOPosix
import POP3Core

public final class POP3HandlerHarness: @unchecked Sendable { // used by one test task at a time
    public let channel: NIOAsyncTestingChannel
    public let store: InMemoryMailStore
    public let logs: CapturedLogs
    public let pool: NIOThreadPool
    public let mailboxID: Int64
    private var pending: [UInt8] = []

    init(channel: NIOAsyncTestingChannel, store: InMemoryMailStore, logs: CapturedLogs, pool: NIOThreadPool, mailboxID: Int64) {
        self.channel = channel
        self.store = store
        self.logs = logs
        self.pool = pool
        self.mailboxID = mailboxID
    }

    /// Starts the handler ("pop.test") for a client at 192.0.2.9:4100; alice's mailbox has `passwordHash`
    /// and holds `bodies` in this order. `context` changes the adapter's settings (idle timeout, limits).
    /// `storeClock` is the store's clock (lease expiry as the store sees it; the system's by default).
    public static func start(
        passwordHash: String?, bodies: [[UInt8]] = [], poolThreads: Int = 2, storeClock: any MailClock = WallClock(),
        context change: (inout POP3ServerContext) -> Void = { _ in }
    ) async throws -> POP3HandlerHarness {
        let store = InMemoryMailStore(clock: storeClock)
        _ = try await store.addDomain("example.test")
        let box = try await store.addMailbox(
            EmailAddress(localPart: "alice", domain: "example.test"), passwordHash: passwordHash, isAdmin: false)
        for (n, body) in bodies.enumerated() {
            _ = try await store.deliver(
                IncomingMessage(
                    queueID: "Q\(n)", sender: .null, localRecipients: [box.id],
                    receivedAt: Date(), traceHeaders: [], body: .bytes(body)))
        }
        let pool = NIOThreadPool(numberOfThreads: poolThreads)
        pool.start()
        let logs = CapturedLogs()
        let logger = logs.logger()
        var context = POP3ServerContext(
            configuration: POP3ServerConfiguration(hostname: "pop.test"), store: store,
            authenticator: Authenticator(store: store, threadPool: pool, throttle: AuthThrottle(), logger: logger),
            connections: ConnectionTracker(limits: .init(maxConnections: 10, maxConnectionsPerIP: 10)), logger: logger)
        change(&context)
        let server = context
        let channel = NIOAsyncTestingChannel()
        try await channel.testingEventLoop.executeInContext {
            let handler = POP3ConnectionHandler(server: server, client: ClientInfo(ip: IPAddress("192.0.2.9"), port: 4100))
            try channel.pipeline.syncOperations.addHandler(handler)
        }
        try await channel.connect(to: try SocketAddress(ipAddress: "192.0.2.9", port: 4100))
        return POP3HandlerHarness(channel: channel, store: store, logs: logs, pool: pool, mailboxID: box.id)
    }

    public func send(_ text: String) async throws {
        try await channel.writeInbound(ByteBuffer(string: text))
    }

    /// Exactly `count` more output octets.
    public func read(_ count: Int) async throws -> [UInt8] {
        while pending.count < count {
            let buffer = try await channel.nextOutboundWrite()
            pending += Array(buffer.readableBytesView)
        }
        let out = Array(pending.prefix(count))
        pending.removeFirst(count)
        return out
    }

    /// The next output line, CRLF removed.
    public func line() async throws -> String {
        while true {
            if let end = pending.indices.dropLast().first(where: { pending[$0] == 13 && pending[$0 + 1] == 10 }) {
                let text = String(decoding: pending[..<end], as: UTF8.self)
                pending.removeFirst(end + 2)
                return text
            }
            let buffer = try await channel.nextOutboundWrite()
            pending += Array(buffer.readableBytesView)
        }
    }

    public func finish() async throws {
        _ = try? await channel.finish()
        try await pool.shutdownGracefully()
    }
}
