import MailCore
import Testing

@testable import MailDNS

@Suite struct ForwardConfirmedReverseDNSTests {
    static func ip(_ s: String) -> IPAddress { MXResolutionTests.ip(s) }

    static let resolver = StaticResolver(
        addresses: [
            "mail.example.test": [ip("192.0.2.1"), ip("2001:db8::1")],
            "other.example.test": [ip("192.0.2.99")],
            "second.example.test": [ip("192.0.2.2")],
            "v6.example.test": [ip("2001:db8::6")],
            "noaddr.example.test": []
        ],
        ptr: [
            ip("192.0.2.1"): ["Mail.Example.Test."],
            ip("192.0.2.2"): ["other.example.test", "second.example.test"], // second name confirms
            ip("192.0.2.3"): ["other.example.test"], // maps elsewhere
            ip("192.0.2.4"): ["gone.example.test"], // name does not exist
            ip("192.0.2.5"): ["noaddr.example.test"], // name without addresses
            ip("192.0.2.6"): ["flaky.example.test"], // forward lookup fails
            ip("192.0.2.7"): ["flaky.example.test", "mail.example.test"], // ...but another name is 192.0.2.1, not .7
            ip("192.0.2.8"): ["flaky.example.test", "eight.example.test"],
            ip("2001:db8::6"): ["v6.example.test"],
            ip("2001:db8::1"): ["mail.example.test"],
            ip("192.0.2.9"): [], // PTR NODATA
            ip("192.0.2.11"): ["bad name", "mail.example.test"] // unqueryable name is skipped
        ],
        failures: ["flaky.example.test": "timeout", "10.2.0.192.in-addr.arpa": "SERVFAIL"]
    )

    @Test(arguments: [
        ("192.0.2.1", IPRevResult.pass("mail.example.test")),
        ("::ffff:192.0.2.1", .pass("mail.example.test")),
        ("192.0.2.2", .pass("second.example.test")),
        ("192.0.2.3", .fail),
        ("192.0.2.4", .fail),
        ("192.0.2.5", .fail),
        ("192.0.2.6", .tempError("timeout")),
        ("192.0.2.7", .tempError("timeout")),
        ("192.0.2.9", .fail),
        ("192.0.2.10", .tempError("SERVFAIL")), // PTR look-up itself fails
        ("192.0.2.11", .fail),
        ("198.51.100.1", .fail), // no PTR (NXDOMAIN)
        ("2001:db8::6", .pass("v6.example.test")),
        ("2001:db8::1", .pass("mail.example.test"))
    ])
    func iprev(address: String, expected: IPRevResult) async throws {
        let fcrdns = ForwardConfirmedReverseDNS(resolver: Self.resolver)
        let ip = try #require(IPAddress(address))
        #expect(await fcrdns.check(ip: ip) == expected)
        #expect(await fcrdns.verify(ip: ip) == expected.verifiedName)
    }

    @Test func tokens() {
        #expect(IPRevResult.pass("x").token == "pass")
        #expect(IPRevResult.fail.token == "fail")
        #expect(IPRevResult.tempError("t").token == "temperror")
    }

    @Test func nameLimitBoundsForwardLookups() async throws {
        let names = (0..<20).map { "n\($0).test" }
        let resolver = StaticResolver(addresses: ["n15.test": [Self.ip("192.0.2.50")]], ptr: [Self.ip("192.0.2.50"): names])
        let ip = try #require(IPAddress("192.0.2.50"))
        #expect(await ForwardConfirmedReverseDNS(resolver: resolver, maxNames: 10).verify(ip: ip) == nil)
        #expect(await ForwardConfirmedReverseDNS(resolver: resolver, maxNames: 20).verify(ip: ip) == "n15.test")
    }
}

@Suite struct DNSNameTests {
    @Test(arguments: [
        ("192.0.2.10", "10.2.0.192.in-addr.arpa"),
        ("::ffff:192.0.2.10", "10.2.0.192.in-addr.arpa"),
        ("2001:db8::567:89ab", "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")
    ])
    func reverse(ip: String, name: String) throws {
        #expect(DNSName.reverse(try #require(IPAddress(ip))) == name)
    }

    @Test(arguments: [
        ("example.com", true), ("Example.COM.", true), ("", false), (".", false), ("a..b", false),
        ("a b", false), ("a\\b", false), ("ü.de", false), ("_dmarc.example.com", true)
    ])
    func queryable(name: String, ok: Bool) {
        #expect(DNSName.isQueryable(name) == ok)
    }

    @Test func txtParsing() {
        #expect(LibresolvResolver.txtString([3, 97, 98, 99, 0, 1, 100]) == "abcd")
        #expect(LibresolvResolver.txtString([5, 97]) == nil)
        #expect(LibresolvResolver.txtString([]) == "")
    }

    @Test func staticResolverSemantics() async throws {
        let r = StaticResolver(mx: ["a.test": []], txt: ["b.test": ["x"]], failures: ["c.test": "boom"])
        #expect(await r.mx("A.test.") == .noData)
        #expect(await r.mx("b.test") == .noData)
        #expect(await r.txt("b.test") == .records(["x"]))
        #expect(await r.mx("c.test") == .temporaryFailure("boom"))
        #expect(await r.addresses("z.test") == .nxDomain)
    }
}
