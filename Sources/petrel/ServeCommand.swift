/// `petrel serve`: runs SMTP and POP3 until SIGTERM/SIGINT.
import ArgumentParser
import Logging
import PetrelServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the mail server (SMTP and POP3) until SIGTERM or SIGINT.",
        discussion: """
            With no configuration file Petrel uses development defaults: data in ./petrel-data; on
            127.0.0.1 SMTP 2525, submission 2587 (STARTTLS) and 2465 (implicit TLS), POP3 2110 (STLS) and
            2995 (implicit TLS); a self-signed certificate is generated in the data directory at first start.
            A bad configuration is refused with every error listed (line and key), the same as
            'petrel config check'. SIGTERM/SIGINT stop gracefully; SIGHUP reloads the TLS certificate.

            Examples:
              petrel serve
              petrel serve --config /etc/petrel/petrel.toml
              petrel serve --data-dir /tmp/petrel-test --log-level debug
            """)

    @OptionGroup var data: DataOptions

    @Option(name: .customLong("log-level"), help: "Override log.level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String?

    func run() async throws {
        var configuration = try data.loadConfiguration()
        if let logLevel {
            guard let level = Logger.Level(rawValue: logLevel) else {
                throw ValidationError("unknown log level '\(logLevel)'")
            }
            configuration.log.level = level
        }
        PetrelLogHandler.bootstrap(level: configuration.log.level, format: configuration.log.format)
        let logger = Logger(label: "petrel")
        logger.info("starting petrel", metadata: ["version": "\(PetrelVersion.string)", "data_dir": "\(configuration.server.dataDirectory)",
                                                 "hostname": "\(configuration.server.hostname)"])
        do {
            try await PetrelService.runUntilSignalled(configuration: configuration, logger: logger)
        } catch {
            logger.critical("petrel stopped with an error", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}
