import MailCore
import MailTestSupport
import Testing

@testable import MailDNS

@Suite struct MXResolutionTests {
    /// Test tables use address literals; a typo in one is a bug in the test.
    static func ip(_ s: String) -> IPAddress {
        guard let a = IPAddress(s) else { preconditionFailure("bad address literal in test table: \(s)") }
        return a
    }

    static let resolver = StaticResolver(
        mx: [
            "sorted.test": [
                MXRecord(preference: 30, exchange: "c.test"), MXRecord(preference: 10, exchange: "A.test."),
                MXRecord(preference: 20, exchange: "b.test")
            ],
            "null.test": [MXRecord(preference: 0, exchange: ".")],
            "mixednull.test": [MXRecord(preference: 0, exchange: "."), MXRecord(preference: 10, exchange: "real.test")],
            "dup.test": [MXRecord(preference: 20, exchange: "x.test"), MXRecord(preference: 10, exchange: "x.test")],
            "self.test": [
                MXRecord(preference: 10, exchange: "backup.test"), MXRecord(preference: 20, exchange: "me.test"),
                MXRecord(preference: 20, exchange: "peer.test"), MXRecord(preference: 30, exchange: "far.test")
            ],
            "onlyself.test": [MXRecord(preference: 10, exchange: "me.test")],
            "empty.test": []
        ],
        addresses: [
            "implicit.test": [ip("192.0.2.1")],
            "nohost.test": []
        ],
        txt: ["txtonly.test": ["v=spf1 -all"]],
        failures: ["broken.test": "SERVFAIL"]
    )

    @Test(arguments: [
        (
            "sorted.test",
            MXRoute.targets([
                MXTarget(host: "a.test", preference: 10), MXTarget(host: "b.test", preference: 20),
                MXTarget(host: "c.test", preference: 30)
            ])
        ),
        ("null.test", .nullMX),
        ("mixednull.test", .targets([MXTarget(host: "real.test", preference: 10)])),
        ("dup.test", .targets([MXTarget(host: "x.test", preference: 10)])),
        ("implicit.test", .targets([MXTarget(host: "implicit.test", preference: 0, isImplicit: true)])),
        ("Implicit.TEST.", .targets([MXTarget(host: "implicit.test", preference: 0, isImplicit: true)])),
        ("nohost.test", .noMailHost), // name exists, no MX, no A/AAAA
        ("txtonly.test", .noMailHost), // name exists (TXT only)
        ("empty.test", .noMailHost), // MX NODATA and no addresses
        ("nosuch.test", .noSuchDomain),
        ("broken.test", .temporaryFailure("SERVFAIL"))
    ])
    func routes(domain: String, expected: MXRoute) async {
        var rng = SplitMix64(seed: 7)
        #expect(await MXResolution(resolver: Self.resolver).targets(for: domain, using: &rng) == expected)
    }

    @Test func implicitMXLookupFailureIsTemporary() async {
        // MX: NODATA; A/AAAA: temporary failure → cannot decide → temporary.
        let r = StaticResolver(mx: ["d.test": []], failures: [:])
        struct FailingAddresses: DNSResolver {
            let base: StaticResolver
            func mx(_ d: String) async -> DNSAnswer<[MXRecord]> { await base.mx(d) }
            func addresses(_ h: String) async -> DNSAnswer<[IPAddress]> { .temporaryFailure("timeout") }
            func ptr(_ ip: IPAddress) async -> DNSAnswer<[String]> { await base.ptr(ip) }
            func txt(_ n: String) async -> DNSAnswer<[String]> { await base.txt(n) }
        }
        #expect(await MXResolution(resolver: FailingAddresses(base: r)).targets(for: "d.test") == .temporaryFailure("timeout"))
    }

    @Test(arguments: [
        (Set(["me.test"]), MXRoute.targets([MXTarget(host: "backup.test", preference: 10)])),
        (Set(["ME.test."]), MXRoute.targets([MXTarget(host: "backup.test", preference: 10)])),
        (Set(["backup.test"]), MXRoute.noMailHost),
        (Set(["far.test"]), nil), // drops only far.test; order of the 20s is random
        (Set(["unrelated.test"]), nil)
    ])
    func localHostDiscardsEqualAndWorse(local: Set<String>, expected: MXRoute?) async {
        var rng = SplitMix64(seed: 3)
        let route = await MXResolution(resolver: Self.resolver).targets(for: "self.test", localNames: local, using: &rng)
        if let expected {
            #expect(route == expected)
        } else {
            guard case .targets(let t) = route else { Issue.record("\(route)"); return }
            #expect(t.first?.host == "backup.test")
            #expect(Set(t[1...2].map(\.host)) == ["me.test", "peer.test"])
            #expect(t.contains { $0.host == "far.test" } == !local.contains("far.test"))
        }
        #expect(await MXResolution(resolver: Self.resolver).targets(for: "onlyself.test", localNames: ["me.test"]) == .noMailHost)
    }

    @Test func equalPreferencesAreShuffledButGroupsStayOrdered() async {
        let records =
            (0..<4).map { MXRecord(preference: 10, exchange: "p\($0).test") }
            + (0..<3).map { MXRecord(preference: 20, exchange: "s\($0).test") }
            + [MXRecord(preference: 5, exchange: "first.test")]
        let resolver = StaticResolver(mx: ["shuffle.test": records])
        var firstsOfTen = Set<String>()
        var rng = SplitMix64(seed: 42)
        for _ in 0..<200 {
            guard case .targets(let t) = await MXResolution(resolver: resolver).targets(for: "shuffle.test", using: &rng) else {
                Issue.record("no targets"); return
            }
            #expect(t.map(\.preference) == [5, 10, 10, 10, 10, 20, 20, 20])
            #expect(t[0].host == "first.test")
            #expect(Set(t[1...4].map(\.host)) == ["p0.test", "p1.test", "p2.test", "p3.test"])
            #expect(Set(t[5...7].map(\.host)) == ["s0.test", "s1.test", "s2.test"])
            firstsOfTen.insert(t[1].host)
        }
        #expect(firstsOfTen.count == 4, "every equal-preference host should come first sometimes")
    }

    @Test func sameSeedSameOrder() async {
        let records = (0..<6).map { MXRecord(preference: 10, exchange: "h\($0).test") }
        var a = SplitMix64(seed: 9), b = SplitMix64(seed: 9)
        #expect(MXResolution.order(records, using: &a) == MXResolution.order(records.reversed(), using: &b))
    }
}
