/// `EmailAddress.routingDomain` (the one routing-domain key of MailCore) and `MailPath(_:)`, the parser
/// that turns a stored envelope sender back into a value.
import MailCore
import Testing

@Suite struct RoutingDomainTests {
    @Test(arguments: [
        ("anna@example.test", "example.test"),
        ("anna@EXAMPLE.Test", "example.test"),
        ("anna@bücher.example", "xn--bcher-kva.example"),
        ("anna@BÜCHER.example", "xn--bcher-kva.example"),
        ("anna@bu\u{0308}cher.example", "xn--bcher-kva.example"), // decomposed ü: NFC first
        ("anna@XN--BCHER-KVA.example", "xn--bcher-kva.example"),
        ("anna@sub.bücher.example", "sub.xn--bcher-kva.example"),
        ("anna@[192.0.2.1]", "[192.0.2.1]"),
        ("anna@[IPv6:2001:DB8::1]", "[ipv6:2001:db8::1]")
    ])
    func routingDomain(address: String, expected: String) throws {
        let parsed = try #require(EmailAddress(address))
        #expect(parsed.routingDomain == expected)
        #expect(try parsed.checkedRoutingDomain.get() == expected)
        // The lookup key is built on it: one key for every spelling.
        #expect(parsed.lookupKey.hasSuffix("@" + expected))
    }

    @Test(arguments: [
        "anna@xn--zz.example", "anna@xn--a-kfa.example",
        "anna@" + String(repeating: "a", count: 60) + "ü.example"
    ])
    func noRoutingDomainForAnInvalidIDN(address: String) throws {
        let parsed = try #require(EmailAddress(address))
        #expect(parsed.routingDomain == nil)
        guard case .failure(let error) = parsed.checkedRoutingDomain else {
            Issue.record("\(address) has a routing domain")
            return
        }
        #expect(!error.description.isEmpty)
    }

    @Test func sameMailboxAcrossSpellings() throws {
        let u = try #require(EmailAddress("A@bücher.example"))
        let a = try #require(EmailAddress("a@xn--bcher-kva.example"))
        #expect(u.isSameMailbox(as: a))
        #expect(!u.isSameMailbox(as: try #require(EmailAddress("b@bücher.example"))))
        #expect(!u.isSameMailbox(as: try #require(EmailAddress("a@bucher.example"))))
    }

    @Test(arguments: [
        "<>", "<a@example.test>", "<\"a b\"@example.test>", "<\"a\\\\b\"@example.test>",
        "<ü@bücher.example>", "<a@[192.0.2.1]>", "<a@[ipv6:2001:db8::1]>", "<postmaster@x.test>"
    ])
    func storedPathsRoundTrip(text: String) throws {
        let path = try #require(MailPath(text))
        #expect(path.description == text)
        #expect(MailPath(path.description) == path)
    }

    @Test func storedPathValues() throws {
        #expect(MailPath("<>") == .null)
        #expect(MailPath("<>")?.isNull == true)
        let path = try #require(MailPath("<Anna@Bücher.Example>"))
        #expect(path.address?.localPart == "Anna")
        #expect(path.address?.routingDomain == "xn--bcher-kva.example")
        // A source route is parsed and dropped (RFC 5321 §4.1.1.3).
        #expect(MailPath("<@relay.test:a@example.test>") == MailPath("<a@example.test>"))
    }

    /// Every path the parser accepts is stored by its `description` and must parse back to itself — also
    /// when lower-casing lengthens the domain ("İ" → "i̇"): such a domain is refused when first parsed.
    @Test func everyParsedPathReParsesFromItsDescription() {
        let locals = ["a", "A.b", "\"a b\"", "\"a\\\"b\"", "\"a\"", "ü", "x+y", "\"" + String(repeating: "q", count: 60) + "\""]
        let domains = [
            "example.test", "EXAMPLE.Test", "bücher.example", "İİ.example", String(repeating: "İ", count: 31) + ".example",
            String(repeating: "İ", count: 21) + ".example", "[192.0.2.1]", "[IPv6:2001:DB8::1]",
            (1...4).map { _ in String(repeating: "a", count: 62) }.joined(separator: "."),
            (1...9).map { _ in "İİİİİİİİİİİİİ" }.joined(separator: ".")
        ]
        var parsed = 0
        for local in locals {
            for domain in domains {
                for route in ["", "@relay.test:"] {
                    let text = "<\(route)\(local)@\(domain)>"
                    guard let (path, rest) = try? MailboxSyntax.parsePath(Array(text.utf8)[...], allowNull: false) else { continue }
                    parsed += 1
                    #expect(rest.isEmpty)
                    #expect(MailPath(path.description) == path, "\(text) -> \(path)")
                }
            }
        }
        #expect(parsed > 100)
        // The over-long lower-cased label is refused, not stored.
        #expect(EmailAddress("a@" + String(repeating: "İ", count: 31) + ".example") == nil)
        #expect(EmailAddress("a@" + String(repeating: "İ", count: 21) + ".example") != nil)
    }

    @Test(arguments: [
        "", "a@example.test", "<a@example.test", "<a@example.test> ", " <a@example.test>",
        "<a@example.test>x", "<<>>", "<a@@example.test>", "<a@example.test.>"
    ])
    func notAStoredPath(text: String) {
        #expect(MailPath(text) == nil)
    }
}
