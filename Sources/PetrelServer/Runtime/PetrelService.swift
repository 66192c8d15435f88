/// Runs the mail server under swift-service-lifecycle: SIGTERM/SIGINT trigger a graceful shutdown,
/// SIGHUP reloads the TLS certificate.
import Logging
import ServiceLifecycle
import UnixSignals

public struct PetrelService: Service, CustomStringConvertible {
    public var description: String { "PetrelService" }

    let configuration: PetrelConfiguration
    let logger: Logger
    let onStarted: @Sendable (MailServer) -> Void

    public init(configuration: PetrelConfiguration, logger: Logger, onStarted: @escaping @Sendable (MailServer) -> Void = { _ in }) {
        self.configuration = configuration
        self.logger = logger
        self.onStarted = onStarted
    }

    public func run() async throws {
        let server = try await MailServer.start(configuration: configuration, logger: logger)
        onStarted(server)
        // SIGHUP reloads the TLS certificate until the service group is told to stop (SIGTERM/SIGINT).
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await withGracefulShutdownHandler {
            for await _ in hangups.cancelOnGracefulShutdown() {
                logger.info("SIGHUP received")
                server.reloadTLS()
            }
        } onGracefulShutdown: {
            logger.info("graceful shutdown requested")
        }
        await server.shutdown(deadline: .seconds(Int64(configuration.server.shutdownDeadline)))
    }

    /// Runs until SIGTERM or SIGINT.
    public static func runUntilSignalled(configuration: PetrelConfiguration, logger: Logger) async throws {
        let service = PetrelService(configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}
