import MailCore
import MailPolicy
import Testing

@Suite struct ConnectionAccessTests {
    func net(_ s: String) -> IPNetwork {
        guard let n = IPNetwork(s) else { Issue.record("bad network \(s)"); return IPNetwork("0.0.0.0/0")! }
        return n
    }

    @Test func openByDefault() {
        #expect(ConnectionAccess.decide(IPAddress("203.0.113.9"), rules: .open) == .accept)
        #expect(ConnectionAccess.decide(nil, rules: .open) == .accept)
    }

    @Test func denyWinsOverAllow() {
        let rules = ConnectionRules(allow: [net("192.0.2.0/24")], deny: [net("192.0.2.7/32")])
        #expect(ConnectionAccess.decide(IPAddress("192.0.2.7"), rules: rules) == .denied(net("192.0.2.7/32")))
        #expect(ConnectionAccess.decide(IPAddress("192.0.2.8"), rules: rules) == .accept)
    }

    @Test func nonEmptyAllowListAdmitsOnlyMembers() {
        let rules = ConnectionRules(allow: [net("2001:db8::/32")])
        #expect(ConnectionAccess.decide(IPAddress("2001:db8::1"), rules: rules) == .accept)
        #expect(ConnectionAccess.decide(IPAddress("2001:db9::1"), rules: rules) == .notAllowed)
        #expect(ConnectionAccess.decide(IPAddress("192.0.2.1"), rules: rules) == .notAllowed)
        #expect(ConnectionAccess.decide(nil, rules: rules) == .notAllowed)
    }

    @Test func ipv4MappedClientsMatchIPv4Entries() {
        let rules = ConnectionRules(deny: [net("198.51.100.0/24")])
        #expect(ConnectionAccess.decide(IPAddress("::ffff:198.51.100.3"), rules: rules) == .denied(net("198.51.100.0/24")))
    }
}
