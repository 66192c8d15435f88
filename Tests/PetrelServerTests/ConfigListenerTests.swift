// Tests for ConfigListener.swift: the config's listen and next-hop types are MailCore's `HostPort` (its
// syntax table is in Tests/MailCoreTests/HostPortTests.swift), and the `listen` keys report its errors.
import MailCore
import Testing

@testable import PetrelConfig

@Suite struct ConfigListenerTests {
    @Test func listenersAndNextHopsAreHostPorts() throws {
        let listener: HostPort = try PetrelConfiguration.Listener.parse("[::1]:2525").get()
        let hop: PetrelConfiguration.NextHop = listener
        #expect(hop == HostPort(host: "::1", port: 2525))
        #expect("\(hop)" == "[::1]:2525")
        let error: ListenerSyntaxError = HostPortSyntaxError(reason: "x")
        #expect(error.reason == "x")
    }

    @Test(arguments: [
        ("listen = [\":25\"]", "missing host before \":\" (use 0.0.0.0 or [::] for all addresses)"),
        ("listen = [\"256.1.1.1:25\"]", "\"256.1.1.1\" is not an IPv4 address"),
        ("listen = [\"[127.0.0.1]:25\"]", "\"127.0.0.1\" is not an IPv6 address")
    ])
    func listenKeysReportTheSyntaxError(_ line: String, _ message: String) {
        switch PetrelConfiguration.parse("[smtp]\n\(line)\n", base: .developmentDefaults(hostname: "mx.example.test")) {
        case .success:
            Issue.record("\(line) was accepted")
        case .failure(let errors):
            #expect("\(errors)".contains(message), "\(errors)")
        }
    }
}
