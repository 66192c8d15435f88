/// The golden RCPT tables (in the spirit of Postfix's smtpd_check .in/.ref files) run through the real
/// parser (`SMTPCommandParser`), the real directory (`InMemoryMailStore`, the backend every store must
/// match) and THE recipient decision (`RecipientRouting.route`):
/// - Fixtures/rcpt-decisions.txt: relay closed — no address form may turn into a relay;
/// - Fixtures/rcpt-decisions-open.txt: the client may relay (AUTH, network, verified host name) — every
///   sneaky form relays to the parsed address's own routing domain only;
/// - Fixtures/rcpt-decisions-relay-domains.txt: relay (recipient) domains configured — open to anyone,
///   and they open no other domain (sub-domains, look-alikes, source routes, quoted local parts).
import Foundation
import MailCore
import MailPolicy
import MailStore
import SMTPCore
import Testing

@Suite struct RecipientRoutingTableTests {
    struct Row: Sendable, CustomStringConvertible {
        /// Expected for a client that may not relay, and (relay-domain table only) for one that may.
        let expected: String
        let expectedOpen: String
        let argument: String
        var description: String { "\(expected) \(argument)" }
    }

    static func load(_ name: String, columns: Int) -> [Row] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#") else { return nil }
            let fields = line.split(separator: "\t", maxSplits: columns - 1, omittingEmptySubsequences: false).map(String.init)
            guard fields.count == columns else { return nil }
            return columns == 2
                ? Row(expected: fields[0], expectedOpen: fields[0], argument: fields[1])
                : Row(expected: fields[0], expectedOpen: fields[1], argument: fields[2])
        }
    }

    static let closedRows = load("rcpt-decisions.txt", columns: 2)
    static let openRows = load("rcpt-decisions-open.txt", columns: 2)
    static let relayDomainRows = load("rcpt-decisions-relay-domains.txt", columns: 3)

    /// Rules that let some clients relay: AUTH, 198.51.100.0/24, verified host names in partner.example.
    static let permissive = RelayRules(
        allowAuthenticated: true, allowedNetworks: [IPNetwork("198.51.100.0/24")].compactMap { $0 },
        allowedClientDomains: ["partner.example"])

    /// `permissive` plus the relay domains of the relay-domain table.
    static let withRelayDomains: RelayRules = {
        var rules = permissive
        rules.recipientDomains = [
            RelayDomain(name: "backup.test", coversSubdomains: false),
            RelayDomain(name: "hosted.test", coversSubdomains: true),
            RelayDomain(name: "listed.test", coversSubdomains: false),
            RelayDomain(name: "xn--bcher-kva.example", coversSubdomains: false)
        ]
        rules.validRecipients = ["alice@listed.test", "bob@listed.test"]
        return rules
    }()

    enum Mode: String, CaseIterable, Sendable {
        case authenticated, allowedNetwork, verifiedClientDomain, localOrigin
    }

    static func origin(_ mode: Mode) -> RecipientOrigin {
        switch mode {
        case .authenticated:
            return .smtp(RelayContext(client: ClientInfo(ip: IPAddress("203.0.113.9")), isAuthenticated: true))
        case .allowedNetwork:
            return .smtp(RelayContext(client: ClientInfo(ip: IPAddress("198.51.100.20"))))
        case .verifiedClientDomain:
            return .smtp(RelayContext(client: ClientInfo(ip: IPAddress("203.0.113.9"), verifiedHostName: "MX1.Partner.Example")))
        case .localOrigin:
            return .local
        }
    }

    /// Clients the permissive rules do not cover: outside the network, an unverified or look-alike host
    /// name, not authenticated, no IP at all.
    static let outsiders: [ClientInfo] = [
        ClientInfo(ip: IPAddress("203.0.113.9")),
        ClientInfo(ip: IPAddress("203.0.113.9"), verifiedHostName: "partner.example.evil.test"),
        ClientInfo(ip: IPAddress("203.0.113.9"), verifiedHostName: "notpartner.example"),
        ClientInfo(ip: nil)
    ]

    static func directory() async throws -> InMemoryMailStore {
        let store = InMemoryMailStore()
        _ = try await store.addDomain("example.test")
        _ = try await store.addMailbox(EmailAddress(localPart: "alice", domain: "example.test"), passwordHash: nil, isAdmin: true)
        return store
    }

    /// The decision for one RCPT argument, as a table word.
    static func decide(_ argument: String, origin: RecipientOrigin, rules: RelayRules) async throws -> String {
        let store = try await directory()
        let route: RecipientRoute
        switch SMTPCommandParser.parse(Array("RCPT TO:\(argument)".utf8)) {
        case .failure:
            return "syntax"
        case .success(.rcpt(let rcpt)) where rcpt.parameters.isEmpty:
            switch rcpt.recipient {
            case .address(let address): route = try await RecipientRouting.route(address, origin: origin, rules: rules, directory: store)
            case .barePostmaster: route = try await RecipientRouting.routeBarePostmaster(directory: store)
            }
        case .success(.rcpt):
            return "syntax" // parameters are refused by the session (555) before any lookup
        case .success(let other):
            return "parsed as \(other)"
        }
        switch route {
        case .local: return "local"
        case .relay(let domain, _): return "relay:\(domain)"
        case .refuse(.unknownUser): return "unknown"
        case .refuse(.unknownRelayRecipient): return "unknown-relay"
        case .refuse(.relayDenied): return "relay-denied"
        case .refuse(.invalidDomain): return "invalid-domain"
        }
    }

    @Test func tablesAreLoadedAndAligned() {
        #expect(Self.closedRows.count >= 40)
        #expect(Self.relayDomainRows.count >= 40)
        #expect(Self.openRows.map(\.argument) == Self.closedRows.map(\.argument))
        // Only relay-denied rows change when the client may relay; every one of them then names a domain.
        for (open, closed) in zip(Self.openRows, Self.closedRows) {
            if closed.expected == "relay-denied" {
                #expect(open.expected.hasPrefix("relay:"), "\(open.argument)")
            } else {
                #expect(open.expected == closed.expected, "\(open.argument)")
            }
        }
        for row in Self.relayDomainRows where row.expected != row.expectedOpen {
            #expect(row.expected == "relay-denied" && row.expectedOpen.hasPrefix("relay:"), "\(row.argument)")
        }
    }

    @Test(arguments: closedRows)
    func closedRelay(row: Row) async throws {
        let origin = RecipientOrigin.smtp(RelayContext(client: ClientInfo(ip: IPAddress("203.0.113.9"))))
        #expect(try await Self.decide(row.argument, origin: origin, rules: .closed) == row.expected, "RCPT TO:\(row.argument)")
    }

    /// Rules that allow others — and relay domains that are not the recipient's — never open relay for this client.
    @Test(arguments: outsiders, closedRows)
    func closedForOthers(client: ClientInfo, row: Row) async throws {
        let origin = RecipientOrigin.smtp(RelayContext(client: client))
        #expect(try await Self.decide(row.argument, origin: origin, rules: Self.permissive) == row.expected, "\(client) \(row.argument)")
        #expect(try await Self.decide(row.argument, origin: origin, rules: Self.withRelayDomains) == row.expected, "\(client) \(row.argument)")
    }

    @Test(arguments: Mode.allCases, openRows)
    func openRelay(mode: Mode, row: Row) async throws {
        #expect(
            try await Self.decide(row.argument, origin: Self.origin(mode), rules: Self.permissive) == row.expected,
            "\(mode) RCPT TO:\(row.argument)")
    }

    @Test(arguments: outsiders, relayDomainRows)
    func relayDomainsForAnyone(client: ClientInfo, row: Row) async throws {
        let origin = RecipientOrigin.smtp(RelayContext(client: client))
        #expect(
            try await Self.decide(row.argument, origin: origin, rules: Self.withRelayDomains) == row.expected,
            "\(client) RCPT TO:\(row.argument)")
    }

    @Test(arguments: Mode.allCases, relayDomainRows)
    func relayDomainsForClientsThatMayRelay(mode: Mode, row: Row) async throws {
        #expect(
            try await Self.decide(row.argument, origin: Self.origin(mode), rules: Self.withRelayDomains) == row.expectedOpen,
            "\(mode) RCPT TO:\(row.argument)")
    }

    @Test func authenticationDoesNotCountWhenDisallowed() async throws {
        var rules = Self.permissive
        rules.allowAuthenticated = false
        let context = RelayContext(client: ClientInfo(ip: IPAddress("203.0.113.9")), isAuthenticated: true)
        #expect(RelayPolicy.permission(context, rules: rules) == nil)
        #expect(try await Self.decide("<victim@elsewhere.test>", origin: .smtp(context), rules: rules) == "relay-denied")
        // A relay domain does not need the permission.
        var backup = rules
        backup.recipientDomains = [RelayDomain(name: "elsewhere.test", coversSubdomains: false)]
        #expect(try await Self.decide("<victim@elsewhere.test>", origin: .smtp(context), rules: backup) == "relay:elsewhere.test")
    }
}
