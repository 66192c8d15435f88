import Foundation
import MailCore
import MailDNS
import Testing

@testable import MailAuthChecks

/// The §4.6.4 limits and the time budget, beyond what the OpenSPF suite covers.
@Suite struct SPFLimitTests {
    static let ip = IPAddress("192.0.2.7")!

    /// Answers after `delay` (a nameserver that is slow but not dead).
    struct SlowResolver: DNSResolver {
        var inner: StaticResolver
        var delay: Duration
        func pause() async { try? await Task.sleep(for: delay) }
        func mx(_ domain: String) async -> DNSAnswer<[MXRecord]> { await pause(); return await inner.mx(domain) }
        func addresses(_ host: String) async -> DNSAnswer<[IPAddress]> { await pause(); return await inner.addresses(host) }
        func ptr(_ ip: IPAddress) async -> DNSAnswer<[String]> { await pause(); return await inner.ptr(ip) }
        func txt(_ name: String) async -> DNSAnswer<[String]> { await pause(); return await inner.txt(name) }
    }

    @Test func timeBudgetEndsAnEvaluationAsTemperror() async {
        // A chain of 9 includes, each look-up taking 100 ms, with a 250 ms budget.
        var txt: [String: [String]] = [:]
        for i in 0..<9 { txt["l\(i).example"] = ["v=spf1 include:l\(i + 1).example -all"] }
        txt["l9.example"] = ["v=spf1 +all"]
        var e = SPFEvaluator(resolver: SlowResolver(inner: StaticResolver(txt: txt), delay: .milliseconds(100)))
        e.timeBudget = .milliseconds(250)
        let started = ContinuousClock.now
        let r = await e.checkHost(ip: Self.ip, domain: "l0.example", sender: "a@l0.example", helo: "h.example")
        #expect(r.result == .temperror, "\(r)")
        #expect(r.detail.contains("longer than"))
        // The result proves the budget ended it; the time bound only says it did not hang (loaded CI).
        #expect(ContinuousClock.now - started < .seconds(30))
        // The same chain without the budget passes.
        var unlimited = e
        unlimited.timeBudget = .seconds(20)
        #expect(await unlimited.checkHost(ip: Self.ip, domain: "l0.example", sender: "a@l0.example", helo: "h.example").result == .pass)
    }

    /// Moves a manual clock forward by `step` on every look-up: the budget is measured on the injected
    /// clock, so it ends the evaluation at an exact look-up, with no sleeping.
    struct ClockAdvancingResolver: DNSResolver {
        var inner: StaticResolver
        var clock: ManualMailClock
        var step: TimeInterval
        func mx(_ domain: String) async -> DNSAnswer<[MXRecord]> { clock.advance(step); return await inner.mx(domain) }
        func addresses(_ host: String) async -> DNSAnswer<[IPAddress]> { clock.advance(step); return await inner.addresses(host) }
        func ptr(_ ip: IPAddress) async -> DNSAnswer<[String]> { clock.advance(step); return await inner.ptr(ip) }
        func txt(_ name: String) async -> DNSAnswer<[String]> { clock.advance(step); return await inner.txt(name) }
    }

    @Test func timeBudgetIsMeasuredOnTheInjectedClock() async {
        var txt: [String: [String]] = [:]
        for i in 0..<9 { txt["l\(i).example"] = ["v=spf1 include:l\(i + 1).example -all"] }
        txt["l9.example"] = ["v=spf1 +all"]
        let clock = ManualMailClock(Date(timeIntervalSince1970: 1_800_000_000))
        // Ten look-ups of 3 s each: 30 s in all.
        var e = SPFEvaluator(resolver: ClockAdvancingResolver(inner: StaticResolver(txt: txt), clock: clock, step: 3))
        e.clock = clock
        e.timeBudget = .seconds(20)
        let r = await e.checkHost(ip: Self.ip, domain: "l0.example", sender: "a@l0.example", helo: "h.example")
        #expect(r.result == .temperror, "\(r)")
        #expect(r.detail.contains("longer than"))
        e.timeBudget = .seconds(31)
        #expect(await e.checkHost(ip: Self.ip, domain: "l0.example", sender: "a@l0.example", helo: "h.example").result == .pass)
    }

    @Test func voidLookupLimit() async {
        let resolver = StaticResolver(txt: [
            "two.example": ["v=spf1 a:n1.example a:n2.example ip4:192.0.2.7 -all"],
            "three.example": ["v=spf1 a:n1.example a:n2.example mx:n3.example ip4:192.0.2.7 -all"]
        ])
        let e = SPFEvaluator(resolver: resolver)
        #expect(await e.checkHost(ip: Self.ip, domain: "two.example", sender: "a@two.example", helo: "h").result == .pass)
        let r = await e.checkHost(ip: Self.ip, domain: "three.example", sender: "a@three.example", helo: "h")
        #expect(r.result == .permerror)
        #expect(r.detail.contains("void"))
    }

    @Test func lookupLimitCountsAcrossIncludes() async {
        // 11 DNS-querying terms in all (1 include + 10 exists) → permerror; 10 are fine.
        let exists = (1...10).map { "exists:e\($0).example" }.joined(separator: " ")
        let resolver = StaticResolver(
            addresses: Dictionary(uniqueKeysWithValues: (1...10).map { ("e\($0).example", [IPAddress("127.0.0.2")!]) }),
            txt: [
                "top.example": ["v=spf1 include:inner.example -all"],
                "inner.example": ["v=spf1 \(exists) -all"],
                "ten.example": ["v=spf1 " + (1...10).map { "-exists:x\($0).example" }.joined(separator: " ") + " +all"]
            ])
        let e = SPFEvaluator(resolver: resolver)
        // inner: the first exists already matches → pass after 2 terms.
        #expect(await e.checkHost(ip: Self.ip, domain: "top.example", sender: "a@top.example", helo: "h").result == .pass)
        var r = await e.checkHost(ip: Self.ip, domain: "ten.example", sender: "a@ten.example", helo: "h")
        // Ten non-matching exists (each a void look-up: the void limit of 2 triggers first).
        #expect(r.result == .permerror)
        var relaxed = e
        relaxed.voidLookupLimit = 100
        r = await relaxed.checkHost(ip: Self.ip, domain: "ten.example", sender: "a@ten.example", helo: "h")
        #expect(r.result == .pass, "10 terms are allowed: \(r)")
        #expect(r.lookups == 10)
    }
}

@Suite struct DKIMLimitTests {
    @Test func atMostTenSignaturesAreVerified() async throws {
        let key = DKIMSigner.Key(domain: "example.org", selector: "s", privateKey: try .generate(.ed25519))
        let resolver = StaticResolver(txt: ["s._domainkey.example.org": [key.privateKey.dnsRecord]])
        let msg = Array("From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n".utf8)
        var signed = msg
        for _ in 0..<11 { signed = try DKIMSigner().sign(.bytes(msg), keys: [key], now: 1_800_000_000) + signed }
        var v = DKIMVerifier(resolver: resolver)
        v.clock = ManualMailClock(Date(timeIntervalSince1970: TimeInterval(1_800_000_000)))
        let results = await v.verify(.bytes(signed))
        #expect(results.count == 11)
        #expect(results.prefix(10).allSatisfy { $0.status == .pass })
        #expect(results.last?.status == .permerror)
    }

    @Test func oversizedHeaderSectionIsNotSignedOrVerified() async throws {
        let key = DKIMSigner.Key(domain: "example.org", selector: "s", privateKey: try .generate(.ed25519))
        var big = "From: a@example.org\r\n"
        for i in 0..<20_000 { big += "X-Filler-\(i): \(String(repeating: "y", count: 50))\r\n" }
        big += "\r\nbody\r\n"
        #expect(throws: DKIMSigner.SignError.self) { try DKIMSigner().sign(.bytes(Array(big.utf8)), keys: [key], now: 1) }
        let sig = "DKIM-Signature: v=1; a=ed25519-sha256; d=example.org; s=s; h=from; bh=AAAA; b=AAAA\r\n"
        let results = await DKIMVerifier(resolver: StaticResolver()).verify(.bytes(Array((sig + big).utf8)))
        #expect(results.map(\.status) == [.temperror])
    }
}
