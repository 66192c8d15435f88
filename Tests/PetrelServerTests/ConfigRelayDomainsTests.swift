// Tests for the configuration keys of relay (recipient) domains (`[relay] allow_recipient_domains`,
// `allow_recipients`) and route keys as routing domains, and for their way into the policy values
// (MailServer+Access.swift).
import Foundation
import Logging
import MailCore
import MailPolicy
import Testing

@testable import PetrelConfig
@testable import PetrelServer

@Suite struct ConfigRelayDomainsTests {
    static let base = PetrelConfiguration.developmentDefaults(hostname: "base.test")

    static func parse(_ text: String) -> Result<PetrelConfiguration, ConfigErrors> {
        PetrelConfiguration.parse(text, base: base)
    }

    @Test func defaultsHaveNoRelayDomain() {
        let c = Self.base
        #expect(c.relay.allowRecipientDomains.isEmpty && c.relay.allowRecipients.isEmpty)
    }

    @Test func keysAreAppliedAndNormalised() throws {
        let c = try Self.parse(
            """
            [relay]
            allow_recipient_domains = ["Backup.Example", ".backup.example", "*.Hosted.Example", "Bücher.example", "backup.example"]
            allow_recipients = ["Alice@Backup.Example", "anna@bücher.example"]
            """
        ).get()
        #expect(c.relay.allowRecipientDomains == ["backup.example", ".backup.example", ".hosted.example", "xn--bcher-kva.example"])
        #expect(c.relay.allowRecipients == ["alice@backup.example", "anna@xn--bcher-kva.example"])

        // Into the policy values the server runs with.
        let (relay, _) = MailServer.configuredAccess(c, logger: Logger(label: "test"))
        #expect(
            relay.recipientDomains == [
                RelayDomain(name: "backup.example", coversSubdomains: false),
                RelayDomain(name: "backup.example", coversSubdomains: true),
                RelayDomain(name: "hosted.example", coversSubdomains: true),
                RelayDomain(name: "xn--bcher-kva.example", coversSubdomains: false)
            ])
        #expect(relay.validRecipients == ["alice@backup.example", "anna@xn--bcher-kva.example"])
    }

    @Test(arguments: [
        ("[relay]\nallow_recipient_domains = [\"bad..example\"]", "relay.allow_recipient_domains", "not a domain name"),
        ("[relay]\nallow_recipient_domains = [\"xn--zz.example\"]", "relay.allow_recipient_domains", "not a domain name"),
        ("[relay]\nallow_recipient_domains = [\"[192.0.2.1]\"]", "relay.allow_recipient_domains", "not a domain name"),
        ("[relay]\nallow_recipient_domains = [\".\"]", "relay.allow_recipient_domains", "not a domain name"),
        ("[relay]\nallow_recipient_domains = [3]", "relay.allow_recipient_domains", "must be a string"),
        ("[relay]\nallow_recipients = [\"backup.example\"]", "relay.allow_recipients", "not an e-mail address"),
        ("[relay]\nallow_recipients = [\"a@[192.0.2.1]\"]", "relay.allow_recipients", "not an e-mail address"),
        ("[relay]\nallow_recipients = [\"a@xn--zz.example\"]", "relay.allow_recipients", "not an e-mail address")
    ])
    func badValuesAreReportedWithTheirKey(text: String, key: String, message: String) {
        guard case .failure(let errors) = Self.parse(text) else { Issue.record("accepted: \(text)"); return }
        #expect(errors.errors.count == 1, "\(errors)")
        #expect(errors.errors.first?.key == key, "\(errors)")
        #expect(errors.errors.first?.message.contains(message) == true, "\(errors)")
        #expect(errors.errors.first?.line != nil)
    }

    /// Route keys are routing domains, the key queue entries carry: a route written with the U-label or a
    /// non-canonical literal still applies; an invalid IDN is refused.
    @Test func routeKeysAreRoutingDomains() throws {
        let c = try Self.parse(
            """
            [delivery]
            routes = { "Bücher.Example" = "127.0.0.1:2600", "[IPv6:2001:DB8:0::1]" = "127.0.0.1:2601" }
            """
        ).get()
        #expect(Set(c.delivery.routes.keys) == ["xn--bcher-kva.example", "[ipv6:2001:db8::1]"])
        guard case .failure(let errors) = Self.parse("[delivery]\nroutes = { \"xn--zz.example\" = \"127.0.0.1:25\" }") else {
            Issue.record("an invalid IDN route key was accepted")
            return
        }
        #expect(errors.errors.first?.key == "delivery.routes")
    }

    @Test func reloadPlanNamesTheNewKeys() throws {
        let new = try Self.parse(
            """
            [relay]
            allow_recipient_domains = ["backup.example"]
            allow_recipients = ["a@backup.example"]
            """
        ).get()
        let plan = ConfigReloadPlan.compare(running: Self.base, new: new)
        for key in ["relay.allow_recipient_domains", "relay.allow_recipients"] {
            #expect(plan.needsRestart.contains(key), "\(key)")
        }
    }
}
