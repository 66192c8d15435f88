import Testing

// Tests for HostPort.swift: the host:port syntax (IPv4, names, [IPv6]:port, bare IPv6 only with a default
// port), port range, the error sentences, printing, and loopback detection.
@testable import MailCore

@Suite struct HostPortTests {
    /// (text, default port or nil, host, port)
    @Test(
        arguments: [
            ("127.0.0.1:2525", nil, "127.0.0.1", 2525),
            ("0.0.0.0:25", nil, "0.0.0.0", 25),
            ("[::1]:2525", nil, "::1", 2525),
            ("[::]:25", nil, "::", 25),
            ("[2001:db8::1]:587", nil, "2001:db8::1", 587),
            ("[fe80::1%eth0]:110", nil, "fe80::1%eth0", 110),
            ("localhost:2110", nil, "localhost", 2110),
            ("mail.example.com:65535", nil, "mail.example.com", 65535),
            ("127.0.0.1:0", nil, "127.0.0.1", 0),
            ("10.0.0.1:1", nil, "10.0.0.1", 1),
            ("10.0.0.1:00025", nil, "10.0.0.1", 25),
            // With a default port the ":port" may be left out, and a bare IPv6 address is accepted.
            ("192.0.2.1", 53, "192.0.2.1", 53),
            ("192.0.2.1:5353", 53, "192.0.2.1", 5353),
            ("[::1]", 53, "::1", 53),
            ("[::1]:5353", 53, "::1", 5353),
            ("::1", 53, "::1", 53),
            ("2001:db8::53", 53, "2001:db8::53", 53),
            ("dns.example", 53, "dns.example", 53),
            ("dns.example:54", 53, "dns.example", 54)
        ] as [(String, Int?, String, Int)])
    func parsesHostAndPort(_ text: String, _ defaultPort: Int?, _ host: String, _ port: Int) throws {
        #expect(try HostPort.parse(text, defaultPort: defaultPort).get() == HostPort(host: host, port: port))
    }

    /// (text, default port or nil, a fragment of the error)
    @Test(
        arguments: [
            ("", nil, "empty"),
            ("127.0.0.1", nil, "missing \":port\" (write \"host:port\")"),
            ("127.0.0.1:", nil, "port must be a number between 0 and 65535, got \"\""),
            ("127.0.0.1:65536", nil, "port must be a number between 0 and 65535, got \"65536\""),
            ("127.0.0.1:99999999999999999999", nil, "port must be"),
            ("127.0.0.1:-1", nil, "port must be"),
            ("127.0.0.1:+25", nil, "port must be"),
            ("127.0.0.1:25x", nil, "port must be"),
            ("127.0.0.1:２５", nil, "port must be"),
            (":25", nil, "missing host"),
            ("::1:25", nil, "IPv6 addresses must be in brackets"),
            ("::1", nil, "IPv6 addresses must be in brackets"),
            ("[::1]", nil, "missing \":port\" after \"]\""),
            ("[::1:25", nil, "missing \"]\""),
            ("[::1]25", nil, "missing \":port\" after \"]\""),
            ("[]:25", nil, "\"\" is not an IPv6 address"),
            ("[127.0.0.1]:25", nil, "is not an IPv6 address"),
            ("[zz::1]:25", nil, "is not an IPv6 address"),
            ("256.1.1.1:25", nil, "is not an IPv4 address"),
            ("1.2.3:25", nil, "is not an IPv4 address"),
            ("bad_host:25", nil, "is not a valid host name"),
            ("-bad.example:25", nil, "is not a valid host name"),
            ("host name:25", nil, "without spaces"),
            ("host\n:25", nil, "control characters"),
            ("host\u{7F}:25", nil, "control characters"),
            ("garbage", nil, "missing \":port\""),
            ("]]]:[[[", nil, "is not a valid host name"),
            ("", 53, "empty"),
            (":53", 53, "missing host"),
            ("[::1]x", 53, "missing \":port\" after \"]\""),
            ("192.0.2.1:", 53, "port must be"),
            ("300.0.2.1", 53, "is not an IPv4 address"),
            ("bad_host", 53, "is not a valid host name"),
            ("192.0.2.1", 70000, "missing \":port\"")
        ] as [(String, Int?, String)])
    func refusesBadText(_ text: String, _ defaultPort: Int?, _ fragment: String) {
        switch HostPort.parse(text, defaultPort: defaultPort) {
        case .success(let value):
            Issue.record("\(text) parsed as \(value)")
        case .failure(let error):
            #expect(error.reason.contains(fragment), "\(text): \(error.reason)")
            #expect(error.description == error.reason)
        }
    }

    @Test func anExplicitPortNeedsNoValidDefault() throws {
        #expect(try HostPort.parse("192.0.2.1:25", defaultPort: 70000).get() == HostPort(host: "192.0.2.1", port: 25))
    }

    @Test(arguments: [
        (HostPort(host: "127.0.0.1", port: 25), "127.0.0.1:25"),
        (HostPort(host: "::1", port: 2525), "[::1]:2525"),
        (HostPort(host: "2001:db8::1", port: 587), "[2001:db8::1]:587"),
        (HostPort(host: "mail.example.com", port: 587), "mail.example.com:587")
    ])
    func descriptionRoundTrips(_ value: HostPort, _ text: String) throws {
        #expect(value.description == text)
        #expect(try HostPort.parse(text).get() == value)
    }

    @Test(arguments: [
        ("127.0.0.1", true), ("127.255.0.9", true), ("::1", true), ("0:0:0:0:0:0:0:1", true), ("LocalHost", true),
        ("0.0.0.0", false), ("10.0.0.1", false), ("::", false), ("127.0.0", false), ("127.0.0.256", false),
        ("mail.example", false)
    ])
    func loopback(_ host: String, _ expected: Bool) {
        #expect(HostPort(host: host, port: 25).isLoopback == expected)
    }

    @Test func equalValuesHashAlike() {
        let set: Set<HostPort> = [HostPort(host: "::1", port: 25), HostPort(host: "::1", port: 25), HostPort(host: "::1", port: 26)]
        #expect(set.count == 2)
    }
}
