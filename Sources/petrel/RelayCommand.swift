/// `petrel relay …`: who may relay (send to non-local domains) besides authenticated clients — client
/// networks and forward-confirmed client host domains, kept in the data directory. A running server
/// picks changes up within about 2 seconds. The `[relay]` section of the configuration adds more.
import ArgumentParser
import Foundation
import MailCore
import MailPolicy
import MailStore
import PetrelServer

struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Manage who may relay mail to other domains (closed by default; AUTH users always may).",
        discussion: """
            Relay = accepting mail for a domain that is not local, to send it on. Petrel relays only for clients that authenticated (unless [relay] allow_authenticated = false), clients whose IP is in an allowed network, and clients whose host name (verified by forward-confirmed reverse DNS) is in an allowed domain. The sender address never matters. See docs/RELAY.md.

            Examples:
              petrel relay allow-ip 192.0.2.0/24
              petrel relay allow-ip 2001:db8::/48
              petrel relay allow-domain partner.example
              petrel relay list
              petrel relay remove 192.0.2.0/24
            """,
        subcommands: [AllowIP.self, AllowDomain.self, List.self, Remove.self])

    struct AllowIP: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "allow-ip",
            abstract: "Let clients in a network relay without authentication.",
            discussion: """
                NETWORK is an IPv4 or IPv6 address (one host) or a CIDR network whose host bits are zero.

                Examples:
                  petrel relay allow-ip 192.0.2.7
                  petrel relay allow-ip 10.0.0.0/8
                  petrel relay allow-ip 2001:db8::/48
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "IP address or CIDR network.") var network: String

        func run() async throws {
            let net = try parseNetwork(network)
            let added = try await withStore(data) { try await $0.addAccessEntry("\(net)", to: .relayNetwork) }
            print(added ? "relay allowed for network \(net)" : "network \(net) was already allowed to relay")
        }
    }

    struct AllowDomain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "allow-domain",
            abstract: "Let clients whose verified host name is in a domain relay.",
            discussion: """
                The client's name must be confirmed by forward-confirmed reverse DNS (PTR of its IP, then A/AAAA of that name back to the same IP); the server asks the [dns] nameserver at connect. A domain covers its subdomains: partner.example allows mx1.partner.example.

                Example:
                  petrel relay allow-domain partner.example
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "Domain name.") var domain: String

        func run() async throws {
            let name = try parseClientDomain(domain)
            let added = try await withStore(data) { try await $0.addAccessEntry(name, to: .relayClientDomain) }
            print(added ? "relay allowed for clients in \(name)" : "\(name) was already allowed to relay")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List who may relay (configuration file and data directory).",
            discussion: "Example:\n  petrel relay list --config /etc/petrel/petrel.toml")
        @OptionGroup var data: DataOptions

        func run() async throws {
            let configuration = try data.loadConfiguration()
            let entries = try await withStore(data) { try await $0.accessEntries() }
            print("authenticated clients\t\(configuration.relay.allowAuthenticated ? "allowed" : "not allowed")\t(config)")
            for net in configuration.relay.allowNetworks { print("network\t\(net)\t(config)") }
            for domain in configuration.relay.allowClientDomains { print("domain\t\(domain)\t(config)") }
            for e in entries where e.list == .relayNetwork { print("network\t\(e.value)\t(added \(isoDate(e.addedAt)))") }
            for e in entries where e.list == .relayClientDomain { print("domain\t\(e.value)\t(added \(isoDate(e.addedAt)))") }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a network or domain added with allow-ip / allow-domain.",
            discussion: """
                Entries from the configuration file are changed there, not here.

                Examples:
                  petrel relay remove 192.0.2.0/24
                  petrel relay remove partner.example
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "The network or domain, as listed.") var entry: String

        func run() async throws {
            let (value, list): (String, AccessList)
            if case .success(let net) = AccessSyntax.network(entry) {
                (value, list) = ("\(net)", .relayNetwork)
            } else if IPAddress(String(entry.split(separator: "/").first ?? "")) != nil {
                _ = try parseNetwork(entry)   // a malformed network: say why
                return
            } else {
                (value, list) = (try parseClientDomain(entry), .relayClientDomain)
            }
            let removed = try await withStore(data) { try await $0.removeAccessEntry(value, from: list) }
            guard removed else {
                throw CLIError(message: "\(value) is not in the relay list (see 'petrel relay list')")
            }
            print("\(value) removed from the relay list")
        }
    }
}

func parseNetwork(_ text: String) throws -> IPNetwork {
    switch AccessSyntax.network(text) {
    case .success(let net): return net
    case .failure(let error): throw ValidationError(error.message)
    }
}

func parseClientDomain(_ text: String) throws -> String {
    switch AccessSyntax.clientDomain(text) {
    case .success(let name): return name
    case .failure(let error): throw ValidationError(error.message)
    }
}

func isoDate(_ date: Date) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: date)
}
