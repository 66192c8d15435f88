import MailCore
import MailDNS
import Testing

@testable import MailAuthChecks

/// Table-driven DMARC (RFC 9989) tests: alignment, p/sp/np, t=y, the DNS Tree Walk for policy discovery
/// and the Organizational Domain (psd=y/n, no Public Suffix List), temporary errors.
@Suite struct DMARCTests {
    static let zone: [String: [String]] = [
        "_dmarc.example.com": ["v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com"],
        "_dmarc.strict.example": ["v=DMARC1; p=reject; aspf=s; adkim=s"],
        "_dmarc.testing.example": ["v=DMARC1; p=reject; t=y"],
        "_dmarc.testq.example": ["v=DMARC1; p=quarantine; t=y"],
        "_dmarc.np.example": ["v=DMARC1; p=reject; sp=none; np=reject"],
        "_dmarc.pct.example": ["v=DMARC1; p=reject; pct=0"],
        "_dmarc.bank": ["v=DMARC1; p=reject; psd=y"],
        "_dmarc.x.example.net": ["v=DMARC1; p=reject"],
        "_dmarc.two.example": ["v=DMARC1; p=reject", "v=DMARC1; p=none"],
        "_dmarc.other.example": ["some other text", "v=DMARC1; p=quarantine"],
        "_dmarc.corp.example.co.uk": ["v=DMARC1; p=reject; psd=n"],
        "_dmarc.co.uk": ["v=DMARC1; p=none; psd=y"],
        "_dmarc.nopolicy.example": ["v=DMARC1; rua=mailto:x@nopolicy.example"],
        "_dmarc.notfirst.example": ["p=reject; v=DMARC1"]
    ]
    static let mx: [String: [MXRecord]] = [
        "exists.np.example": [MXRecord(preference: 10, exchange: "mx.np.example")]
    ]

    struct Row: CustomTestStringConvertible, Sendable {
        var name: String
        var author: String
        var spf: (SPFResult, String)? = nil
        var dkim: [(DKIMStatus, String)] = []
        var result: DMARCOutcome.Result
        var disposition: DMARCPolicy = .none
        var policyDomain: String? = nil
        var org: String? = nil
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(
            name: "SPF pass, same domain", author: "example.com", spf: (.pass, "example.com"), result: .pass, policyDomain: "example.com",
            org: "example.com"),
        Row(name: "SPF pass, subdomain, relaxed", author: "example.com", spf: (.pass, "bounce.example.com"), result: .pass),
        Row(
            name: "DKIM pass, parent domain, relaxed", author: "mail.example.com", dkim: [(.pass, "example.com")], result: .pass,
            policyDomain: "example.com", org: "example.com"),
        Row(
            name: "sp applies to a subdomain without its own record", author: "mail.example.com", spf: (.pass, "evil.example"), result: .fail,
            disposition: .quarantine, policyDomain: "example.com"),
        Row(name: "p applies at the Author Domain", author: "example.com", spf: (.fail, "example.com"), result: .fail, disposition: .reject),
        Row(name: "unrelated DKIM pass does not align", author: "example.com", dkim: [(.pass, "evil.example")], result: .fail, disposition: .reject),
        Row(name: "a failing signature does not count", author: "example.com", dkim: [(.fail, "example.com")], result: .fail, disposition: .reject),
        Row(
            name: "one aligned pass among failures", author: "example.com", dkim: [(.fail, "example.com"), (.pass, "mail.example.com")], result: .pass
        ),
        Row(
            name: "strict SPF: subdomain does not align", author: "strict.example", spf: (.pass, "mail.strict.example"), result: .fail,
            disposition: .reject),
        Row(name: "strict DKIM: exact domain aligns", author: "strict.example", dkim: [(.pass, "STRICT.example")], result: .pass),
        Row(
            name: "strict DKIM: subdomain does not align", author: "strict.example", dkim: [(.pass, "a.strict.example")], result: .fail,
            disposition: .reject),
        Row(
            name: "t=y: reject becomes quarantine", author: "testing.example", spf: (.fail, "testing.example"), result: .fail,
            disposition: .quarantine),
        Row(name: "t=y: quarantine becomes none", author: "testq.example", result: .fail, disposition: .none),
        Row(name: "np for a non-existent subdomain", author: "ghost.np.example", spf: (.pass, "evil.example"), result: .fail, disposition: .reject),
        Row(name: "sp for an existing subdomain", author: "exists.np.example", spf: (.pass, "evil.example"), result: .fail, disposition: .none),
        Row(name: "pct= is ignored (removed by RFC 9989)", author: "pct.example", result: .fail, disposition: .reject),
        Row(name: "no record anywhere", author: "nothing.example", spf: (.fail, "nothing.example"), result: .none),
        Row(name: "two records count as none", author: "two.example", result: .none),
        Row(name: "non-DMARC TXT strings are skipped", author: "other.example", result: .fail, disposition: .quarantine),
        Row(name: "v=DMARC1 must come first", author: "notfirst.example", result: .none),
        Row(name: "missing p= is none", author: "nopolicy.example", result: .fail, disposition: .none),
        // psd=y: the Organizational Domain is one label below the PSD.
        Row(
            name: "PSD policy reaches registrations", author: "a.shop.bank", spf: (.pass, "evil.example"), result: .fail, disposition: .reject,
            policyDomain: "bank", org: "shop.bank"),
        Row(name: "PSD: siblings under the PSD align", author: "a.shop.bank", spf: (.pass, "b.shop.bank"), result: .pass, org: "shop.bank"),
        Row(name: "PSD: other registrations do not align", author: "shop.bank", dkim: [(.pass, "other.bank")], result: .fail, disposition: .reject),
        // No records above: a subdomain is its own Organizational Domain (the RFC 9989 change).
        Row(
            name: "no org record: sibling does not align", author: "x.example.net", spf: (.pass, "y.example.net"), result: .fail,
            disposition: .reject, org: "x.example.net"),
        // psd=n stops the walk there.
        Row(
            name: "psd=n fixes the org domain", author: "mail.corp.example.co.uk", dkim: [(.pass, "corp.example.co.uk")], result: .pass,
            policyDomain: "corp.example.co.uk", org: "corp.example.co.uk"),
        Row(
            name: "psd=n: sibling under the same PSD does not align", author: "corp.example.co.uk", spf: (.pass, "other.example.co.uk"),
            result: .fail, disposition: .reject)
    ]

    static func resolver(failures: [String: String] = [:]) -> StaticResolver {
        StaticResolver(mx: mx, txt: zone, failures: failures)
    }

    @Test(arguments: rows) func row(_ row: Row) async {
        let eval = DMARCEvaluator(resolver: Self.resolver())
        let spf = row.spf.map { SPFOutcome(result: $0.0, domain: $0.1) }
        let dkim = row.dkim.map { DKIMVerification(status: $0.0, domain: $0.1.lowercased()) }
        let resolver = Self.resolver()
        let out = await eval.evaluate(authorDomain: row.author, spf: spf, dkim: dkim) {
            await InboundAuthenticator.exists(row.author, resolver: resolver)
        }
        #expect(out.result == row.result, "\(out)")
        #expect(out.disposition == row.disposition, "\(out)")
        if let p = row.policyDomain { #expect(out.policyDomain == p) }
        if let o = row.org { #expect(out.organizationalDomain == o) }
    }

    @Test func treeWalkNames() {
        #expect(DMARCEvaluator.walk("a.mail.example.com") == ["a.mail.example.com", "mail.example.com", "example.com", "com"])
        // Eight or more labels: after the first query, jump to the last seven (at most 8 queries).
        let long = "a.b.c.d.e.f.g.h.i.example"
        let w = DMARCEvaluator.walk(long)
        #expect(w.count == 8)
        #expect(w[0] == long)
        #expect(w[1] == "d.e.f.g.h.i.example")
        #expect(w.last == "example")
    }

    @Test func temporaryErrorsNeverReject() async {
        // The DMARC look-up fails.
        let eval = DMARCEvaluator(resolver: Self.resolver(failures: ["_dmarc.example.com": "SERVFAIL"]))
        let out = await eval.evaluate(authorDomain: "example.com", spf: SPFOutcome(result: .fail, domain: "example.com"), dkim: []) { true }
        #expect(out.result == .temperror)
        #expect(out.disposition == .none)
        // SPF had a temporary error and nothing else passed.
        let eval2 = DMARCEvaluator(resolver: Self.resolver())
        let out2 = await eval2.evaluate(authorDomain: "example.com", spf: SPFOutcome(result: .temperror, domain: "example.com"), dkim: []) { true }
        #expect(out2.result == .temperror)
        #expect(out2.disposition == .none)
        // A DKIM key look-up failed for the author's domain.
        let out3 = await DMARCEvaluator(resolver: Self.resolver()).evaluate(
            authorDomain: "example.com", spf: nil, dkim: [DKIMVerification(status: .temperror, domain: "example.com")]
        ) { true }
        #expect(out3.result == .temperror)
        #expect(out3.disposition == .none)
    }

    @Test func lookupsAreCachedPerMessage() async {
        let eval = DMARCEvaluator(resolver: Self.resolver())
        _ = await eval.evaluate(
            authorDomain: "a.shop.bank", spf: SPFOutcome(result: .pass, domain: "b.shop.bank"),
            dkim: [DKIMVerification(status: .pass, domain: "c.shop.bank")]
        ) { true }
        // a.shop.bank, shop.bank, bank, b.shop.bank, c.shop.bank: each asked once.
        #expect(eval.queries == 5)
    }

    @Test func authorDomains() {
        func domains(_ from: String) -> [String] {
            AuthorDomains.from(MessageHeader.parse(Array("From: \(from)\r\n\r\n".utf8)))
        }
        #expect(domains("Alice <alice@Example.COM>") == ["example.com"])
        #expect(domains("alice@example.com") == ["example.com"])
        #expect(domains("\"Bob @ home\" <bob@example.net>") == ["example.net"])
        #expect(domains("a@x.example (comment @ y.example), b@z.example") == ["x.example", "z.example"])
        #expect(domains("friends: a@x.example, b@y.example;") == ["x.example", "y.example"])
        #expect(domains("José <jose@bücher.example>") == ["xn--bcher-kva.example"])
        #expect(domains("undisclosed") == [])
    }
}
