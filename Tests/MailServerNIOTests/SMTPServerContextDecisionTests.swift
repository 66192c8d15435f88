/// `SMTPServerContext.decide`: the SMTP adapter of MailPolicy's `RecipientRouting` (the golden tables of
/// the decision itself are in MailPolicyTests): each route becomes the session's `RecipientDecision`, the
/// live rules of `AccessControl` (relay domains added in the data directory) apply at the next refresh,
/// a failing directory is a temporary failure, and the sender-domain check sees both IDN spellings.
import Foundation
import Logging
import MailCore
import MailPolicy
import MailServerNIO
import MailStore
import NIOPosix
import SMTPCore
import Testing

@Suite struct SMTPServerContextDecisionTests {
    func context(_ store: InMemoryMailStore, rules: RelayRules = .closed) -> SMTPServerContext {
        let pool = NIOThreadPool(numberOfThreads: 1)
        let logger = Logger(label: "test")
        return SMTPServerContext(
            configuration: SMTPServerConfiguration(hostname: "mx.test"), store: store, relayRules: rules,
            spoolDirectory: NSTemporaryDirectory(),
            connections: ConnectionTracker(limits: .init(maxConnections: 1, maxConnectionsPerIP: 1)),
            authenticator: Authenticator(store: store, threadPool: pool, throttle: AuthThrottle(), logger: logger), logger: logger)
    }

    func directory() async throws -> (InMemoryMailStore, Int64) {
        let store = InMemoryMailStore()
        _ = try await store.addDomain("bücher.example")
        let box = try await store.addMailbox(EmailAddress(localPart: "anna", domain: "bücher.example"), passwordHash: nil, isAdmin: true)
        return (store, box.id)
    }

    func query(_ text: String) throws -> RecipientQuery { .address(try #require(EmailAddress(text))) }

    static let stranger = ClientInfo(ip: IPAddress("203.0.113.9"))

    @Test func routesBecomeSessionDecisions() async throws {
        let (store, id) = try await directory()
        var rules = RelayRules.closed
        rules.recipientDomains = [
            RelayDomain(name: "backup.test", coversSubdomains: false),
            RelayDomain(name: "listed.test", coversSubdomains: false)
        ]
        rules.validRecipients = ["alice@listed.test"]
        let c = context(store, rules: rules)
        #expect(await c.decide(try query("anna@xn--bcher-kva.example"), client: Self.stranger, isAuthenticated: false) == .localMailbox(id: id))
        #expect(await c.decide(try query("otto@bücher.example"), client: Self.stranger, isAuthenticated: false) == .unknownUser)
        #expect(await c.decide(.barePostmaster, client: Self.stranger, isAuthenticated: false) == .localMailbox(id: id))
        #expect(await c.decide(try query("x@elsewhere.test"), client: Self.stranger, isAuthenticated: false) == .relayDenied)
        #expect(await c.decide(try query("x@elsewhere.test"), client: Self.stranger, isAuthenticated: true) == .relay(domain: "elsewhere.test"))
        #expect(await c.decide(try query("x@Bücher.test"), client: Self.stranger, isAuthenticated: true) == .relay(domain: "xn--bcher-kva.test"))
        #expect(await c.decide(try query("x@xn--zz.test"), client: Self.stranger, isAuthenticated: true) == .relayDenied)
        #expect(await c.decide(try query("x@backup.test"), client: Self.stranger, isAuthenticated: false) == .relay(domain: "backup.test"))
        #expect(await c.decide(try query("x@sub.backup.test"), client: Self.stranger, isAuthenticated: false) == .relayDenied)
        #expect(await c.decide(try query("alice@listed.test"), client: Self.stranger, isAuthenticated: false) == .relay(domain: "listed.test"))
        #expect(await c.decide(try query("bob@listed.test"), client: Self.stranger, isAuthenticated: true) == .unknownRelayRecipient)
    }

    @Test func relayDomainsFromTheDataDirectoryApplyAfterRefresh() async throws {
        let (store, _) = try await directory()
        var c = context(store)
        let access = AccessControl(relay: .closed, store: store)
        c.access = access
        #expect(await c.decide(try query("x@backup.test"), client: Self.stranger, isAuthenticated: false) == .relayDenied)
        _ = try await store.addAccessEntry("backup.test", to: .relayRecipientDomain)
        _ = try await store.addAccessEntry("x@backup.test", to: .relayRecipient)
        await access.refresh()
        #expect(await c.decide(try query("X@Backup.Test"), client: Self.stranger, isAuthenticated: false) == .relay(domain: "backup.test"))
        #expect(await c.decide(try query("y@backup.test"), client: Self.stranger, isAuthenticated: false) == .unknownRelayRecipient)
        _ = try await store.removeAccessEntry("backup.test", from: .relayRecipientDomain)
        await access.refresh()
        #expect(await c.decide(try query("x@backup.test"), client: Self.stranger, isAuthenticated: false) == .relayDenied)
    }

    @Test func failingDirectoryIsATemporaryFailure() async throws {
        let (store, _) = try await directory()
        let c = context(store)
        try await store.close()
        #expect(await c.decide(try query("anna@bücher.example"), client: Self.stranger, isAuthenticated: false) == .temporaryFailure)
        #expect(await c.decide(.barePostmaster, client: Self.stranger, isAuthenticated: false) == .temporaryFailure)
    }

    @Test func senderDomainCheckSeesBothSpellings() async throws {
        let (store, _) = try await directory()
        let c = context(store)
        #expect(await c.checkSenderDomain("bücher.example") == .local)
        #expect(await c.checkSenderDomain("xn--bcher-kva.example") == .local)
        #expect(await c.checkSenderDomain("elsewhere.test") == .notLocal)
    }
}

/// The quota step of `SMTPServerContext.decide`: a local mailbox over its quota (or without room for the
/// declared SIZE) is `.mailboxFull`; relayed and unlimited recipients never look at a quota.
@Suite struct SMTPServerContextQuotaTests {
    @Test func aFullMailboxIsRefusedAtRCPT() async throws {
        let base = SMTPServerContextDecisionTests()
        let (store, id) = try await base.directory()
        let anna = try #require(EmailAddress("anna@bücher.example"))
        let c = base.context(store)
        let q = try base.query("anna@bücher.example")
        let client = SMTPServerContextDecisionTests.stranger
        #expect(await c.decide(q, client: client, isAuthenticated: false, declaredSize: 1 << 30) == .localMailbox(id: id))

        try await store.setQuota(MailboxQuota(storageLimit: 1000, messageLimit: nil), for: anna)
        #expect(await c.decide(q, client: client, isAuthenticated: false) == .localMailbox(id: id))
        #expect(await c.decide(q, client: client, isAuthenticated: false, declaredSize: 1000) == .localMailbox(id: id))
        #expect(await c.decide(q, client: client, isAuthenticated: false, declaredSize: 1001) == .mailboxFull)

        _ = try await store.deliver(
            IncomingMessage(
                queueID: "Q1", sender: .null, localRecipients: [id], receivedAt: Date(), traceHeaders: [],
                body: .bytes(Array(repeating: UInt8(ascii: "x"), count: 1000))))
        #expect(await c.decide(q, client: client, isAuthenticated: false) == .mailboxFull)
        #expect(await c.decide(.barePostmaster, client: client, isAuthenticated: false) == .mailboxFull)
        #expect(await c.decide(try base.query("x@elsewhere.test"), client: client, isAuthenticated: true) == .relay(domain: "elsewhere.test"))

        try await store.setQuota(MailboxQuota(storageLimit: nil, messageLimit: 2), for: anna)
        #expect(await c.decide(q, client: client, isAuthenticated: false, declaredSize: 1 << 30) == .localMailbox(id: id))
        try await store.setQuota(MailboxQuota(storageLimit: nil, messageLimit: 1), for: anna)
        #expect(await c.decide(q, client: client, isAuthenticated: false) == .mailboxFull)
    }
}
