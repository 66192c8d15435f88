import MailCore
import MailPolicy
import Testing

@Suite struct RelayPolicyTests {
    @Test(arguments: [
        ("10.0.0.0/8", "10.1.2.3", true), ("10.0.0.0/8", "11.0.0.1", false),
        ("192.0.2.7", "192.0.2.7", true), ("192.0.2.7", "192.0.2.8", false),
        ("2001:db8::/32", "2001:db8:1::5", true), ("2001:db8::/32", "2001:db9::1", false),
        ("127.0.0.0/8", "::ffff:127.0.0.1", true), ("0.0.0.0/0", "203.0.113.9", true),
        ("::/0", "10.0.0.1", false)
    ])
    func networkMembership(network: String, ip: String, expected: Bool) throws {
        let net = try #require(IPNetwork(network))
        let addr = try #require(IPAddress(ip))
        #expect(net.contains(addr) == expected)
    }

    @Test(arguments: ["10.0.0.1/8", "10.0.0.0/33", "1.2.3/24", "::1/129", "10.0.0.0/", "abc", "10.0.0.0/-1", "10.0.0.0/08x"])
    func invalidNetworks(text: String) {
        #expect(IPNetwork(text) == nil)
    }

    @Test func relayIsClosedByDefault() throws {
        let ctx = RelayContext(client: ClientInfo(ip: IPAddress("203.0.113.5"), verifiedHostName: "mail.example.net"))
        #expect(RelayPolicy.permission(ctx, rules: .closed) == nil)
    }

    @Test func relayPermissions() throws {
        let rules = RelayRules(allowedNetworks: [try #require(IPNetwork("192.0.2.0/24"))], allowedClientDomains: ["Partner.TEST"])
        let ip = IPAddress("198.51.100.1")
        #expect(RelayPolicy.permission(RelayContext(client: ClientInfo(ip: ip), isAuthenticated: true), rules: rules) == .authenticated)
        #expect(
            RelayPolicy.permission(RelayContext(client: ClientInfo(ip: IPAddress("192.0.2.9"))), rules: rules)
                == .network(try #require(IPNetwork("192.0.2.0/24"))))
        #expect(
            RelayPolicy.permission(RelayContext(client: ClientInfo(ip: ip, verifiedHostName: "mx1.partner.test")), rules: rules)
                == .clientDomain("partner.test"))
        // A look-alike name is not a subdomain.
        #expect(RelayPolicy.permission(RelayContext(client: ClientInfo(ip: ip, verifiedHostName: "evilpartner.test")), rules: rules) == nil)
        #expect(RelayPolicy.permission(RelayContext(client: ClientInfo(ip: ip)), rules: rules) == nil)
        let noAuth = RelayRules(allowAuthenticated: false)
        #expect(RelayPolicy.permission(RelayContext(client: ClientInfo(ip: ip), isAuthenticated: true), rules: noAuth) == nil)
    }
}
