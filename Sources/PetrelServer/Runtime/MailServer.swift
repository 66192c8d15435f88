/// The composition root: builds the store, TLS, the authenticator, the protocol contexts and the
/// listeners from a `PetrelConfiguration`, reloads certificates on request, and stops gracefully (stop
/// accepting, let in-flight transactions finish up to a deadline, then close what is left).
import Foundation
import IMAPCore
import Logging
import MailAccounts
import MailCore
import MailDelivery
import MailPolicy
import MailServerNIO
import MailStore
import MailStorePostgres
import MailStoreSQLite
import NIOCore
import NIOPosix
import POP3Core
import Prometheus
import SMTPCore
import Synchronization

public final class MailServer: Sendable {
    public let configuration: PetrelConfiguration
    public let store: any MailStore
    public let listeners: [BoundListener]
    public let tls: TLSContextProvider
    let smtpConnections: ConnectionTracker
    let pop3Connections: ConnectionTracker
    let imapConnections: ConnectionTracker
    let group: MultiThreadedEventLoopGroup
    let threadPool: NIOThreadPool
    /// SMTP spool file writes (blocking file I/O), apart from the login hashing on `threadPool`.
    let pop3ReadPool: NIOThreadPool
    /// The resolver's blocking lookups (MailServer+Access.swift `makeDNSPool`).
    let dnsPool: NIOThreadPool
    let logger: Logger
    /// Metrics, the admin endpoint and the start time (see ServerOperations.swift).
    public let operations: ServerOperations
    /// The outbound delivery agent (MailServer+Delivery.swift).
    public let deliveryAgent: DeliveryAgent
    /// Live relay/connection rules (MailServer+Access.swift).
    public let access: AccessControl
    /// The pickup-directory watcher, when `delivery.pickup_dir` is set.
    public let pickup: PickupDirectory?
    /// `[autoconfig]`: the HTTPS client set-up listeners (MailServer+ClientSetup.swift).
    public let clientSetup = ClientSetupRunner()
    /// The account backends' own thread pool (MailServer+Accounts.swift).
    let accountsRuntime = AccountsRuntime()
    /// `<data_dir>/petrel.lock`, held until `close()` (DataDirectoryLock.swift).
    let dataDirectoryLock: DataDirectoryLock

    private init(
        configuration: PetrelConfiguration, store: any MailStore, listeners: [BoundListener], tls: TLSContextProvider,
        smtpConnections: ConnectionTracker, pop3Connections: ConnectionTracker, imapConnections: ConnectionTracker,
        group: MultiThreadedEventLoopGroup, threadPool: NIOThreadPool, pop3ReadPool: NIOThreadPool, dnsPool: NIOThreadPool,
        logger: Logger, operations: ServerOperations,
        access: AccessControl, deliveryAgent: DeliveryAgent, pickup: PickupDirectory?, dataDirectoryLock: DataDirectoryLock
    ) {
        self.dataDirectoryLock = dataDirectoryLock
        self.configuration = configuration
        self.store = store
        self.listeners = listeners
        self.tls = tls
        self.smtpConnections = smtpConnections
        self.pop3Connections = pop3Connections
        self.imapConnections = imapConnections
        self.group = group
        self.threadPool = threadPool
        self.pop3ReadPool = pop3ReadPool
        self.dnsPool = dnsPool
        self.logger = logger
        self.operations = operations
        self.access = access
        self.deliveryAgent = deliveryAgent
        self.pickup = pickup
    }

    /// Opens the configured store (`[store] backend`): the embedded SQLite store in the data directory, or
    /// PostgreSQL (connected and migrated on first use; `start` does it at once).
    public static func openStore(configuration: PetrelConfiguration, clock: any MailClock = WallClock()) throws -> any MailStore {
        switch configuration.store.backend {
        case .sqlite:
            try FileManager.default.createDirectory(atPath: configuration.server.dataDirectory, withIntermediateDirectories: true)
            return try SQLiteMailStore(
                directory: configuration.server.dataDirectory,
                options: .init(
                    recipientCacheTTL: .seconds(configuration.store.recipientCache), mmapSize: configuration.store.sqliteMmapMiB << 20),
                clock: clock)
        case .postgresql:
            return try openPostgresStore(configuration: configuration, clock: clock)
        }
    }

    /// The PostgreSQL store of `[store]`; `runsClient: false` leaves its client to a ServiceGroup
    /// (`PostgresMailStore.clientService`, as `petrel serve` does).
    static func openPostgresStore(configuration: PetrelConfiguration, clock: any MailClock, runsClient: Bool = true) throws -> PostgresMailStore {
        try PostgresMailStore(configuration: postgresConfiguration(configuration.store), clock: clock, runsClient: runsClient)
    }

    /// The PostgreSQL settings of `[store]`, the password read from `password_file` (its first line).
    static func postgresConfiguration(_ store: PetrelConfiguration.Store) throws -> PostgresStoreConfiguration {
        var password: String?
        if let file = store.passwordFile {
            let text = try SecretFile.read(file, key: "[store] password_file")
            password = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).first.map(String.init) ?? ""
        }
        let tls: PostgresStoreConfiguration.TLSMode
        switch store.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer
        case .require: tls = .require
        }
        return PostgresStoreConfiguration(
            host: store.host, port: store.port, database: store.database, user: store.user, password: password, tls: tls,
            caFile: store.caFile, poolSize: store.poolSize, recipientCacheTTL: .seconds(store.recipientCache))
    }

    /// Starts every listener. `store` defaults to the configured store (`openStore`). `clock` is the
    /// one source of "now" for everything the server builds (docs/ARCHITECTURE.md "Time").
    public static func start(
        configuration: PetrelConfiguration, store: (any MailStore)? = nil, logger: Logger, clock: any MailClock = WallClock()
    ) async throws -> MailServer {
        // One `petrel serve` per data directory (its spool, its node id); dropped by `close()` or at exit.
        let dataDirectoryLock = try DataDirectoryLock.acquire(dataDirectory: configuration.server.dataDirectory)
        let store = try store ?? openStore(configuration: configuration, clock: clock)
        // PostgreSQL: connect and migrate now, so a wrong setting or a newer schema stops the start.
        if let postgres = store as? PostgresMailStore { try await postgres.prepare() }
        let dataDirectory = configuration.server.dataDirectory
        let spool = dataDirectory + "/spool"
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        MessageSpool.cleanStaleFiles(in: spool)

        let configured = configuration.tls.certificate.flatMap { cert in
            configuration.tls.privateKey.map { TLSContextProvider.Paths(certificate: cert, privateKey: $0) }
        }
        let tlsPaths = try TLSContextProvider.ensureCertificate(
            configured: configured, directory: dataDirectory + "/tls",
            hostname: configuration.server.hostname, logger: logger, now: clock.now)
        let tls = try TLSContextProvider(paths: tlsPaths)

        let operations = ServerOperations(clock: clock)
        let loops = configuration.server.eventLoopCount(cores: System.coreCount)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: loops)
        let blockingThreads = max(2, System.coreCount)
        let threadPool = NIOThreadPool(numberOfThreads: blockingThreads)
        threadPool.start()
        let pop3ReadPool = NIOThreadPool(numberOfThreads: blockingThreads)
        pop3ReadPool.start()
        logger.info(
            "threads",
            metadata: [
                "cores": "\(System.coreCount)", "event_loops": "\(loops)",
                "event_loops_from": "\(configuration.server.eventLoops == nil ? "automatic (half the cores)" : "server.event_loops")",
                "blocking_pool": "\(blockingThreads)"
            ])

        // Relay control: configured + data-directory rules (re-read every 2 s once the listeners start).
        // SMTP RCPT, the pickup directory and reports all decide with these live rules.
        let (relayRules, connectionRules) = configuredAccess(configuration, logger: logger)
        let access = AccessControl(
            relay: relayRules, connections: connectionRules, store: store,
            maxConnectionRatePerIP: configuration.smtp.maxConnectionRatePerIP, clock: clock)
        let liveRelayRules: @Sendable () -> RelayRules = { access.relayRules }

        // One resolver ([dns]) for the agent's MX look-ups and the port-25 client-name check.
        let dnsPool = makeDNSPool()
        let resolver = makeResolver(configuration, runner: dnsPool)
        // The account backends (builtin, system, ldap): logins, and who exists for RCPT, pickup and reports.
        let accounts: AccountRouter
        let directoryPool: NIOThreadPool?
        do {
            (accounts, directoryPool) = try makeAccountRouter(configuration, store: store, threadPool: threadPool, clock: clock)
        } catch {
            try? await threadPool.shutdownGracefully()
            try? await pop3ReadPool.shutdownGracefully()
            try? await dnsPool.shutdownGracefully()
            try? await group.shutdownGracefully()
            throw error
        }
        let agent: DeliveryAgent
        do {
            agent = try makeDeliveryAgent(
                configuration: configuration, store: store, resolver: resolver,
                group: group, metricsFactory: PrometheusMetricsFactory(registry: operations.registry),
                relayRules: liveRelayRules, resolveRecipient: { try await accounts.resolveRecipient($0) },
                logger: Logger(label: "petrel.delivery"), clock: clock)
        } catch {
            try? await directoryPool?.shutdownGracefully()
            try? await threadPool.shutdownGracefully()
            try? await pop3ReadPool.shutdownGracefully()
            try? await dnsPool.shutdownGracefully()
            try? await group.shutdownGracefully()
            throw ServerStartError(message: "invalid [delivery] settings: \(error)")
        }
        await agent.refreshSnapshot()

        let auth = configuration.auth
        let throttle = AuthThrottle(
            settings: .init(
                baseDelay: Double(auth.failureDelay) / 1000,
                maxDelay: Double(auth.maxFailureDelay) / 1000,
                maxConcurrentPerIP: auth.maxConcurrentLoginsPerIP,
                maxConcurrentPerAccount: auth.maxConcurrentLoginsPerAccount),
            clock: clock)
        let authenticator = Authenticator(
            store: store, threadPool: threadPool, throttle: throttle, logger: Logger(label: "petrel.auth"),
            accounts: accounts)

        let smtp = configuration.smtp
        var smtpConfig = SMTPServerConfiguration(hostname: configuration.server.hostname)
        smtpConfig.maxMessageSize = smtp.maxMessageSize
        smtpConfig.maxRecipients = smtp.maxRecipients
        smtpConfig.maxMessagesPerConnection = smtp.maxMessagesPerConnection
        smtpConfig.maxErrors = smtp.maxErrors
        smtpConfig.maxCommandLineLength = smtp.maxCommandLineLength
        smtpConfig.maxTextLineLength = smtp.maxTextLineLength
        smtpConfig.tlsAvailable = true
        smtpConfig.allowPlaintextAuth = auth.allowPlaintext
        smtpConfig.maxAuthFailures = auth.maxFailures
        smtpConfig.requireSenderMatch = configuration.submission.requireSenderMatch
        smtpConfig.offerSCRAM = configuration.accounts.scram
        smtpConfig.hopCount = HopCount(limit: configuration.delivery.hopLimit)
        smtpConfig.clock = clock
        smtpConfig.makeQueueID = { QueueID.generate(date: clock.now) }

        // The data directory's access lists (re-read every 2 s by a background service); FCrDNS for client domains.
        await access.refresh()
        let verifyClientHost = makeClientHostVerifier(
            resolver: resolver,
            timeout: .seconds(configuration.dns.timeout), logger: logger)
        var mxConfig = smtpConfig
        mxConfig.rejectUnauthenticatedLocalSender = smtp.rejectUnauthenticatedLocalSender

        let messageAuthentication = MessageAuthentication(
            configuration: configuration, resolver: resolver, store: store,
            access: access, logger: Logger(label: "petrel.authcheck"), clock: clock)
        let smtpConnections = ConnectionTracker(
            limits: .init(
                maxConnections: smtp.maxConnections,
                maxConnectionsPerIP: smtp.maxConnectionsPerIP))
        // Plaintext logins: TLS required unless [auth] allow_plaintext, a plaintext_auth_listen listener,
        // or a client in [auth] plaintext_networks (MailPolicy PlaintextLogin, applied per connection).
        let plaintextNetworks: [IPNetwork]
        switch AccessSyntax.networks(auth.plaintextNetworks) {
        case .success(let list): plaintextNetworks = list
        case .failure(let error):
            logger.error("ignoring invalid networks", metadata: ["key": "auth.plaintext_networks", "error": "\(error)"])
            plaintextNetworks = []
        }
        func smtpContext(_ config: SMTPServerConfiguration) -> SMTPServerContext {
            var context = SMTPServerContext(
                configuration: config, store: store, relayRules: .closed, spoolDirectory: spool,
                commandTimeout: .seconds(Int64(smtp.commandTimeout)), dataTimeout: .seconds(Int64(smtp.dataTimeout)),
                maxSessionBytes: smtp.maxSessionBytes, connections: smtpConnections, authenticator: authenticator,
                tls: tls, logger: Logger(label: "petrel.smtp"))
            context.metrics = operations.metrics
            context.plaintextAuthNetworks = plaintextNetworks
            // Spool files are written on the disk pool (as POP3 reads), not behind password hashing.
            context.spoolThreadPool = pop3ReadPool
            context.outboundQueued = { agent.wake() }
            context.successReports = SuccessReports(
                make: { dsn, original, size in await agent.localDeliveryReport(dsn, original: original, originalSize: size) },
                stored: { message, dsn in agent.localDeliveryReportStored(message, about: dsn) })
            context.access = access
            context.invalidRecipients = .init(
                delayAfter: smtp.invalidRecipientDelayAfter, disconnectAt: smtp.maxInvalidRecipients,
                delay: .milliseconds(smtp.invalidRecipientDelay))
            // DKIM signing everywhere; SPF/DKIM/DMARC checks on port 25 (MessageAuthentication.swift).
            context.messageCheck = messageAuthentication.hook(inbound: !config.isSubmission && !config.implicitTLS)
            if !config.isSubmission && !config.implicitTLS {
                // Port 25 only: the greeting delay and the client-host check (submission needs AUTH anyway).
                context.greetingDelay = .seconds(Int64(smtp.greetingDelay))
                context.verifyClientHost = verifyClientHost
            }
            return context
        }
        var mxPlaintextConfig = mxConfig
        mxPlaintextConfig.allowPlaintextAuth = true
        var submissionConfig = smtpConfig
        submissionConfig.isSubmission = true
        var submissionPlaintextConfig = submissionConfig
        submissionPlaintextConfig.allowPlaintextAuth = true
        var submissionsConfig = submissionConfig
        submissionsConfig.implicitTLS = true
        submissionsConfig.tlsAvailable = false

        let pop3Connections = ConnectionTracker(
            limits: .init(
                maxConnections: configuration.pop3.maxConnections,
                maxConnectionsPerIP: configuration.pop3.maxConnectionsPerIP))
        var pop3Config = POP3ServerConfiguration(hostname: configuration.server.hostname)
        // RFC 2449 §4: command lines of at most 255 octets (AUTH lines and SASL responses: 12288).
        pop3Config.maxCommandLineLength = 255
        pop3Config.tlsAvailable = true
        pop3Config.allowPlaintextAuth = auth.allowPlaintext
        pop3Config.maxAuthFailures = auth.maxFailures
        pop3Config.offerSCRAM = configuration.accounts.scram
        var pop3PlaintextConfig = pop3Config
        pop3PlaintextConfig.allowPlaintextAuth = true
        var pop3sConfig = pop3Config
        pop3sConfig.implicitTLS = true
        pop3sConfig.tlsAvailable = false
        func pop3Context(_ config: POP3ServerConfiguration) -> POP3ServerContext {
            var context = POP3ServerContext(
                configuration: config, store: store, authenticator: authenticator,
                idleTimeout: .seconds(Int64(configuration.pop3.idleTimeout)), connections: pop3Connections,
                tls: tls, logger: Logger(label: "petrel.pop3"))
            context.metrics = operations.metrics
            context.plaintextAuthNetworks = plaintextNetworks
            context.lockLease = .seconds(configuration.pop3.lockLease)
            context.clock = clock
            context.maxSessionBytes = configuration.pop3.maxSessionBytes
            return context
        }

        // IMAP: only on a store that serves it (IMAPMailboxProvider: folders, UIDs, change notifications).
        let imap = configuration.imap
        let imapConnections = ConnectionTracker(
            limits: .init(maxConnections: imap.maxConnections, maxConnectionsPerIP: imap.maxConnectionsPerIP))
        let imapProvider = store as? any IMAPMailboxProvider
        let imapWanted = !(imap.listen.isEmpty && imap.tlsListen.isEmpty && imap.plaintextAuthListen.isEmpty)
        if imapWanted && imapProvider == nil {
            logger.warning(
                "imap not started: the store does not serve IMAP",
                metadata: ["store": "\(configuration.store.backend.rawValue)", "reason": "no IMAPMailboxProvider (folder tables) in this build"])
        }
        var imapConfig = IMAPServerConfiguration(hostname: configuration.server.hostname)
        imapConfig.tlsAvailable = true
        imapConfig.compressionAvailable = imap.compress
        imapConfig.allowPlaintextAuth = auth.allowPlaintext
        imapConfig.maxAuthFailures = auth.maxFailures
        // APPENDLIMIT: what SMTP would accept.
        imapConfig.limits.maxAppendSize = smtp.maxMessageSize
        var imapPlaintextConfig = imapConfig
        imapPlaintextConfig.allowPlaintextAuth = true
        var imapsConfig = imapConfig
        imapsConfig.implicitTLS = true
        imapsConfig.tlsAvailable = false
        func imapContext(_ config: IMAPServerConfiguration, _ provider: any IMAPMailboxProvider) -> IMAPServerContext {
            var context = IMAPServerContext(
                configuration: config, provider: provider, authenticator: authenticator,
                idleTimeout: .seconds(Int64(imap.idleTimeout)), connections: imapConnections, tls: tls,
                logger: Logger(label: "petrel.imap"))
            context.metrics = operations.metrics
            context.plaintextAuthNetworks = plaintextNetworks
            return context
        }

        var bound: [BoundListener] = []
        do {
            for l in smtp.listen {
                bound.append(try await Listeners.bindSMTP(l, kind: .smtp, context: smtpContext(mxConfig), group: group))
            }
            for l in configuration.submission.listen {
                bound.append(try await Listeners.bindSMTP(l, kind: .submission, context: smtpContext(submissionConfig), group: group))
            }
            for l in configuration.submission.tlsListen {
                bound.append(try await Listeners.bindSMTP(l, kind: .submissions, context: smtpContext(submissionsConfig), group: group))
            }
            for l in configuration.pop3.listen {
                bound.append(try await Listeners.bindPOP3(l, kind: .pop3, context: pop3Context(pop3Config), group: group))
            }
            for l in configuration.pop3.tlsListen {
                bound.append(try await Listeners.bindPOP3(l, kind: .pop3s, context: pop3Context(pop3sConfig), group: group))
            }
            if let imapProvider {
                for l in imap.listen {
                    bound.append(try await Listeners.bindIMAP(l, kind: .imap, context: imapContext(imapConfig, imapProvider), group: group))
                }
                for l in imap.tlsListen {
                    bound.append(try await Listeners.bindIMAP(l, kind: .imaps, context: imapContext(imapsConfig, imapProvider), group: group))
                }
            }
            // plaintext_auth_listen: the same services, logins allowed before STARTTLS/STLS.
            var plaintext: [BoundListener] = []
            for l in smtp.plaintextAuthListen {
                plaintext.append(try await Listeners.bindSMTP(l, kind: .smtp, context: smtpContext(mxPlaintextConfig), group: group))
            }
            for l in configuration.submission.plaintextAuthListen {
                plaintext.append(
                    try await Listeners.bindSMTP(
                        l, kind: .submission, context: smtpContext(submissionPlaintextConfig),
                        group: group))
            }
            for l in configuration.pop3.plaintextAuthListen {
                plaintext.append(try await Listeners.bindPOP3(l, kind: .pop3, context: pop3Context(pop3PlaintextConfig), group: group))
            }
            if let imapProvider {
                for l in imap.plaintextAuthListen {
                    plaintext.append(
                        try await Listeners.bindIMAP(l, kind: .imap, context: imapContext(imapPlaintextConfig, imapProvider), group: group))
                }
            }
            for index in plaintext.indices { plaintext[index].plaintextAuthListener = true }
            bound += plaintext
            if let admin = configuration.admin.listen {
                try await operations.bindAdmin(
                    admin, hostname: configuration.server.hostname, listeners: bound,
                    queue: agent.snapshot, group: group)
            }
        } catch {
            for b in bound { try? await b.channel.close() }
            await operations.closeAdmin()
            try? await threadPool.shutdownGracefully()
            try? await pop3ReadPool.shutdownGracefully()
            try? await dnsPool.shutdownGracefully()
            try? await group.shutdownGracefully()
            throw ServerStartError(message: "cannot listen: \(error)")
        }
        for b in bound {
            var metadata: Logger.Metadata = ["protocol": "\(b.kind.rawValue)", "address": "\(b.localAddress)"]
            if b.plaintextAuthListener { metadata["plaintext_auth"] = "allowed" }
            logger.info("listening", metadata: metadata)
        }
        if let admin = operations.adminAddress {
            logger.info("listening", metadata: ["protocol": "admin", "address": "\(admin)"])
        }
        let pickup = configuration.delivery.pickupDirectory.map { directory in
            var pickupConfiguration = PickupConfiguration(
                directory: directory, hostname: configuration.server.hostname,
                maxMessageSize: smtp.maxMessageSize)
            pickupConfiguration.relayRules = liveRelayRules
            pickupConfiguration.resolveRecipient = { try await accounts.resolveRecipient($0) }
            return PickupDirectory(
                store: store, configuration: pickupConfiguration,
                logger: Logger(label: "petrel.pickup"), queued: { agent.wake() }, clock: clock)
        }
        let server = MailServer(
            configuration: configuration, store: store, listeners: bound, tls: tls, smtpConnections: smtpConnections,
            pop3Connections: pop3Connections, imapConnections: imapConnections, group: group, threadPool: threadPool, pop3ReadPool: pop3ReadPool,
            dnsPool: dnsPool, logger: logger,
            operations: operations, access: access, deliveryAgent: agent, pickup: pickup, dataDirectoryLock: dataDirectoryLock)
        server.accountsRuntime.adopt(directoryPool)
        if configuration.autoconfig.enabled {
            do {
                try await server.clientSetup.start(server)
            } catch {
                await server.shutdown(deadline: .zero)
                throw ServerStartError(message: "cannot start the autoconfig listener: \(error)")
            }
        }
        return server
    }

    public func port(_ kind: MailProtocol) -> Int? { listeners.first { $0.kind == kind }?.port }

    /// Re-reads the TLS certificate and key (SIGHUP). Open connections keep theirs; on error the old one stays.
    public func reloadTLS() {
        do {
            try tls.reload()
            logger.info("TLS certificate reloaded", metadata: ["file": "\(tls.paths.certificate)"])
        } catch {
            logger.error("TLS reload failed; keeping the previous certificate", metadata: ["error": "\(error)"])
        }
    }

    /// Graceful stop for a server whose background services are not running (tests, embedders): `drain`,
    /// then `close`. `petrel serve` runs the same two steps with the services in between (PetrelService).
    public func shutdown(deadline: Duration = .seconds(30)) async {
        await drain(deadline: deadline)
        await close()
    }

    /// The first steps of a graceful stop: close the listeners, ask every session to close as soon as it
    /// is idle (SMTP gets 421), wait up to `deadline` for the last connection to close (an event from the
    /// connection trackers, no polling), then close whatever is left.
    public func drain(deadline: Duration) async {
        logger.info(
            "shutting down",
            metadata: [
                "open_smtp": "\(smtpConnections.openCount)", "open_pop3": "\(pop3Connections.openCount)",
                "open_imap": "\(imapConnections.openCount)"
            ])
        for l in listeners { try? await l.channel.close() }
        await clientSetup.stop()
        await operations.closeAdmin()
        smtpConnections.requestShutdown()
        pop3Connections.requestShutdown()
        imapConnections.requestShutdown()
        let trackers = [smtpConnections, pop3Connections, imapConnections]
        await withTaskGroup(of: Void.self) { waiters in
            waiters.addTask {
                for tracker in trackers { await tracker.waitUntilEmpty() }
            }
            waiters.addTask { try? await Task.sleep(for: deadline) }
            await waiters.next()
            waiters.cancelAll()
        }
        let left = smtpConnections.openChannels + pop3Connections.openChannels + imapConnections.openChannels
        if !left.isEmpty { logger.warning("closing connections still open at the deadline", metadata: ["count": "\(left.count)"]) }
        for channel in left { try? await channel.close() }
    }

    /// The last step of a stop, once no connection is open and the background services have stopped:
    /// the store, the thread pools and the event loops.
    public func close() async {
        try? await store.close()
        try? await threadPool.shutdownGracefully()
        try? await pop3ReadPool.shutdownGracefully()
        try? await dnsPool.shutdownGracefully()
        await accountsRuntime.shutdown()
        try? await group.shutdownGracefully()
        dataDirectoryLock.release()
        logger.info("stopped")
    }
}

public struct ServerStartError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
