/// Runs the mail server under swift-service-lifecycle: SIGTERM/SIGINT trigger a graceful shutdown,
/// SIGHUP re-reads the configuration (see ConfigReload.swift for what applies live and what is reported
/// as needing a restart) and the TLS certificate. `runUntilSignalled` runs one ServiceGroup: the
/// background jobs (BackgroundServices.swift), then this service, which starts the server and, at
/// shutdown, drains its connections before the jobs are stopped.
import Logging
import MailCore
import MailStore
import ServiceLifecycle
import Synchronization
import UnixSignals

public struct PetrelService: Service, CustomStringConvertible {
    public var description: String { "PetrelService" }

    /// Reads the configuration again (the same file and command-line overrides as at start).
    public typealias Reloader = @Sendable () -> Result<PetrelConfiguration, ConfigErrors>

    let configuration: PetrelConfiguration
    let logger: Logger
    let reload: Reloader?
    let onStarted: @Sendable (MailServer) -> Void
    /// The server's one clock (docs/ARCHITECTURE.md "Time").
    let clock: any MailClock
    /// Where the started server is published for the background jobs of the same group.
    let started: StartedServer
    /// The store opened by `services` (PostgreSQL, whose client runs as a service of the same group);
    /// nil: `MailServer.start` opens the configured store.
    let store: (any MailStore)?

    public init(
        configuration: PetrelConfiguration, logger: Logger, reload: Reloader? = nil, clock: any MailClock = WallClock(),
        onStarted: @escaping @Sendable (MailServer) -> Void = { _ in }
    ) {
        self.init(
            configuration: configuration, logger: logger, reload: reload, clock: clock, started: StartedServer(), store: nil,
            onStarted: onStarted)
    }

    init(
        configuration: PetrelConfiguration, logger: Logger, reload: Reloader?, clock: any MailClock, started: StartedServer,
        store: (any MailStore)? = nil, onStarted: @escaping @Sendable (MailServer) -> Void = { _ in }
    ) {
        self.started = started
        self.store = store
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
        self.reload = reload
        self.onStarted = onStarted
    }

    public func run() async throws {
        // SIGHUP is trapped before the listeners open (and log "listening"), so an early reload can never
        // meet the default action, which would end the process. It reloads until SIGTERM/SIGINT.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let server: MailServer
        do {
            server = try await MailServer.start(configuration: configuration, store: store, logger: logger, clock: clock)
        } catch {
            started.settle(nil)
            throw error
        }
        started.settle(server)
        onStarted(server)
        let running = Mutex(configuration)
        await withGracefulShutdownHandler {
            for await _ in hangups.cancelOnGracefulShutdown() {
                logger.info("SIGHUP received")
                Self.reloadConfiguration(reload, running: running, logger: logger)
                server.reloadTLS()
            }
        } onGracefulShutdown: {
            logger.info("graceful shutdown requested")
        }
        // Listeners closed and sessions drained; the group then stops the background jobs, and
        // `runUntilSignalled` closes the store last.
        let deadline = running.withLock { $0.server.shutdownDeadline }
        await server.drain(deadline: .seconds(Int64(deadline)))
    }

    /// Re-reads the file; applies what can change live and logs what needs a restart. A file with errors
    /// changes nothing (each error is logged).
    static func reloadConfiguration(_ reload: Reloader?, running: borrowing Mutex<PetrelConfiguration>, logger: Logger) {
        guard let reload else { return }
        switch reload() {
        case .failure(let errors):
            logger.error("configuration reload failed; keeping the running configuration", metadata: ["errors": "\(errors)"])
        case .success(let new):
            let old = running.withLock { $0 }
            let plan = ConfigReloadPlan.compare(running: old, new: new)
            LogLevelControl.shared.level = new.log.level
            running.withLock { current in
                current.log.level = new.log.level
                current.server.shutdownDeadline = new.server.shutdownDeadline
            }
            plan.log(to: logger)
        }
    }

    /// Runs until SIGTERM or SIGINT.
    public static func runUntilSignalled(
        configuration: PetrelConfiguration, logger: Logger, reload: Reloader? = nil, clock: any MailClock = WallClock()
    ) async throws {
        let started = StartedServer()
        let group = ServiceGroup(
            configuration: .init(
                services: try services(configuration: configuration, logger: logger, reload: reload, clock: clock, started: started),
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            await started.current?.close()
            throw error
        }
        await started.current?.close()
    }

    /// The group's services in order: on PostgreSQL the store's client (connection pool, stopped last),
    /// the background jobs, then `PetrelService` (stopped first). Throws when the PostgreSQL settings
    /// cannot be used (e.g. an unreadable `password_file`); nothing is connected yet.
    static func services(
        configuration: PetrelConfiguration, logger: Logger, reload: Reloader?, clock: any MailClock, started: StartedServer,
        onStarted: @escaping @Sendable (MailServer) -> Void = { _ in }
    ) throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        var first: [ServiceGroupConfiguration.ServiceConfiguration] = []
        var store: (any MailStore)?
        if configuration.store.backend == .postgresql {
            let postgres = try MailServer.openPostgresStore(configuration: configuration, clock: clock, runsClient: false)
            first.append(.init(service: postgres.clientService))
            store = postgres
        }
        let service = PetrelService(
            configuration: configuration, logger: logger, reload: reload, clock: clock, started: started, store: store,
            onStarted: onStarted)
        return first + BackgroundJob.jobs(configuration, started: started).map { .init(service: $0) } + [.init(service: service)]
    }
}
