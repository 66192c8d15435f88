/// `RecipientRouting.decide` as a pure function of (address, directory answer, origin, rules), relay-domain
/// matching and valid-recipient lists, and the decision for internationalised domains through the real
/// directory (a local domain added in either spelling accepts both; a relay routes to the A-label).
import MailCore
import MailPolicy
import MailStore
import Testing

@Suite struct RecipientRoutingTests {
    static let stranger = RecipientOrigin.smtp(RelayContext(client: ClientInfo(ip: IPAddress("203.0.113.9"))))
    static let authenticated = RecipientOrigin.smtp(RelayContext(client: ClientInfo(ip: IPAddress("203.0.113.9")), isAuthenticated: true))

    func address(_ text: String) throws -> EmailAddress { try #require(EmailAddress(text)) }

    @Test func directoryAnswersComeFirst() throws {
        let a = try address("anna@backup.test")
        var rules = RelayRules.closed
        rules.recipientDomains = [RelayDomain(name: "backup.test", coversSubdomains: false)]
        // A domain that is local AND a relay domain: local wins.
        #expect(
            RecipientRouting.decide(a, directory: .mailbox(id: 7, address: "anna@backup.test"), origin: Self.stranger, rules: rules)
                == .local(mailboxID: 7))
        #expect(RecipientRouting.decide(a, directory: .unknownUser, origin: Self.stranger, rules: rules) == .refuse(.unknownUser))
        #expect(
            RecipientRouting.decide(a, directory: .notLocal, origin: Self.stranger, rules: rules)
                == .relay(domain: "backup.test", reason: .relayDomain(RelayDomain(name: "backup.test", coversSubdomains: false))))
    }

    @Test func foreignDomainNeedsAPermissionOrLocalOrigin() throws {
        let a = try address("Victim@Elsewhere.Test")
        #expect(RecipientRouting.decide(a, directory: .notLocal, origin: Self.stranger, rules: .closed) == .refuse(.relayDenied))
        #expect(
            RecipientRouting.decide(a, directory: .notLocal, origin: Self.authenticated, rules: .closed)
                == .relay(domain: "elsewhere.test", reason: .client(.authenticated)))
        #expect(
            RecipientRouting.decide(a, directory: .notLocal, origin: .local, rules: .closed)
                == .relay(domain: "elsewhere.test", reason: .localOrigin))
        #expect(
            RecipientRouting.decide(a, directory: .notLocal, origin: .local, rules: RelayRules(allowAuthenticated: false))
                == .relay(domain: "elsewhere.test", reason: .localOrigin))
    }

    /// Issue 13 item 11: a report to a sender at a Unicode domain is relayed to the A-label, never the U-label.
    @Test func relayGoesToTheALabel() throws {
        for text in ["x@bücher.example", "x@BÜCHER.example", "x@xn--bcher-kva.example", "x@bu\u{0308}cher.example"] {
            #expect(
                RecipientRouting.decide(try address(text), directory: .notLocal, origin: .local, rules: .closed)
                    == .relay(domain: "xn--bcher-kva.example", reason: .localOrigin), "\(text)")
        }
        #expect(
            RecipientRouting.decide(try address("x@[192.0.2.1]"), directory: .notLocal, origin: .local, rules: .closed)
                == .relay(domain: "[192.0.2.1]", reason: .localOrigin))
    }

    @Test func invalidIDNIsRefusedForEveryOrigin() throws {
        let a = try address("x@xn--zz.example")
        for origin in [Self.stranger, Self.authenticated, RecipientOrigin.local] {
            guard
                case .refuse(.invalidDomain(.invalidALabel("xn--zz"))) = RecipientRouting.decide(
                    a, directory: .notLocal, origin: origin,
                    rules: .closed)
            else {
                Issue.record("\(origin) routed an invalid IDN")
                continue
            }
        }
    }

    @Test(arguments: [
        ("backup.test", false, "backup.test", true), ("backup.test", false, "sub.backup.test", false),
        ("backup.test", false, "xbackup.test", false), ("backup.test", false, "backup.test.evil", false),
        ("backup.test", true, "backup.test", false), ("backup.test", true, "sub.backup.test", true),
        ("backup.test", true, "a.b.backup.test", true), ("backup.test", true, "xbackup.test", false)
    ])
    func relayDomainMatching(name: String, subdomains: Bool, domain: String, expected: Bool) {
        #expect(RelayDomain(name: name, coversSubdomains: subdomains).matches(domain) == expected)
    }

    @Test func exactEntryIsPreferredForTheLog() {
        let rules = RelayRules(recipientDomains: [
            RelayDomain(name: "test", coversSubdomains: true),
            RelayDomain(name: "backup.test", coversSubdomains: false)
        ])
        #expect(rules.relayDomain(for: "backup.test") == RelayDomain(name: "backup.test", coversSubdomains: false))
        #expect(rules.relayDomain(for: "other.test") == RelayDomain(name: "test", coversSubdomains: true))
        #expect(rules.relayDomain(for: "test") == nil)
    }

    @Test func validRecipientListsApplyPerDomainAndToEveryone() throws {
        var rules = RelayRules(recipientDomains: [
            RelayDomain(name: "listed.test", coversSubdomains: false),
            RelayDomain(name: "open.test", coversSubdomains: false),
            RelayDomain(name: "xn--bcher-kva.example", coversSubdomains: false)
        ])
        rules.validRecipients = ["alice@listed.test", "anna@xn--bcher-kva.example", "nobody@elsewhere.test"]
        #expect(rules.acceptsRelayRecipient(try address("ALICE@listed.test")))
        #expect(!rules.acceptsRelayRecipient(try address("bob@listed.test")))
        #expect(rules.acceptsRelayRecipient(try address("bob@open.test")), "a relay domain without a list takes any local part")
        #expect(rules.acceptsRelayRecipient(try address("Anna@Bücher.example")))
        #expect(!rules.acceptsRelayRecipient(try address("otto@bücher.example")))
        for origin in [Self.stranger, Self.authenticated, RecipientOrigin.local] {
            #expect(
                RecipientRouting.decide(try address("bob@listed.test"), directory: .notLocal, origin: origin, rules: rules)
                    == .refuse(.unknownRelayRecipient))
        }
        // A listed address outside every relay domain opens nothing.
        #expect(
            RecipientRouting.decide(try address("nobody@elsewhere.test"), directory: .notLocal, origin: Self.stranger, rules: rules)
                == .refuse(.relayDenied))
        // Emptying the list opens the whole domain again (the rules are values: the live refresh replaces them).
        rules.validRecipients = []
        #expect(rules.acceptsRelayRecipient(try address("bob@listed.test")))
    }

    // MARK: - Internationalised domains through the real directory

    static let spellings = ["bücher.example", "xn--bcher-kva.example", "Bücher.EXAMPLE", "XN--BCHER-KVA.example"]

    func directory(domain: String) async throws -> (InMemoryMailStore, Int64) {
        let store = InMemoryMailStore()
        _ = try await store.addDomain(domain)
        let box = try await store.addMailbox(EmailAddress(localPart: "anna", domain: domain), passwordHash: nil, isAdmin: false)
        return (store, box.id)
    }

    func route(_ store: InMemoryMailStore, _ text: String, origin: RecipientOrigin = stranger) async throws -> RecipientRoute {
        try await RecipientRouting.route(try address(text), origin: origin, rules: .closed, directory: store)
    }

    @Test(arguments: spellings)
    func bothFormsAreLocalForADomainAddedEitherWay(added: String) async throws {
        let (store, id) = try await directory(domain: added)
        for spelling in Self.spellings {
            #expect(try await route(store, "anna@\(spelling)") == .local(mailboxID: id), "added \(added), RCPT \(spelling)")
            #expect(try await route(store, "ANNA@\(spelling)") == .local(mailboxID: id))
            #expect(try await route(store, "bob@\(spelling)") == .refuse(.unknownUser))
            if case .local = try await route(store, "postmaster@\(spelling)") {
            } else {
                Issue.record("postmaster@\(spelling) is not local")
            }
        }
    }

    @Test(arguments: [
        "anna@bücher.test", "anna@xn--bcher-kva.test", "anna@xn--exmple-cua.test", "anna@exämple.test",
        "anna@sub.bücher.example"
    ])
    func unknownIDNDomainIsRefusedForRelay(text: String) async throws {
        let (store, _) = try await directory(domain: "bücher.example")
        #expect(try await route(store, text) == .refuse(.relayDenied))
    }

    @Test func permittedRelayRoutesToTheALabelAndNeverRelaysAnInvalidIDN() async throws {
        let (store, _) = try await directory(domain: "example.test")
        #expect(
            try await route(store, "anna@Bücher.test", origin: Self.authenticated)
                == .relay(domain: "xn--bcher-kva.test", reason: .client(.authenticated)))
        #expect(
            try await route(store, "anna@XN--BCHER-KVA.test", origin: Self.authenticated)
                == .relay(domain: "xn--bcher-kva.test", reason: .client(.authenticated)))
        if case .refuse(.invalidDomain) = try await route(store, "anna@xn--zz.test", origin: Self.authenticated) {
        } else {
            Issue.record("an invalid IDN was not refused")
        }
    }

    @Test func barePostmaster() async throws {
        let (store, _) = try await directory(domain: "example.test")
        guard case .local = try await RecipientRouting.routeBarePostmaster(directory: store) else {
            Issue.record("bare postmaster is not local")
            return
        }
        #expect(try await RecipientRouting.routeBarePostmaster(directory: InMemoryMailStore()) == .refuse(.relayDenied))
    }
}
