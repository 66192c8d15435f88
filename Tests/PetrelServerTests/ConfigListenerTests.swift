// Tests for ConfigListener.swift: the listen-address syntax table and its printing.
import Testing
@testable import PetrelConfig
@testable import PetrelServer

@Suite struct ConfigListenerTests {
    @Test(arguments: [
        ("127.0.0.1:2525", "127.0.0.1", 2525),
        ("0.0.0.0:25", "0.0.0.0", 25),
        ("[::1]:2525", "::1", 2525),
        ("[::]:25", "::", 25),
        ("[2001:db8::1]:587", "2001:db8::1", 587),
        ("[fe80::1%eth0]:110", "fe80::1%eth0", 110),
        ("localhost:2110", "localhost", 2110),
        ("mail.example.com:65535", "mail.example.com", 65535),
        ("127.0.0.1:0", "127.0.0.1", 0),
        ("10.0.0.1:1", "10.0.0.1", 1),
    ])
    func validListenAddress(_ text: String, _ host: String, _ port: Int) throws {
        let listener = try PetrelConfiguration.Listener.parse(text).get()
        #expect(listener == .init(host: host, port: port))
    }

    @Test(arguments: [
        ("", "empty"),
        ("127.0.0.1", "missing \":port\""),
        ("127.0.0.1:", "port must be a number between 0 and 65535"),
        ("127.0.0.1:65536", "port must be a number between 0 and 65535, got \"65536\""),
        ("127.0.0.1:65536", "port must be"),
        ("127.0.0.1:99999999999999999999", "port must be"),
        ("127.0.0.1:+25", "port must be"),
        ("127.0.0.1:25x", "port must be"),
        (":25", "missing host"),
        ("::1:25", "IPv6 addresses must be in brackets"),
        ("[::1]", "missing \":port\" after \"]\""),
        ("[::1:25", "missing \"]\""),
        ("[::1]25", "missing \":port\" after \"]\""),
        ("[127.0.0.1]:25", "is not an IPv6 address"),
        ("[zz::1]:25", "is not an IPv6 address"),
        ("256.1.1.1:25", "is not an IPv4 address"),
        ("1.2.3:25", "is not an IPv4 address"),
        ("bad_host:25", "is not a valid host name"),
        ("-bad.example:25", "is not a valid host name"),
        ("host name:25", "without spaces"),
        ("host\n:25", "control characters"),
    ])
    func invalidListenAddress(_ text: String, _ fragment: String) {
        switch PetrelConfiguration.Listener.parse(text) {
        case .success(let listener):
            Issue.record("\(text) parsed as \(listener)")
        case .failure(let error):
            #expect(error.reason.contains(fragment), "\(text): \(error.reason)")
        }
    }

    @Test(arguments: [
        (PetrelConfiguration.Listener(host: "127.0.0.1", port: 25), "127.0.0.1:25"),
        (PetrelConfiguration.Listener(host: "::1", port: 2525), "[::1]:2525"),
        (PetrelConfiguration.Listener(host: "mail.example.com", port: 587), "mail.example.com:587"),
    ])
    func descriptionRoundTrips(_ listener: PetrelConfiguration.Listener, _ text: String) throws {
        #expect(listener.description == text)
        #expect(try PetrelConfiguration.Listener.parse(text).get() == listener)
    }
}
