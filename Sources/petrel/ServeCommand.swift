/// `petrel serve`: runs SMTP, POP3 and IMAP until SIGTERM/SIGINT.
import ArgumentParser
import Foundation
import Logging
import PetrelServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the mail server (SMTP, POP3 and IMAP) until SIGTERM or SIGINT.",
        discussion: """
            With no configuration file Petrel uses development defaults: data in ./petrel-data; on
            127.0.0.1 SMTP 2525, submission 2587 (STARTTLS) and 2465 (implicit TLS), POP3 2110 (STLS) and
            2995 (implicit TLS), IMAP 2143 (STARTTLS) and 2993 (implicit TLS; only when the store serves IMAP,
            else the log says "imap not started"); a self-signed certificate is generated in the data
            directory at first start.
            A bad configuration is refused with every error listed (line and key), the same as
            'petrel config check'. SIGTERM/SIGINT stop gracefully. SIGHUP re-reads the configuration file and
            the TLS certificate: log.level and server.shutdown_deadline apply at once; any other change is logged
            as "<key> changed; restart to apply" (see docs/CONFIGURATION.md). With [admin] listen set (default
            127.0.0.1:2026) the server answers GET /metrics (Prometheus) and GET /status (JSON) there.

            Examples:
              petrel serve
              petrel serve --config /etc/petrel/petrel.toml
              petrel serve --data-dir /tmp/petrel-test --log-level debug
            """)

    @OptionGroup var data: DataOptions

    @Option(name: .customLong("log-level"), help: "Override log.level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String?

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil { throw ValidationError("unknown log level '\(logLevel)'") }
    }

    /// The configuration with this command's overrides (--data-dir, --log-level) applied.
    func effectiveConfiguration() throws -> PetrelConfiguration {
        var configuration = try data.loadConfiguration()
        if let logLevel, let level = Logger.Level(rawValue: logLevel) { configuration.log.level = level }
        return configuration
    }

    func run() async throws {
        let configuration = try effectiveConfiguration()
        // The one clock of the process: log timestamps and everything the server builds read it.
        let clock = WallClock()
        PetrelLogHandler.bootstrap(level: configuration.log.level, format: configuration.log.format, clock: clock)
        let logger = Logger(label: "petrel")
        let tuned = MallocTuning.apply(environment: ProcessInfo.processInfo.environment)
        logger.debug("malloc thresholds", metadata: ["applied": "\(tuned)"])
        logger.info(
            "starting petrel",
            metadata: [
                "version": "\(PetrelVersion.string)", "data_dir": "\(configuration.server.dataDirectory)",
                "hostname": "\(configuration.server.hostname)"
            ])
        do {
            // SIGHUP re-reads the file with the same overrides (captured as plain values, not the command).
            let reload: PetrelService.Reloader? = data.config.map { path in
                let dataDir = data.dataDir, level = logLevel.flatMap { Logger.Level(rawValue: $0) }
                return { @Sendable in
                    PetrelConfiguration.load(path: path).map { loaded in
                        var c = loaded
                        if let dataDir, !dataDir.isEmpty { c.server.dataDirectory = dataDir }
                        if let level { c.log.level = level }
                        return c
                    }
                }
            }
            try await PetrelService.runUntilSignalled(configuration: configuration, logger: logger, reload: reload, clock: clock)
        } catch {
            logger.critical("petrel stopped with an error", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}
