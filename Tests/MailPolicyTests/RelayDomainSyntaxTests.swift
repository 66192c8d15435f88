/// The relay-domain and valid-recipient syntax (`AccessSyntax`), and `AccessLists.merge` with those lists.
import Foundation
import MailCore
import MailPolicy
import MailStore
import Testing

@Suite struct RelayDomainSyntaxTests {
    @Test(arguments: [
        ("backup.example", "backup.example", false), (" Backup.Example ", "backup.example", false),
        (".backup.example", "backup.example", true), ("*.backup.example", "backup.example", true),
        ("bücher.example", "xn--bcher-kva.example", false), (".XN--BCHER-KVA.example", "xn--bcher-kva.example", true)
    ])
    func recipientDomains(text: String, name: String, subdomains: Bool) throws {
        let domain = try AccessSyntax.recipientDomain(text).get()
        #expect(domain == RelayDomain(name: name, coversSubdomains: subdomains))
        // The text form reads back to the same entry (how it is stored in the data directory).
        #expect(try AccessSyntax.recipientDomain(domain.description).get() == domain)
    }

    @Test(arguments: [
        "", ".", "*.", "..backup.example", "bad..example", "[192.0.2.1]", "xn--zz.example", "a b.example",
        "backup.example.", "-x.example", "*.*.example"
    ])
    func badRecipientDomains(text: String) {
        guard case .failure(let error) = AccessSyntax.recipientDomain(text) else {
            Issue.record("accepted \(text)")
            return
        }
        #expect(!error.message.isEmpty)
    }

    @Test func recipientAddresses() throws {
        #expect(try AccessSyntax.recipientAddress("Alice@Backup.Example").get() == "alice@backup.example")
        #expect(try AccessSyntax.recipientAddress("anna@Bücher.example").get() == "anna@xn--bcher-kva.example")
        for bad in ["", "alice", "<alice@backup.example>", "alice@[192.0.2.1]", "alice@xn--zz.example", "a@b@c.example"] {
            if case .success = AccessSyntax.recipientAddress(bad) { Issue.record("accepted \(bad)") }
        }
    }

    @Test func mergeAddsRelayDomainsAndRecipientsAndSkipsBadEntries() {
        var reported: [String] = []
        let configured = RelayRules(recipientDomains: [RelayDomain(name: "backup.example", coversSubdomains: false)])
        let entries = [
            AccessEntry(list: .relayRecipientDomain, value: "backup.example", addedAt: Date()), // duplicate
            AccessEntry(list: .relayRecipientDomain, value: ".hosted.example", addedAt: Date()),
            AccessEntry(list: .relayRecipientDomain, value: "bad..example", addedAt: Date()),
            AccessEntry(list: .relayRecipient, value: "alice@backup.example", addedAt: Date()),
            AccessEntry(list: .relayRecipient, value: "nobody", addedAt: Date())
        ]
        let (relay, connections) = AccessLists.merge(relay: configured, connections: .open, entries: entries) { e, _ in
            reported.append(e.value)
        }
        #expect(reported == ["bad..example", "nobody"])
        #expect(
            relay.recipientDomains == [
                RelayDomain(name: "backup.example", coversSubdomains: false),
                RelayDomain(name: "hosted.example", coversSubdomains: true)
            ])
        #expect(relay.validRecipients == ["alice@backup.example"])
        #expect(connections == .open)
        // Nothing else opened: client permissions are untouched.
        #expect(relay.allowedNetworks.isEmpty && relay.allowedClientDomains.isEmpty)
    }
}
