import Foundation
import MailCore
import MailTestSupport
import Testing

@testable import MailDNS

/// LibresolvResolver against TestDNSServer on 127.0.0.1 / ::1 (ephemeral port). Every test also checks the
/// server saw the questions, which shows the queries went to it and not to /etc/resolv.conf's servers.
@Suite struct LibresolvResolverTests {
    typealias K = TestDNSServer.Key

    static let table: [K: TestDNSServer.Reply] = [
        K(name: "example.test", type: 15): .records([
            .mx(20, "mx2.example.test"), .mx(10, "MX1.Example.Test."),
            .mx(30, "example.test")
        ]),
        K(name: "example.test", type: 1): .records([.a("192.0.2.10")]),
        K(name: "mx1.example.test", type: 1): .records([.a("192.0.2.1"), .a("192.0.2.2")]),
        K(name: "mx1.example.test", type: 28): .records([.aaaa("2001:db8::1")]),
        K(name: "v6only.example.test", type: 28): .records([.aaaa("2001:db8::25")]),
        K(name: "alias.example.test", type: 1): .records([.cname("mx1.example.test"), .a("192.0.2.1")]),
        K(name: "danglingalias.example.test", type: 15): .records([.cname("gone.example.test")]),
        K(name: "10.2.0.192.in-addr.arpa", type: 12): .records([.ptr("Mail.Example.Test."), .ptr("other.example.test")]),
        K(name: "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", type: 12):
            .records([.ptr("v6only.example.test")]),
        K(name: "example.test", type: 16): .records([.txt(["v=spf1 ", "-all"]), .txt(["hello"])]),
        K(name: "nullmx.test", type: 15): .records([.mx(0, ".")]),
        K(name: "servfail.test", type: 15): .rcode(2),
        K(name: "servfail.test", type: 1): .rcode(2),
        K(name: "refused.test", type: 1): .rcode(5),
        K(name: "silent.test", type: 1): .drop,
        K(name: "silent.test", type: 15): .drop,
        K(name: "broken.test", type: 1): .malformed,
        K(name: "broken.test", type: 15): .malformed
    ]

    func withServer<T>(
        ipv6: Bool = false, timeout: Duration = .seconds(2), runner: any BlockingCallRunner = TestPools.dns,
        _ body: (LibresolvResolver, TestDNSServer) async throws -> T
    ) async throws -> T {
        let server = try #require(TestDNSServer(table: Self.table, ipv6: ipv6))
        defer { server.stop() }
        let resolver = LibresolvResolver(
            nameserver: server.address, port: server.port, timeout: timeout,
            runner: runner)
        return try await body(resolver, server)
    }

    @Test func mxRecords() async throws {
        try await withServer { resolver, server in
            let answer = await resolver.mx("Example.Test.")
            #expect(
                answer
                    == .records([
                        MXRecord(preference: 20, exchange: "mx2.example.test"),
                        MXRecord(preference: 10, exchange: "mx1.example.test"),
                        MXRecord(preference: 30, exchange: "example.test")
                    ]))
            #expect(server.queries == [K(name: "example.test", type: 15)])
        }
    }

    @Test func nullMX() async throws {
        try await withServer { resolver, _ in
            let answer = await resolver.mx("nullmx.test")
            #expect(answer == .records([MXRecord(preference: 0, exchange: ".")]))
            #expect(answer.value?.first?.isNullMX == true)
        }
    }

    @Test func aAndAAAA() async throws {
        try await withServer { resolver, server in
            let answer = await resolver.addresses("mx1.example.test")
            let ips = try #require(answer.value)
            #expect(Set(ips) == Set(["192.0.2.1", "192.0.2.2", "2001:db8::1"].compactMap(IPAddress.init)))
            #expect(Set(server.queries) == [K(name: "mx1.example.test", type: 1), K(name: "mx1.example.test", type: 28)])
            #expect(await resolver.addresses("v6only.example.test") == .records([IPAddress("2001:db8::25")].compactMap { $0 }))
            #expect(await resolver.addresses("example.test") == .records([IPAddress("192.0.2.10")].compactMap { $0 }))
        }
    }

    @Test func cnameChainKeepsOnlyAddresses() async throws {
        try await withServer { resolver, _ in
            #expect(await resolver.addresses("alias.example.test") == .records([IPAddress("192.0.2.1")].compactMap { $0 }))
            // Answer holding only a CNAME of another type: no MX records → NODATA.
            #expect(await resolver.mx("danglingalias.example.test") == .noData)
        }
    }

    @Test func ptrIPv4AndIPv6() async throws {
        try await withServer { resolver, server in
            let v4 = try #require(IPAddress("192.0.2.10"))
            #expect(await resolver.ptr(v4) == .records(["mail.example.test", "other.example.test"]))
            let mapped = try #require(IPAddress("::ffff:192.0.2.10"))
            #expect(await resolver.ptr(mapped) == .records(["mail.example.test", "other.example.test"]))
            let v6 = try #require(IPAddress("2001:db8::25"))
            #expect(await resolver.ptr(v6) == .records(["v6only.example.test"]))
            let unknown = try #require(IPAddress("198.51.100.1"))
            #expect(await resolver.ptr(unknown) == .nxDomain)
            #expect(server.queries.count == 4)
        }
    }

    @Test func txtRecordsConcatenateStrings() async throws {
        try await withServer { resolver, _ in
            #expect(await resolver.txt("example.test") == .records(["v=spf1 -all", "hello"]))
            #expect(await resolver.txt("mx1.example.test") == .noData)
        }
    }

    @Test func nxDomainAndNoData() async throws {
        try await withServer { resolver, server in
            #expect(await resolver.mx("nowhere.test") == .nxDomain)
            #expect(await resolver.addresses("nowhere.test") == .nxDomain)
            #expect(await resolver.mx("mx1.example.test") == .noData)
            #expect(server.queries.contains(K(name: "nowhere.test", type: 15)))
        }
    }

    @Test func servfailIsTemporary() async throws {
        // A long timeout: three answered failures must come back well before even one timeout would
        // (the margin is wide because the suite runs on shared, loaded machines). Timed where the
        // lookups block, not by when the test task resumes.
        let timed = TimedRunner(TestPools.dns)
        try await withServer(timeout: .seconds(30), runner: timed) { resolver, _ in
            #expect(await resolver.mx("servfail.test").isTemporaryFailure)
            #expect(await resolver.addresses("servfail.test").isTemporaryFailure)
            #expect(await resolver.addresses("refused.test").isTemporaryFailure)
            #expect(timed.durations.count == 5)
            let total = timed.durations.reduce(Duration.zero, +)
            #expect(total < .seconds(20), "SERVFAIL must not wait for the timeout (took \(total))")
        }
    }

    @Test func malformedAnswerIsTemporaryNotACrash() async throws {
        try await withServer { resolver, _ in
            #expect(await resolver.mx("broken.test").isTemporaryFailure)
            #expect(await resolver.addresses("broken.test").isTemporaryFailure)
        }
    }

    @Test func silentServerTimesOut() async throws {
        // Timed where the lookup blocks: when the test task resumes afterwards depends on the whole
        // suite's load (it shares two cooperative threads on CI machines).
        let timed = TimedRunner(TestPools.dns)
        try await withServer(timeout: .seconds(1), runner: timed) { resolver, server in
            let answer = await resolver.mx("silent.test")
            let elapsed = timed.durations.first ?? .zero
            #expect(timed.durations.count == 1)
            guard case .temporaryFailure(let reason) = answer else {
                Issue.record("expected a temporary failure, got \(answer)"); return
            }
            #expect(reason.contains("timeout"))
            // It gives up (not hangs); the upper bound is loose because CI machines are shared.
            #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(10), "took \(elapsed)")
            #expect(server.queries.allSatisfy { $0 == K(name: "silent.test", type: 15) })
        }
    }

    @Test func concurrentQueriesDoNotBlockEachOther() async throws {
        // The slow question waits out a 4 s timeout; the fast one must not queue behind it. Judged by when
        // the server's own thread received the questions, not by when the test task is resumed (the whole
        // suite shares two cooperative threads on CI machines, which can delay any resumption).
        try await withServer(timeout: .seconds(4)) { resolver, server in
            async let slow = resolver.addresses("silent.test")
            async let fast = resolver.mx("example.test")
            #expect(await fast.value?.count == 3)
            #expect(await slow.isTemporaryFailure)
            let arrivals = server.arrivals
            let firstSilent = try #require(arrivals.first { $0.key.name == "silent.test" }?.at)
            let mx = try #require(arrivals.first { $0.key == K(name: "example.test", type: 15) }?.at)
            #expect(mx < firstSilent + .seconds(3), "the MX question waited \(mx - firstSilent) for the silent one")
        }
    }

    @Test func closedPortIsTemporary() async throws {
        // Bind, learn the port, stop and close: nothing listens there.
        var port = 0
        do {
            let server = try #require(TestDNSServer(table: [:]))
            port = server.port
            server.stop()
        }
        try await Task.sleep(for: .milliseconds(250)) // the serve loop notices stop within 100 ms and drops the fd
        let resolver = LibresolvResolver(
            nameserver: try #require(IPAddress("127.0.0.1")), port: port, timeout: .seconds(1),
            runner: TestPools.dns)
        #expect(await resolver.mx("example.test").isTemporaryFailure)
    }

    @Test func invalidNamesAreNotSent() async throws {
        try await withServer { resolver, server in
            for name in [
                "", ".", "bad name.test", "a\\.b.test", "a..b", String(repeating: "a", count: 64) + ".test",
                String(repeating: "é", count: 60) + ".test", "é..test", "nul\u{0}.test"
            ] {
                #expect(await resolver.mx(name) == .nxDomain, "\(name)")
            }
            #expect(server.queries.isEmpty)
        }
    }

    /// Issue 13 item 11, defence in depth: a Unicode name is asked as its A-label, never as raw UTF-8.
    @Test func unicodeNamesAreAskedAsALabels() async throws {
        try await withServer { resolver, server in
            #expect(await resolver.mx("Bücher.Example") == .nxDomain)
            #expect(await resolver.addresses("bu\u{0308}cher.example.") == .nxDomain)
            #expect(
                server.queries == [
                    K(name: "xn--bcher-kva.example", type: 15), K(name: "xn--bcher-kva.example", type: 1),
                    K(name: "xn--bcher-kva.example", type: 28)
                ]
                    || server.queries == [
                        K(name: "xn--bcher-kva.example", type: 15), K(name: "xn--bcher-kva.example", type: 28),
                        K(name: "xn--bcher-kva.example", type: 1)
                    ])
        }
        #expect(DNSName.queryName("É.test") == "xn--9ca.test")
        #expect(DNSName.queryName("example.test.") == "example.test")
        #expect(DNSName.queryName(String(repeating: "é", count: 60) + ".test") == nil)
    }

    @Test func ipv6Nameserver() async throws {
        guard TestDNSServer(table: [:], ipv6: true) != nil else { return } // no ::1 here: nothing to test
        try await withServer(ipv6: true) { resolver, server in
            #expect(await resolver.mx("example.test").value?.count == 3)
            #expect(await resolver.txt("example.test") == .records(["v=spf1 -all", "hello"]))
            #expect(server.queries.count == 2)
        }
    }

    @Test func endToEndMXAndFCrDNS() async throws {
        try await withServer { resolver, _ in
            var rng = SplitMix64(seed: 1)
            let route = await MXResolution(resolver: resolver).targets(for: "example.test", using: &rng)
            #expect(
                route
                    == .targets([
                        MXTarget(host: "mx1.example.test", preference: 10),
                        MXTarget(host: "mx2.example.test", preference: 20),
                        MXTarget(host: "example.test", preference: 30)
                    ]))
            #expect(await MXResolution(resolver: resolver).targets(for: "nullmx.test") == .nullMX)
            #expect(await MXResolution(resolver: resolver).targets(for: "nowhere.test") == .noSuchDomain)
            if case .temporaryFailure = await MXResolution(resolver: resolver).targets(for: "servfail.test") {
            } else {
                Issue.record("servfail.test should be a temporary failure")
            }
            let fcrdns = ForwardConfirmedReverseDNS(resolver: resolver)
            // 192.0.2.10 → mail.example.test (no A: NXDOMAIN), other.example.test (NXDOMAIN) → fail.
            let v4 = try #require(IPAddress("192.0.2.10")), v6 = try #require(IPAddress("2001:db8::25"))
            #expect(await fcrdns.check(ip: v4) == .fail)
            #expect(await fcrdns.verify(ip: v6) == "v6only.example.test")
        }
    }

    #if os(Linux)
        @Test func noDescriptorLeak() async throws {
            func openDescriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1 }
            try await withServer { resolver, _ in
                _ = await resolver.mx("example.test") // warm-up: pool thread, lazily opened files
                let before = openDescriptors()
                // /proc/self/fd counts the whole test process, where other suites open and close files at the
                // same time; 400 lookups make a per-lookup leak (>= 400) stand far above that noise (tens).
                for _ in 0..<200 {
                    #expect(await resolver.mx("example.test").value?.count == 3)
                    #expect(await resolver.addresses("v6only.example.test").value?.count == 1)
                }
                #expect(openDescriptors() - before < 100, "descriptors before \(before), after \(openDescriptors())")
            }
        }
    #endif

    @Test func timeoutSplitsIntoRetrans() throws {
        let ip = try #require(IPAddress("127.0.0.1"))
        #expect(LibresolvResolver(nameserver: ip, timeout: .seconds(5), runner: TestPools.dns).retransSeconds == 5)
        #expect(LibresolvResolver(nameserver: ip, timeout: .seconds(6), attempts: 2, runner: TestPools.dns).retransSeconds == 2)
        #expect(LibresolvResolver(nameserver: ip, timeout: .milliseconds(300), runner: TestPools.dns).retransSeconds == 1)
        #expect(LibresolvResolver(nameserver: ip, timeout: .seconds(5), attempts: 99, runner: TestPools.dns).attempts == 4)
    }
}
