/// The composition root: builds the store, the protocol contexts and the listeners from a
/// `PetrelConfiguration`, and stops them gracefully (stop accepting, let in-flight transactions
/// finish up to a deadline, then close what is left).
import Foundation
import Logging
import MailCore
import MailPolicy
import MailServerNIO
import MailStore
import MailStoreSQLite
import NIOCore
import NIOPosix
import POP3Core
import SMTPCore

public final class MailServer: Sendable {
    public let configuration: PetrelConfiguration
    public let store: any MailStore
    public let listeners: [BoundListener]
    let smtpConnections: ConnectionTracker
    let pop3Connections: ConnectionTracker
    let group: MultiThreadedEventLoopGroup
    let threadPool: NIOThreadPool
    let logger: Logger

    private init(configuration: PetrelConfiguration, store: any MailStore, listeners: [BoundListener],
                 smtpConnections: ConnectionTracker, pop3Connections: ConnectionTracker,
                 group: MultiThreadedEventLoopGroup, threadPool: NIOThreadPool, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.listeners = listeners
        self.smtpConnections = smtpConnections
        self.pop3Connections = pop3Connections
        self.group = group
        self.threadPool = threadPool
        self.logger = logger
    }

    /// Opens the embedded SQLite store in the configured data directory.
    public static func openStore(configuration: PetrelConfiguration) throws -> any MailStore {
        try FileManager.default.createDirectory(atPath: configuration.server.dataDirectory, withIntermediateDirectories: true)
        return try SQLiteMailStore(directory: configuration.server.dataDirectory)
    }

    /// Starts every listener. `store` defaults to the SQLite store in the data directory.
    public static func start(configuration: PetrelConfiguration, store: (any MailStore)? = nil,
                             authThrottle: AuthThrottle = AuthThrottle(), logger: Logger) async throws -> MailServer {
        let store = try store ?? openStore(configuration: configuration)
        let spool = configuration.server.dataDirectory + "/spool"
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        MessageSpool.cleanStaleFiles(in: spool)

        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let threadPool = NIOThreadPool(numberOfThreads: max(2, System.coreCount))
        threadPool.start()

        let smtp = configuration.smtp
        var smtpConfig = SMTPServerConfiguration(hostname: configuration.server.hostname)
        smtpConfig.maxMessageSize = smtp.maxMessageSize
        smtpConfig.maxRecipients = smtp.maxRecipients
        smtpConfig.maxMessagesPerConnection = smtp.maxMessagesPerConnection
        smtpConfig.maxErrors = smtp.maxErrors
        smtpConfig.maxCommandLineLength = smtp.maxCommandLineLength
        smtpConfig.maxTextLineLength = smtp.maxTextLineLength
        let smtpConnections = ConnectionTracker(limits: .init(maxConnections: smtp.maxConnections,
                                                              maxConnectionsPerIP: smtp.maxConnectionsPerIP))
        let smtpContext = SMTPServerContext(
            configuration: smtpConfig, store: store, relayRules: .closed, spoolDirectory: spool,
            commandTimeout: .seconds(Int64(smtp.commandTimeout)), dataTimeout: .seconds(Int64(smtp.dataTimeout)),
            maxSessionBytes: smtp.maxSessionBytes, connections: smtpConnections,
            logger: Logger(label: "petrel.smtp"))

        let pop3Connections = ConnectionTracker(limits: .init(maxConnections: configuration.pop3.maxConnections,
                                                              maxConnectionsPerIP: configuration.pop3.maxConnectionsPerIP))
        var pop3Config = POP3ServerConfiguration(hostname: configuration.server.hostname)
        // RFC 2449 §4 allows 255-octet commands; AUTH PLAIN responses with long names need more.
        pop3Config.maxCommandLineLength = 512
        let pop3Context = POP3ServerContext(
            configuration: pop3Config, store: store,
            throttle: authThrottle, idleTimeout: .seconds(Int64(configuration.pop3.idleTimeout)),
            connections: pop3Connections, threadPool: threadPool, logger: Logger(label: "petrel.pop3"))

        var bound: [BoundListener] = []
        do {
            for l in smtp.listen {
                bound.append(try await Listeners.bindSMTP(ListenAddress(host: l.host, port: l.port), context: smtpContext, group: group))
            }
            for l in configuration.pop3.listen {
                bound.append(try await Listeners.bindPOP3(ListenAddress(host: l.host, port: l.port), context: pop3Context, group: group))
            }
        } catch {
            for b in bound { try? await b.channel.close() }
            try? await threadPool.shutdownGracefully()
            try? await group.shutdownGracefully()
            throw ServerStartError(message: "cannot listen: \(error)")
        }
        for b in bound {
            logger.info("listening", metadata: ["protocol": "\(b.kind.rawValue)", "address": "\(b.localAddress)"])
        }
        return MailServer(configuration: configuration, store: store, listeners: bound, smtpConnections: smtpConnections,
                          pop3Connections: pop3Connections, group: group, threadPool: threadPool, logger: logger)
    }

    public func port(_ kind: MailProtocol) -> Int? { listeners.first { $0.kind == kind }?.port }

    /// Graceful stop: close the listeners, ask idle sessions to close (SMTP gets 421), wait for the
    /// others to finish their transaction up to `deadline`, then close whatever is left and the store.
    public func shutdown(deadline: Duration = .seconds(30)) async {
        logger.info("shutting down", metadata: ["open_smtp": "\(smtpConnections.openCount)", "open_pop3": "\(pop3Connections.openCount)"])
        for l in listeners { try? await l.channel.close() }
        for channel in smtpConnections.openChannels + pop3Connections.openChannels {
            channel.pipeline.fireUserInboundEventTriggered(ShutdownRequested())
        }
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: deadline)
        while smtpConnections.openCount + pop3Connections.openCount > 0 && clock.now < end {
            for channel in smtpConnections.openChannels + pop3Connections.openChannels {
                channel.pipeline.fireUserInboundEventTriggered(ShutdownRequested())
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        let left = smtpConnections.openChannels + pop3Connections.openChannels
        if !left.isEmpty { logger.warning("closing connections still open at the deadline", metadata: ["count": "\(left.count)"]) }
        for channel in left { try? await channel.close() }
        try? await store.close()
        try? await threadPool.shutdownGracefully()
        try? await group.shutdownGracefully()
        logger.info("stopped")
    }
}

public struct ServerStartError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
