/// Runs the mail server under swift-service-lifecycle: SIGTERM/SIGINT trigger a graceful shutdown.
import Logging
import ServiceLifecycle

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
        // Wait until the service group is told to stop (signal), then stop gracefully.
        try? await gracefulShutdown()
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
