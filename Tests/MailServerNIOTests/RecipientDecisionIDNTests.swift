/// The RCPT decision (SMTPServerContext.swift) for internationalised domains: a local domain added in
/// either spelling (`bücher.example` / `xn--bcher-kva.example`) accepts RCPT to both; an unknown IDN
/// domain is still refused for relay; a relay that is permitted routes to the A-label form; an invalid
/// IDN is never relayed.
import Foundation
import Logging
import MailCore
import MailServerNIO
import MailStore
import NIOPosix
import SMTPCore
import Testing

@Suite struct RecipientDecisionIDNTests {
    static let spellings = ["bücher.example", "xn--bcher-kva.example", "Bücher.EXAMPLE", "XN--BCHER-KVA.example"]

    func context(domain: String) async throws -> (SMTPServerContext, Int64) {
        let store = InMemoryMailStore()
        _ = try await store.addDomain(domain)
        let box = try await store.addMailbox(EmailAddress(localPart: "anna", domain: domain), passwordHash: nil, isAdmin: false)
        let pool = NIOThreadPool(numberOfThreads: 1)
        let logger = Logger(label: "test")
        let context = SMTPServerContext(
            configuration: SMTPServerConfiguration(hostname: "mx.test"), store: store, spoolDirectory: NSTemporaryDirectory(),
            connections: ConnectionTracker(limits: .init(maxConnections: 1, maxConnectionsPerIP: 1)),
            authenticator: Authenticator(store: store, threadPool: pool, throttle: AuthThrottle(), logger: logger), logger: logger)
        return (context, box.id)
    }

    func decide(_ context: SMTPServerContext, _ argument: String, authenticated: Bool = false) async throws -> RecipientDecision {
        guard case .success(.rcpt(let rcpt)) = SMTPCommandParser.parse(Array("RCPT TO:\(argument)".utf8)) else {
            Issue.record("RCPT TO:\(argument) did not parse")
            return .temporaryFailure
        }
        return await context.decide(rcpt.recipient, client: ClientInfo(ip: IPAddress("203.0.113.9")), isAuthenticated: authenticated)
    }

    @Test(arguments: spellings)
    func bothFormsAreLocalForADomainAddedEitherWay(added: String) async throws {
        let (context, id) = try await context(domain: added)
        for spelling in Self.spellings {
            #expect(try await decide(context, "<anna@\(spelling)>") == .localMailbox(id: id), "added \(added), RCPT \(spelling)")
            #expect(try await decide(context, "<ANNA@\(spelling)>") == .localMailbox(id: id))
            #expect(try await decide(context, "<bob@\(spelling)>") == .unknownUser)
            if case .localMailbox = try await decide(context, "<postmaster@\(spelling)>") {} else {
                Issue.record("postmaster@\(spelling) is not local")
            }
        }
        // The sender-domain check (MAIL FROM anti-spoofing) sees both spellings as local too.
        #expect(await context.checkSenderDomain("bücher.example") == .local)
        #expect(await context.checkSenderDomain("xn--bcher-kva.example") == .local)
    }

    @Test(arguments: ["<anna@bücher.test>", "<anna@xn--bcher-kva.test>", "<anna@xn--exmple-cua.test>",
                      "<anna@exämple.test>", "<anna@xn--zz.test>", "<anna@sub.bücher.example>"])
    func unknownIDNDomainIsRefusedForRelay(argument: String) async throws {
        let (context, _) = try await context(domain: "bücher.example")
        #expect(try await decide(context, argument) == .relayDenied)
    }

    @Test func permittedRelayRoutesToTheALabelAndNeverRelaysAnInvalidIDN() async throws {
        let (context, _) = try await context(domain: "example.test")
        #expect(try await decide(context, "<anna@Bücher.test>", authenticated: true) == .relay(domain: "xn--bcher-kva.test"))
        #expect(try await decide(context, "<anna@XN--BCHER-KVA.test>", authenticated: true) == .relay(domain: "xn--bcher-kva.test"))
        #expect(try await decide(context, "<anna@xn--zz.test>", authenticated: true) == .relayDenied)
    }
}
