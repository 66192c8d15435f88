/// `petrel init`: writes a production configuration file and data directory and adds the first local
/// domain. Asks for the mail domain on a terminal; every answer can also be given as a flag.
import ArgumentParser
import Foundation
import PetrelServer

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a production configuration and data directory, and add the mail domain.",
        discussion: """
            Writes the configuration (standard ports 25, 587, 465, 110, 995; admin endpoint 127.0.0.1:8025),
            creates the data directory and adds DOMAIN as a local domain. Refuses to overwrite an existing
            configuration file unless --force is given. Without --domain it asks on the terminal.
            Run it as the user the server runs as (or chown the data directory afterwards), see README.md.

            Examples:
              petrel init
              petrel init --domain example.com --hostname mail.example.com \\
                  --config /etc/petrel/petrel.toml --data-dir /var/lib/petrel
              petrel init --domain example.com --config ./petrel.toml --data-dir ./data --force
            """)

    @Option(help: "The mail domain (addresses user@DOMAIN are delivered here).") var domain: String?
    @Option(help: "This server's host name (default: mail.DOMAIN).") var hostname: String?
    @Option(help: "Where to write the configuration file.") var config = "/etc/petrel/petrel.toml"
    @Option(name: .customLong("data-dir"), help: "The data directory.") var dataDir = "/var/lib/petrel"
    @Flag(help: "Overwrite an existing configuration file.") var force = false

    func run() async throws {
        let mailDomain = try validDomain(try domain ?? ask("Mail domain (e.g. example.com): "))
        let host = try validDomain(hostname ?? "mail.\(mailDomain)")
        guard !dataDir.isEmpty, !dataDir.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw ValidationError("--data-dir must be a non-empty path without control characters")
        }
        let fm = FileManager.default
        if fm.fileExists(atPath: config) && !force {
            throw CLIError(message: "\(config) already exists; use --force to overwrite it")
        }
        let text = ProductionConfig.render(hostname: host, dataDirectory: dataDir)
        let configuration: PetrelConfiguration
        switch PetrelConfiguration.parse(text) {
        case .success(let c): configuration = c
        case .failure(let errors): throw CLIError(message: "internal error: the generated configuration is invalid:\n\(errors)")
        }
        do {
            let parent = URL(fileURLWithPath: config).deletingLastPathComponent().path
            try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
            try fm.createDirectory(atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            if fm.fileExists(atPath: config) { try fm.removeItem(atPath: config) }
            guard fm.createFile(atPath: config, contents: Data(text.utf8), attributes: [.posixPermissions: 0o640]) else {
                throw CLIError(message: "cannot write \(config)")
            }
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError(message: "cannot create \(config) or \(dataDir): \(error.localizedDescription)")
        }
        let admin = PetrelAdmin(configuration: configuration)
        do { try admin.open() } catch {
            throw CLIError(message: "cannot open the data directory \(dataDir): \(error.underlying)")
        }
        do {
            if try await !admin.domains().contains(where: { $0.name == mailDomain }) { _ = try await admin.addDomain(mailDomain) }
            await admin.close()
        } catch {
            await admin.close()
            throw CLIError(message: "cannot add the domain \(mailDomain): \(error)")
        }
        print(
            """
            wrote \(config) (hostname \(host), data in \(dataDir)); domain \(mailDomain) added
            next:
              petrel mailbox add postmaster@\(mailDomain) --config \(config)
              petrel doctor --config \(config)
              systemctl enable --now petrel
            """)
    }

    /// Asks on the terminal; refuses when standard input is not one.
    func ask(_ prompt: String) throws -> String {
        guard isatty(STDIN_FILENO) != 0 else {
            throw ValidationError("give --domain (standard input is not a terminal, so petrel init cannot ask)")
        }
        FileHandle.standardOutput.write(Data(prompt.utf8))
        guard let line = readLine(strippingNewline: true), !line.isEmpty else { throw CLIError(message: "no domain given") }
        return line.trimmingCharacters(in: .whitespaces)
    }
}
