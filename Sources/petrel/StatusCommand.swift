/// `petrel status`: asks a running server's admin endpoint (GET /status) for its listeners, connections,
/// queue size, uptime and version.
import ArgumentParser
import Foundation
import PetrelServer

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running server's listeners, connections, queue, uptime and version.",
        discussion: """
            Reads GET /status from the admin endpoint ([admin] listen in the configuration; default
            127.0.0.1:2026). Exit status 1 with a clear message when no server answers there.

            Examples:
              petrel status
              petrel status --config /etc/petrel/petrel.toml
              petrel status --admin 127.0.0.1:8025 --json
            """)

    @Option(name: .long, help: "Configuration file: the admin address is read from its [admin] listen.")
    var config: String?

    @Option(name: .long, help: "Admin endpoint host:port (overrides the configuration).")
    var admin: String?

    @Flag(name: .long, help: "Print the raw JSON report.")
    var json = false

    func run() async throws {
        let address = try adminAddress()
        let body: String
        do {
            let (code, text) = try AdminClient.get(host: address.host, port: address.port, path: "/status")
            guard code == 200 else { throw CLIError(message: "the admin endpoint at \(address) answered HTTP \(code)") }
            body = text
        } catch let failure as AdminClient.Failure {
            if failure.refused {
                throw CLIError(message: "petrel is not running (nothing listens on the admin endpoint \(address))")
            }
            throw CLIError(message: "cannot read the status from \(address): \(failure)")
        }
        if json { print(body.trimmingCharacters(in: .whitespacesAndNewlines)); return }
        guard let report = try? JSONDecoder().decode(StatusReport.self, from: Data(body.utf8)) else {
            throw CLIError(message: "the answer from \(address) is not a petrel status report")
        }
        print(report.text())
    }

    func adminAddress() throws -> PetrelConfiguration.Listener {
        if let admin {
            switch PetrelConfiguration.Listener.parse(admin) {
            case .success(let l): return l
            case .failure(let e): throw ValidationError("--admin \(admin): \(e.reason)")
            }
        }
        var configuration = PetrelConfiguration.developmentDefaults(hostname: "localhost")
        if let config {
            switch PetrelConfiguration.load(path: config) {
            case .success(let c): configuration = c
            case .failure(let errors): throw CLIError(message: "\(errors)")
            }
        }
        guard let listen = configuration.admin.listen else {
            throw CLIError(message: "the admin endpoint is disabled ([admin] listen = \"\"); enable it to use 'petrel status'")
        }
        guard listen.port != 0 else { throw CLIError(message: "[admin] listen uses port 0; give the actual address with --admin") }
        return listen
    }
}
