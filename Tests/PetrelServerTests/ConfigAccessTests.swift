// Tests for ConfigAccess.swift (the [relay], [dns] and abuse-limit keys of [smtp]) and for
// MailServer+Access.swift (nameserver choice, resolv.conf parsing, configured rules).
import Foundation
import Logging
import MailCore
import MailPolicy
import Testing

@testable import PetrelConfig
@testable import PetrelServer

@Suite struct ConfigAccessTests {
    static let base = PetrelConfiguration.developmentDefaults(hostname: "base.test")

    static func parse(_ text: String) -> Result<PetrelConfiguration, ConfigErrors> {
        PetrelConfiguration.parse(text, base: base)
    }

    @Test func defaultsAreClosedAndOff() {
        let c = Self.base
        #expect(c.relay == .init(allowAuthenticated: true, allowNetworks: [], allowClientDomains: []))
        #expect(c.dns.nameserver == nil && c.dns.timeout == 5)
        #expect(c.smtp.connectionAllow.isEmpty && c.smtp.connectionDeny.isEmpty)
        #expect(c.smtp.maxConnectionRatePerIP == 0)
        #expect(c.smtp.greetingDelay == 0)
        #expect(c.smtp.invalidRecipientDelayAfter == 3 && c.smtp.maxInvalidRecipients == 8 && c.smtp.invalidRecipientDelay == 1000)
        #expect(c.smtp.rejectUnauthenticatedLocalSender == false)
    }

    @Test func everyKeyIsApplied() throws {
        let c = try Self.parse(
            """
            [smtp]
            connection_allow = ["192.0.2.0/24", "2001:DB8::/32"]
            connection_deny = "198.51.100.7"
            max_connection_rate_per_ip = 60
            invalid_recipient_delay_after = 2
            max_invalid_recipients = 5
            invalid_recipient_delay = 250
            greeting_delay = 3
            reject_unauthenticated_local_sender = true

            [relay]
            allow_authenticated = false
            allow_networks = ["10.0.0.0/8", "::1", "10.0.0.0/8"]
            allow_client_domains = ["*.Partner.Example", "other.example", "mail.Bücher.example"]

            [dns]
            nameserver = "[::1]:5353"
            timeout = 2
            """
        ).get()
        #expect(c.smtp.connectionAllow == ["192.0.2.0/24", "2001:db8::/32"])
        #expect(c.smtp.connectionDeny == ["198.51.100.7/32"])
        #expect(c.smtp.maxConnectionRatePerIP == 60)
        #expect(c.smtp.invalidRecipientDelayAfter == 2 && c.smtp.maxInvalidRecipients == 5 && c.smtp.invalidRecipientDelay == 250)
        #expect(c.smtp.greetingDelay == 3)
        #expect(c.smtp.rejectUnauthenticatedLocalSender)
        #expect(c.relay.allowAuthenticated == false)
        #expect(c.relay.allowNetworks == ["10.0.0.0/8", "::1/128"])
        #expect(c.relay.allowClientDomains == ["partner.example", "other.example", "mail.xn--bcher-kva.example"])
        #expect(c.dns.nameserver == PetrelConfiguration.Listener(host: "::1", port: 5353))
        #expect(c.dns.timeout == 2)
    }

    @Test func nameserverForms() throws {
        #expect(try Self.parse("[dns]\nnameserver = \"127.0.0.1\"").get().dns.nameserver == .init(host: "127.0.0.1", port: 53))
        #expect(try Self.parse("[dns]\nnameserver = \"127.0.0.1:5353\"").get().dns.nameserver == .init(host: "127.0.0.1", port: 5353))
        #expect(try Self.parse("[dns]\nnameserver = \"::1\"").get().dns.nameserver == .init(host: "::1", port: 53))
        #expect(try Self.parse("[dns]\nnameserver = \"[::1]\"").get().dns.nameserver == .init(host: "::1", port: 53))
        #expect(try Self.parse("[dns]\nnameserver = \"\"").get().dns.nameserver == nil)
    }

    @Test(arguments: [
        ("[smtp]\nconnection_deny = [\"10.0.0.1/8\"]", "smtp.connection_deny", "did you mean \"10.0.0.0/8\""),
        ("[smtp]\nconnection_allow = [\"nope\"]", "smtp.connection_allow", "not an IP address or CIDR network"),
        ("[smtp]\nconnection_allow = [1]", "smtp.connection_allow", "item 1 must be a string"),
        ("[smtp]\ngreeting_delay = 61", "smtp.greeting_delay", "between 0 and 60"),
        ("[smtp]\nmax_connection_rate_per_ip = -1", "smtp.max_connection_rate_per_ip", "between 0 and 1000000"),
        ("[relay]\nallow_networks = [\"192.0.2.0/33\"]", "relay.allow_networks", "prefix length"),
        ("[relay]\nallow_client_domains = [\"bad..example\"]", "relay.allow_client_domains", "not a domain name"),
        ("[relay]\nallow_client_domains = [\"xn--zz.example\"]", "relay.allow_client_domains", "not a domain name"),
        ("[relay]\nallow_authenticated = \"yes\"", "relay.allow_authenticated", "true or false"),
        ("[relay]\nallow_everyone = true", "relay.allow_everyone", "unknown key"),
        ("[dns]\nnameserver = \"dns.example:53\"", "dns.nameserver", "IP address"),
        ("[dns]\nnameserver = \"127.0.0.1:0\"", "dns.nameserver", "IP address"),
        ("[dns]\nnameserver = \"dns.example\"", "dns.nameserver", "IP address"),
        ("[dns]\nnameserver = \"[::1]x\"", "dns.nameserver", "IP address"),
        ("[dns]\ntimeout = 0", "dns.timeout", "between 1 and 60")
    ])
    func badValuesAreReportedWithKeyAndLine(text: String, key: String, message: String) {
        guard case .failure(let errors) = Self.parse(text) else { Issue.record("accepted: \(text)"); return }
        #expect(errors.errors.count == 1)
        #expect(errors.errors.first?.key == key)
        #expect(errors.errors.first?.line == 2)
        #expect(errors.errors.first?.message.contains(message) == true, "\(errors)")
    }

    @Test func resolvConfFirstNameserver() {
        let text = "# comment\nsearch example.test\nnameserver fe80::1%eth0\nnameserver 192.0.2.53\n"
        #expect(MailServer.firstNameserver(inResolvConf: text) == IPAddress("fe80::1"))
        #expect(MailServer.firstNameserver(inResolvConf: "options ndots:1\n") == nil)
        #expect(MailServer.firstNameserver(inResolvConf: "nameserver\tnot-an-ip\nnameserver 10.0.0.2") == IPAddress("10.0.0.2"))
    }

    @Test func nameserverChoice() {
        var dns = PetrelConfiguration.DNS(nameserver: .init(host: "127.0.0.1", port: 5353), timeout: 1)
        let (ip, port) = MailServer.nameserverAddress(dns, resolvConf: "/nonexistent")
        #expect(ip == IPAddress("127.0.0.1") && port == 5353)
        dns.nameserver = nil
        let (fallback, fallbackPort) = MailServer.nameserverAddress(dns, resolvConf: "/nonexistent/resolv.conf")
        #expect(fallback == IPAddress("127.0.0.1") && fallbackPort == 53)
    }

    @Test func configuredAccessBecomesPolicy() throws {
        let c = try Self.parse(
            """
            [smtp]
            connection_deny = ["198.51.100.0/24"]
            [relay]
            allow_networks = ["192.0.2.0/24"]
            allow_client_domains = ["partner.example"]
            """
        ).get()
        let (relay, connections) = MailServer.configuredAccess(c, logger: Logger(label: "test"))
        #expect(relay.allowAuthenticated)
        #expect(relay.allowedNetworks.map(\.description) == ["192.0.2.0/24"])
        #expect(relay.allowedClientDomains == ["partner.example"])
        #expect(connections.deny.map(\.description) == ["198.51.100.0/24"])
        #expect(connections.allow.isEmpty)
    }

    @Test func reloadPlanNamesTheNewKeys() throws {
        let new = try Self.parse("[relay]\nallow_networks = [\"192.0.2.0/24\"]\n[smtp]\ngreeting_delay = 2").get()
        let plan = ConfigReloadPlan.compare(running: Self.base, new: new)
        #expect(plan.needsRestart.contains("relay.allow_networks"))
        #expect(plan.needsRestart.contains("smtp.greeting_delay"))
    }
}
