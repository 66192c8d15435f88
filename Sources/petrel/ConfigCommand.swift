/// `petrel config check`: validates a configuration file and lists every problem with its line and key.
import ArgumentParser
import PetrelServer

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with the configuration file.",
        subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a configuration file; print every error with its line and key.",
            discussion: """
                Exit status 0 when the file is valid, 1 otherwise. 'petrel serve' refuses a file that fails this check.

                Examples:
                  petrel config check --config /etc/petrel/petrel.toml
                  petrel config check --config docs/petrel.example.toml
                """)

        @Option(name: .long, help: "The configuration file to check.")
        var config: String

        func run() async throws {
            switch PetrelConfiguration.load(path: config) {
            case .success(let c):
                print("\(config): OK")
                print("  hostname \(c.server.hostname), data in \(c.server.dataDirectory)")
                print("  smtp on \(c.smtp.listen.map { "\($0)" }.joined(separator: ", "))")
                print("  pop3 on \(c.pop3.listen.map { "\($0)" }.joined(separator: ", "))")
                print("  imap on \((c.imap.listen + c.imap.tlsListen).map { "\($0)" }.joined(separator: ", "))")
            case .failure(let errors):
                throw CLIError(message: "\(errors)")
            }
        }
    }
}
