import Foundation
import Logging
import MailCore
import MailPolicy
import MailServerNIO
import MailStore
import NIOPosix
import SMTPCore
import Testing

/// The golden RCPT table once more, for clients that MAY relay (Fixtures/rcpt-decisions-open.txt): an
/// authenticated client, a client in an allowed network, and a client whose verified host name is in an
/// allowed domain. Every sneaky address form must then relay to the parsed address's own domain only.
/// The closed-relay expectations (Fixtures/rcpt-decisions.txt) also run with rules that allow others
/// (a network and a domain the client is not in, AUTH allowed but not done): nothing may open up.
@Suite struct RecipientDecisionOpenRelayTableTests {
    struct Row: Sendable, CustomStringConvertible {
        let expected: String
        let argument: String
        var description: String { "\(expected) \(argument)" }
    }

    enum Mode: String, CaseIterable, Sendable {
        case authenticated, allowedNetwork, verifiedClientDomain
    }

    static func load(_ name: String) -> [Row] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let tab = line.firstIndex(of: "\t") else { return nil }
            return Row(expected: String(line[..<tab]), argument: String(line[line.index(after: tab)...]))
        }
    }

    static let openRows = load("rcpt-decisions-open.txt")
    static let closedRows = load("rcpt-decisions.txt")

    @Test func bothTablesListTheSameArguments() {
        #expect(Self.openRows.count >= 40)
        #expect(Self.openRows.map(\.argument) == Self.closedRows.map(\.argument))
        // Only relay-denied rows change; every one of them now names a domain.
        for (open, closed) in zip(Self.openRows, Self.closedRows) {
            if closed.expected == "relay-denied" {
                #expect(open.expected.hasPrefix("relay:"), "\(open.argument)")
            } else {
                #expect(open.expected == closed.expected, "\(open.argument)")
            }
        }
    }

    static let rules = RelayRules(allowAuthenticated: true, allowedNetworks: [IPNetwork("198.51.100.0/24")].compactMap { $0 },
                                  allowedClientDomains: ["partner.example"])

    static func decide(_ argument: String, client: ClientInfo, isAuthenticated: Bool) async throws -> String {
        let store = InMemoryMailStore()
        _ = try await store.addDomain("example.test")
        _ = try await store.addMailbox(EmailAddress(localPart: "alice", domain: "example.test"), passwordHash: nil, isAdmin: true)
        let pool = NIOThreadPool(numberOfThreads: 1)
        let logger = Logger(label: "test")
        let context = SMTPServerContext(
            configuration: SMTPServerConfiguration(hostname: "mx.test"), store: store, relayRules: rules,
            spoolDirectory: NSTemporaryDirectory(),
            connections: ConnectionTracker(limits: .init(maxConnections: 1, maxConnectionsPerIP: 1)),
            authenticator: Authenticator(store: store, threadPool: pool, throttle: AuthThrottle(), logger: logger), logger: logger)
        switch SMTPCommandParser.parse(Array("RCPT TO:\(argument)".utf8)) {
        case .failure:
            return "syntax"
        case .success(.rcpt(let rcpt)) where rcpt.parameters.isEmpty:
            switch await context.decide(rcpt.recipient, client: client, isAuthenticated: isAuthenticated) {
            case .localMailbox: return "local"
            case .unknownUser: return "unknown"
            case .relayDenied: return "relay-denied"
            case .relay(let domain): return "relay:\(domain)"
            case .temporaryFailure: return "temporary"
            }
        case .success(.rcpt):
            return "syntax"
        case .success(let other):
            return "parsed as \(other)"
        }
    }

    @Test(arguments: Mode.allCases, openRows)
    func openRelay(mode: Mode, row: Row) async throws {
        let client: ClientInfo
        var authenticated = false
        switch mode {
        case .authenticated:
            client = ClientInfo(ip: IPAddress("203.0.113.9"))
            authenticated = true
        case .allowedNetwork:
            client = ClientInfo(ip: IPAddress("198.51.100.20"))
        case .verifiedClientDomain:
            client = ClientInfo(ip: IPAddress("203.0.113.9"), verifiedHostName: "MX1.Partner.Example")
        }
        let got = try await Self.decide(row.argument, client: client, isAuthenticated: authenticated)
        #expect(got == row.expected, "\(mode) RCPT TO:\(row.argument)")
    }

    /// Rules that allow others never open relay for this client: outside the network, an unverified
    /// (or look-alike) host name, not authenticated.
    @Test(arguments: [ClientInfo(ip: IPAddress("203.0.113.9")),
                      ClientInfo(ip: IPAddress("203.0.113.9"), verifiedHostName: "partner.example.evil.test"),
                      ClientInfo(ip: IPAddress("203.0.113.9"), verifiedHostName: "notpartner.example"),
                      ClientInfo(ip: nil)], closedRows)
    func closedForOthers(client: ClientInfo, row: Row) async throws {
        let got = try await Self.decide(row.argument, client: client, isAuthenticated: false)
        #expect(got == row.expected, "\(client) RCPT TO:\(row.argument)")
    }

    @Test func authenticationDoesNotCountWhenDisallowed() async throws {
        var rules = Self.rules
        rules.allowAuthenticated = false
        let context = RelayContext(client: ClientInfo(ip: IPAddress("203.0.113.9")), isAuthenticated: true)
        #expect(RelayPolicy.permission(context, rules: rules) == nil)
    }
}
