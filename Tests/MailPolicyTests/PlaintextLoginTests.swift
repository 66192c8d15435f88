/// `PlaintextLogin`: where a password may travel without TLS (a listener that allows it, a trusted network).
import MailCore
import MailPolicy
import Testing

@Suite struct PlaintextLoginTests {
    static let lan = [IPNetwork("10.0.0.0/8"), IPNetwork("fd00::/8")].compactMap { $0 }

    @Test func tlsRequiredUnlessTheListenerOrTheNetworkAllows() {
        #expect(!PlaintextLogin.allowed(listenerAllows: false, client: IPAddress("203.0.113.9"), trustedNetworks: []))
        #expect(!PlaintextLogin.allowed(listenerAllows: false, client: IPAddress("203.0.113.9"), trustedNetworks: Self.lan))
        #expect(PlaintextLogin.allowed(listenerAllows: false, client: IPAddress("10.1.2.3"), trustedNetworks: Self.lan))
        #expect(PlaintextLogin.allowed(listenerAllows: false, client: IPAddress("::ffff:10.1.2.3"), trustedNetworks: Self.lan))
        #expect(PlaintextLogin.allowed(listenerAllows: false, client: IPAddress("fd12::5"), trustedNetworks: Self.lan))
        #expect(!PlaintextLogin.allowed(listenerAllows: false, client: nil, trustedNetworks: Self.lan))
        #expect(PlaintextLogin.allowed(listenerAllows: true, client: nil, trustedNetworks: []))
        #expect(PlaintextLogin.allowed(listenerAllows: true, client: IPAddress("203.0.113.9"), trustedNetworks: []))
    }
}
