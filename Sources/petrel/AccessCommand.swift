/// `petrel access …`: connection control — which client addresses may connect to the SMTP listeners at
/// all (ports 25, 587, 465). A deny entry always wins; once any allow entry exists (here or in
/// `[smtp] connection_allow`), only allowed clients may connect. Refused clients get
/// `554 5.7.1` instead of the greeting. A running server picks changes up within about 2 seconds.
import ArgumentParser
import Foundation
import PetrelServer

struct AccessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access",
        abstract: "Manage which client addresses may connect to SMTP (connection allow/deny lists).",
        discussion: """
            Examples:
              petrel access deny 198.51.100.0/24
              petrel access allow 192.0.2.0/24      (then ONLY allowed networks may connect)
              petrel access list
              petrel access remove 198.51.100.0/24
            """,
        subcommands: [Deny.self, Allow.self, List.self, Remove.self])

    struct Deny: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Refuse connections from a network (554 5.7.1 at greeting time).",
            discussion: "Example:\n  petrel access deny 198.51.100.7")
        @OptionGroup var data: DataOptions
        @Argument(help: "IP address or CIDR network.") var network: String

        func run() async throws {
            let net = try parseNetwork(network)
            let added = try await withAdmin(data) { try await $0.addAccessEntry("\(net)", to: .connectionDeny) }
            print(added ? "connections from \(net) denied" : "\(net) was already denied")
        }
    }

    struct Allow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Allow connections from a network; with any allow entry, all other clients are refused.",
            discussion: """
                Careful on a public MX: once one network is allowed, every other client is refused.

                Example:
                  petrel access allow 192.0.2.0/24
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "IP address or CIDR network.") var network: String

        func run() async throws {
            let net = try parseNetwork(network)
            let added = try await withAdmin(data) { try await $0.addAccessEntry("\(net)", to: .connectionAllow) }
            print(
                added
                    ? "connections from \(net) allowed (clients outside the allow list are now refused)"
                    : "\(net) was already allowed")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the connection allow and deny lists (configuration file and data directory).",
            discussion: "Example:\n  petrel access list")
        @OptionGroup var data: DataOptions

        func run() async throws {
            let configuration = try data.loadConfiguration()
            let entries = try await withAdmin(data) { try await $0.accessEntries() }
            for net in configuration.smtp.connectionDeny { print("deny\t\(net)\t(config)") }
            for e in entries where e.list == .connectionDeny { print("deny\t\(e.value)\t(added \(isoDate(e.addedAt)))") }
            for net in configuration.smtp.connectionAllow { print("allow\t\(net)\t(config)") }
            for e in entries where e.list == .connectionAllow { print("allow\t\(e.value)\t(added \(isoDate(e.addedAt)))") }
            let anyAllow = !configuration.smtp.connectionAllow.isEmpty || entries.contains { $0.list == .connectionAllow }
            print(anyAllow ? "only allowed networks may connect" : "every client not denied may connect")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a network from the allow and deny lists of the data directory.",
            discussion: "Example:\n  petrel access remove 198.51.100.0/24")
        @OptionGroup var data: DataOptions
        @Argument(help: "IP address or CIDR network, as listed.") var network: String

        func run() async throws {
            let net = try parseNetwork(network)
            let removed = try await withAdmin(data) { admin in
                let denied = try await admin.removeAccessEntry("\(net)", from: .connectionDeny)
                let allowed = try await admin.removeAccessEntry("\(net)", from: .connectionAllow)
                return denied || allowed
            }
            guard removed else { throw CLIError(message: "\(net) is in neither list (see 'petrel access list')") }
            print("\(net) removed from the connection lists")
        }
    }
}
