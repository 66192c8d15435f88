import Foundation
import Logging
import MailCore
import MailServerNIO
import MailStore
import NIOPosix
import SMTPCore
import Testing

/// Runs every row of Fixtures/rcpt-decisions.txt through the real parser and the real decision
/// (store lookup + relay rules): no address form may turn into a non-local delivery without permission.
@Suite struct RecipientDecisionTableTests {
    struct Row: Sendable, CustomStringConvertible {
        let expected: String
        let argument: String
        var description: String { "\(expected) \(argument)" }
    }

    static let rows: [Row] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/rcpt-decisions.txt")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let tab = line.firstIndex(of: "\t") else { return nil }
            return Row(expected: String(line[..<tab]), argument: String(line[line.index(after: tab)...]))
        }
    }()

    @Test func tableIsLoaded() {
        #expect(Self.rows.count >= 40)
    }

    @Test(arguments: rows)
    func decision(row: Row) async throws {
        let store = InMemoryMailStore()
        _ = try await store.addDomain("example.test")
        _ = try await store.addMailbox(EmailAddress(localPart: "alice", domain: "example.test"), passwordHash: nil, isAdmin: true)
        let pool = NIOThreadPool(numberOfThreads: 1)
        let logger = Logger(label: "test")
        let context = SMTPServerContext(
            configuration: SMTPServerConfiguration(hostname: "mx.test"), store: store, spoolDirectory: NSTemporaryDirectory(),
            connections: ConnectionTracker(limits: .init(maxConnections: 1, maxConnectionsPerIP: 1)),
            authenticator: Authenticator(store: store, threadPool: pool, throttle: AuthThrottle(), logger: logger), logger: logger)

        let got: String
        switch SMTPCommandParser.parse(Array("RCPT TO:\(row.argument)".utf8)) {
        case .failure:
            got = "syntax"
        case .success(.rcpt(let rcpt)) where rcpt.parameters.isEmpty:
            switch await context.decide(rcpt.recipient, client: ClientInfo(ip: IPAddress("203.0.113.9")), isAuthenticated: false) {
            case .localMailbox: got = "local"
            case .unknownUser: got = "unknown"
            case .relayDenied: got = "relay-denied"
            case .relay(let domain): got = "relay:\(domain)"
            case .temporaryFailure: got = "temporary"
            }
        case .success(.rcpt):
            got = "syntax"   // parameters are refused by the session (555) before any lookup
        case .success(let other):
            got = "parsed as \(other)"
        }
        #expect(got == row.expected, "RCPT TO:\(row.argument)")
    }
}
