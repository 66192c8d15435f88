import MailCore
import MailDNS
import MailTestSupport
import Testing

@testable import MailAuthChecks

/// Network input (messages, DNS TXT records) mutated at random: every parser answers, none crashes.
@Suite struct HostileInputTests {
    static func mutate(_ bytes: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = bytes
        let alphabet: [UInt8] = Array(" \t\r\n;=:%{}/.@<>()\"\\-_a1".utf8) + [0, 0xff, 0x80]
        for _ in 0..<Int.random(in: 1...8, using: &rng) {
            guard !b.isEmpty else { break }
            let i = Int.random(in: 0..<b.count, using: &rng)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: b[i] = alphabet.randomElement(using: &rng) ?? 0
            case 1: b.remove(at: i)
            default: b.insert(alphabet.randomElement(using: &rng) ?? 0, at: i)
            }
        }
        return b
    }

    @Test func mutatedSignedMessagesNeverCrashTheVerifier() async throws {
        var rng = SplitMix64(seed: 42)
        let message = try RFC8463Tests.message()
        let verifier = RFC8463Tests.verifier()
        var statuses: [DKIMStatus: Int] = [:]
        for _ in 0..<300 {
            let m = Self.mutate(message, &rng)
            for r in await verifier.verify(.bytes(m)) { statuses[r.status, default: 0] += 1 }
            _ = AuthorDomains.from(MessageHeader.parse(m))
            _ = AuthenticationResults(authservID: "mx.example").forged(in: MessageHeader.parse(m))
        }
        // Most mutations break a signature; some hit only unsigned parts.
        #expect((statuses[.fail] ?? 0) + (statuses[.permerror] ?? 0) > 0)
    }

    @Test func mutatedRecordsNeverCrashSPFOrDMARC() async throws {
        var rng = SplitMix64(seed: 7)
        let spf = Array(
            "v=spf1 a:%{d}.example mx/24//64 ip4:192.0.2.0/24 ip6:2001:db8::/32 include:_spf.%{o} exists:%{ir}.%{l1r-}.e.example redirect=r.example exp=x.example -all"
                .utf8)
        let dmarc = Array("v=DMARC1; p=reject; sp=quarantine; np=reject; adkim=s; aspf=r; psd=n; t=y; rua=mailto:a@b.example".utf8)
        let ip = try #require(IPAddress("192.0.2.1"))
        for _ in 0..<300 {
            let record = String(decoding: Self.mutate(spf, &rng), as: UTF8.self)
            let resolver = StaticResolver(
                addresses: ["a.example.example": [ip]],
                txt: [
                    "a.example": [record],
                    "_dmarc.a.example": [String(decoding: Self.mutate(dmarc, &rng), as: UTF8.self)]
                ])
            let r = await SPFEvaluator(resolver: resolver).checkHost(ip: ip, domain: "a.example", sender: "u@a.example", helo: "h.example")
            #expect(SPFResult.allCases.contains(r.result))
            let d = await DMARCEvaluator(resolver: resolver).evaluate(authorDomain: "a.example", spf: r, dkim: []) { true }
            #expect(d.disposition <= .reject)
        }
    }
}
