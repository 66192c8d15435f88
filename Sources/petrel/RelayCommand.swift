/// `petrel relay …`: who may relay (send to non-local domains) besides authenticated clients — client
/// networks and forward-confirmed client host domains — and the relay (recipient) domains anyone may send
/// to (a backup MX), with their optional valid recipients; kept in the data directory. A running server
/// picks changes up within about 2 seconds. The `[relay]` section of the configuration adds more.
import ArgumentParser
import Foundation
import PetrelServer

struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Manage who may relay mail to other domains (closed by default; AUTH users always may).",
        discussion: """
            Relay = accepting mail for a domain that is not local, to send it on. Petrel relays only for clients that authenticated (unless [relay] allow_authenticated = false), clients whose IP is in an allowed network, and clients whose host name (verified by forward-confirmed reverse DNS) is in an allowed domain. The sender address never matters.

            Relay domains are the other way round: foreign domains ANY client may send to (this server is their backup MX or gateway); the mail is queued and forwarded by route or MX. They open no other domain. Optionally list the valid recipients of a relay domain, so mail for others is refused at RCPT instead of bounced later (backscatter). See docs/RELAY.md.

            Examples:
              petrel relay allow-ip 192.0.2.0/24
              petrel relay allow-ip 2001:db8::/48
              petrel relay allow-domain partner.example
              petrel relay allow-recipient-domain backup.example
              petrel relay allow-recipient alice@backup.example
              petrel relay list
              petrel relay remove 192.0.2.0/24
            """,
        subcommands: [AllowIP.self, AllowDomain.self, AllowRecipientDomain.self, AllowRecipient.self, List.self, Remove.self])

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
            let added = try await withAdmin(data) { try await $0.addAccessEntry("\(net)", to: .relayNetwork) }
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
            let added = try await withAdmin(data) { try await $0.addAccessEntry(name, to: .relayClientDomain) }
            print(added ? "relay allowed for clients in \(name)" : "\(name) was already allowed to relay")
        }
    }

    struct AllowRecipientDomain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "allow-recipient-domain",
            abstract: "Accept mail for a foreign domain from anyone and forward it (backup MX).",
            discussion: """
                DOMAIN is that domain only; .DOMAIN (or *.DOMAIN) covers its subdomains only — add both to cover both. Mail for it is queued and forwarded by a [delivery] route (recommended for a backup MX) or by MX, where this server drops itself and every MX host of equal or lower preference (RFC 5321 §5.1). A local domain stays local. Without valid recipients (allow-recipient) every local part is accepted: see the backscatter note in docs/RELAY.md.

                Examples:
                  petrel relay allow-recipient-domain backup.example
                  petrel relay allow-recipient-domain .backup.example
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "Domain name, or .domain for its subdomains.") var domain: String

        func run() async throws {
            let relayDomain = try parseRecipientDomain(domain)
            let (added, local) = try await withAdmin(data) { admin in
                (
                    try await admin.addAccessEntry("\(relayDomain)", to: .relayRecipientDomain),
                    try await admin.isLocalDomain(relayDomain.name)
                )
            }
            print(added ? "relay domain \(relayDomain) added: anyone may now send to it" : "\(relayDomain) was already a relay domain")
            if local && !relayDomain.coversSubdomains {
                print("note: \(relayDomain.name) is also a local domain; local delivery wins")
            }
        }
    }

    struct AllowRecipient: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "allow-recipient",
            abstract: "Add a valid recipient of a relay domain (then only listed addresses of that domain are accepted).",
            discussion: """
                Once a relay domain has one valid recipient, RCPT to any other address of that domain gets 550 5.1.1, from every client. An address outside every relay domain has no effect.

                Example:
                  petrel relay allow-recipient alice@backup.example
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "E-mail address in a relay domain.") var address: String

        func run() async throws {
            let key = try parseRecipientAddress(address)
            let added = try await withAdmin(data) { try await $0.addAccessEntry(key, to: .relayRecipient) }
            print(added ? "\(key) is now a valid relay recipient" : "\(key) was already a valid relay recipient")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List who may relay (configuration file and data directory).",
            discussion: "Example:\n  petrel relay list --config /etc/petrel/petrel.toml")
        @OptionGroup var data: DataOptions

        func run() async throws {
            let configuration = try data.loadConfiguration()
            let entries = try await withAdmin(data) { try await $0.accessEntries() }
            print("authenticated clients\t\(configuration.relay.allowAuthenticated ? "allowed" : "not allowed")\t(config)")
            for net in configuration.relay.allowNetworks { print("network\t\(net)\t(config)") }
            for domain in configuration.relay.allowClientDomains { print("domain\t\(domain)\t(config)") }
            for e in entries where e.list == .relayNetwork { print("network\t\(e.value)\t(added \(isoDate(e.addedAt)))") }
            for e in entries where e.list == .relayClientDomain { print("domain\t\(e.value)\t(added \(isoDate(e.addedAt)))") }
            for domain in configuration.relay.allowRecipientDomains { print("relay-domain\t\(domain)\t(config)") }
            for e in entries where e.list == .relayRecipientDomain { print("relay-domain\t\(e.value)\t(added \(isoDate(e.addedAt)))") }
            for address in configuration.relay.allowRecipients { print("recipient\t\(address)\t(config)") }
            for e in entries where e.list == .relayRecipient { print("recipient\t\(e.value)\t(added \(isoDate(e.addedAt)))") }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove an entry added with allow-ip / allow-domain / allow-recipient-domain / allow-recipient.",
            discussion: """
                A network, an address (a valid relay recipient) or a domain. A domain is removed from the client domains (allow-domain) and the relay domains (allow-recipient-domain) — from whichever holds it; when both do, say which with --client-domain or --recipient-domain. Entries from the configuration file are changed there, not here.

                Examples:
                  petrel relay remove 192.0.2.0/24
                  petrel relay remove partner.example
                  petrel relay remove .backup.example
                  petrel relay remove alice@backup.example
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "The network, domain or address, as listed.") var entry: String
        @Flag(help: "Remove the domain from the client domains (allow-domain) only.") var clientDomain = false
        @Flag(help: "Remove the domain from the relay domains (allow-recipient-domain) only.") var recipientDomain = false

        func run() async throws {
            var candidates: [(String, AccessList)] = []
            if case .success(let net) = PetrelAdmin.network(entry) {
                candidates = [("\(net)", .relayNetwork)]
            } else if IPAddress(String(entry.split(separator: "/").first ?? "")) != nil {
                _ = try parseNetwork(entry) // a malformed network: say why
                return
            } else if entry.contains("@") {
                candidates = [(try parseRecipientAddress(entry), .relayRecipient)]
            } else {
                let relayDomain = try parseRecipientDomain(entry)
                if !recipientDomain { candidates.append((try parseClientDomain(entry), .relayClientDomain)) }
                if !clientDomain { candidates.append(("\(relayDomain)", .relayRecipientDomain)) }
            }
            let removed = try await withAdmin(data) { admin -> [(String, AccessList)] in
                let lists = Set(
                    try await admin.accessEntries().filter { e in candidates.contains { $0 == (e.value, e.list) } }
                        .map(\.list))
                if lists.count > 1 {
                    throw CLIError(
                        message: "\(entry) is both a client domain and a relay domain; say which with --client-domain or --recipient-domain")
                }
                var done: [(String, AccessList)] = []
                for (value, list) in candidates where try await admin.removeAccessEntry(value, from: list) { done.append((value, list)) }
                return done
            }
            guard let (value, list) = removed.first else {
                throw CLIError(message: "\(entry) is not in the relay lists (see 'petrel relay list')")
            }
            switch list {
            case .relayRecipientDomain: print("\(value) removed from the relay domains")
            case .relayRecipient: print("\(value) removed from the valid relay recipients")
            default: print("\(value) removed from the relay list")
            }
        }
    }
}

func parseNetwork(_ text: String) throws -> IPNetwork {
    switch PetrelAdmin.network(text) {
    case .success(let net): return net
    case .failure(let error): throw ValidationError(error.message)
    }
}

func parseClientDomain(_ text: String) throws -> String {
    switch PetrelAdmin.clientDomain(text) {
    case .success(let name): return name
    case .failure(let error): throw ValidationError(error.message)
    }
}

func parseRecipientDomain(_ text: String) throws -> RelayDomain {
    switch PetrelAdmin.recipientDomain(text) {
    case .success(let domain): return domain
    case .failure(let error): throw ValidationError(error.message)
    }
}

func parseRecipientAddress(_ text: String) throws -> String {
    switch PetrelAdmin.recipientAddress(text) {
    case .success(let key): return key
    case .failure(let error): throw ValidationError(error.message)
    }
}

func isoDate(_ date: Date) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: date)
}
