import Testing

@testable import MailCore

@Suite struct IDNATests {
    // RFC 3492 §7.1 sample strings (lower-case forms) and well-known IDN test names.
    @Test(arguments: [
        ("bücher", "bcher-kva"),
        ("münchen", "mnchen-3ya"),
        ("ü", "tda"),
        ("他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"),
        ("почемужеонинеговорятпорусски", "b1abfaaepdrnnbgefbadotcwatmq2g4l"),
        ("3年b組金八先生", "3b-ww4c5e180e575a65lsy2b"),
        ("abc", "abc-")
    ])
    func punycode(input: String, expected: String) {
        #expect(Punycode.encode(input) == expected)
    }

    @Test func domains() {
        #expect(IDNA.toASCII("Bücher.Example") == "xn--bcher-kva.example")
        #expect(IDNA.toASCII("exämple.test") == "xn--exmple-cua.test")
        #expect(IDNA.toASCII("plain.TEST") == "plain.test")
        #expect(IDNA.toASCII("[IPv6:::1]") == "[ipv6:::1]")
        #expect(IDNA.toASCII(String(repeating: "ü", count: 80) + ".test") == nil)
    }

    // MARK: - Decoding and the canonical key

    @Test(arguments: [
        ("bcher-kva", "bücher"),
        ("mnchen-3ya", "münchen"),
        ("tda", "ü"),
        ("ihqwcrb4cv8a8dqg056pqjye", "他们为什么不说中文"),
        ("b1abfaaepdrnnbgefbadotcwatmq2g4l", "почемужеонинеговорятпорусски"),
        ("3B-ww4c5e180e575a65lsy2b", "3年B組金八先生"), // basic code points keep their case
        ("egbpdaj6bu4bxfgehfvwxn", "ليهمابتكلموشعربي؟")
    ])
    func punycodeDecodes(input: String, expected: String) {
        #expect(Punycode.decode(input) == expected)
    }

    @Test(arguments: ["zz", "9", "99999999999999999999a", "ab_c", "bcher-kv!", "ü", String(repeating: "9", count: 300)])
    func punycodeRejects(input: String) {
        #expect(Punycode.decode(input) == nil)
    }

    /// The one-pass path for plain ASCII names answers exactly what the label-by-label path answers (and
    /// leaves to it everything it does not take): capitals, "xn--" in any case and anywhere, empty labels,
    /// labels of 63 and 64 octets, names of 255 and 256, and 20,000 generated names.
    @Test func thePlainASCIIPathAgreesWithTheLabelByLabelPath() {
        var names = [
            "example.test", "Example.TEST", "mx.bench.test", "a", "A", "xn--bcher-kva.example", "XN--BCHER-KVA.example",
            "xn--", "xn-", "axn--b.test", "foo.xN--bcher-kva", ".test", "test.", "a..b", "", "-a-.b-",
            String(repeating: "a", count: 63) + ".test", String(repeating: "B", count: 64) + ".test",
            (0..<4).map { _ in String(repeating: "c", count: 63) }.joined(separator: ".") + ".d",
            (0..<4).map { _ in String(repeating: "c", count: 63) }.joined(separator: ".") + ".de",
            "ex ample.test", "ex_ample.test", "bücher.example"
        ]
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("aAxXnN--9.")
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...24, using: &rng)
            names.append(String((0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] }))
        }
        var fast = 0
        for name in names {
            let general = IDNA.labelByLabel(name)
            if let plain = IDNA.plainASCIIDomain(name) {
                fast += 1
                #expect(general == .success(plain), "\(name)")
            }
            #expect(IDNA.canonicalDomain(name) == general, "\(name)")
        }
        #expect(fast > 1_000)
    }

    @Test func bothSpellingsHaveOneKey() throws {
        let forms = [
            "bücher.example", "BÜCHER.Example", "xn--bcher-kva.example", "XN--BCHER-KVA.EXAMPLE",
            "bu\u{0308}cher.example"
        ]
        for form in forms {
            #expect(try IDNA.canonicalDomain(form).get() == "xn--bcher-kva.example")
        }
        #expect(IDNA.canonicalKey("Plain.Example") == "plain.example")
        #expect(IDNA.canonicalKey("[IPv6:::1]") == "[ipv6:::1]")
        #expect(IDNA.canonicalKey("mail.xn--mnchen-3ya.de") == "mail.xn--mnchen-3ya.de")
        #expect(IDNA.toUnicode("mail.XN--MNCHEN-3YA.de") == "mail.münchen.de")
        #expect(IDNA.toUnicode("xn--zz.example") == "xn--zz.example")
        #expect(IDNA.toUnicode("plain.example") == "plain.example")
    }

    @Test func invalidNamesHaveNoKey() {
        #expect(IDNA.canonicalDomain("xn--zz.example") == .failure(.invalidALabel("xn--zz")))
        #expect(IDNA.canonicalDomain("xn--a-kfa.example") == .failure(.invalidALabel("xn--a-kfa"))) // decodes to "aÜ"
        let long = String(repeating: "a", count: 60) + "ü"
        #expect(IDNA.canonicalDomain(long + ".example") == .failure(.labelTooLong(long)))
        #expect(
            IDNA.canonicalDomain(String(repeating: "a", count: 64) + ".example")
                == .failure(.labelTooLong(String(repeating: "a", count: 64))))
        #expect(IDNA.canonicalDomain("a..example") == .failure(.emptyLabel))
        let many = Array(repeating: "üü", count: 20).joined(separator: ".") // 20 × "xn--tdaa" + dots = 179
        #expect(IDNA.canonicalKey(many) != nil)
        let tooMany = Array(repeating: "üüü", count: 30).joined(separator: ".")
        if case .failure(.domainTooLong) = IDNA.canonicalDomain(tooMany) {} else { Issue.record("accepted \(tooMany)") }
        #expect(!IDNAError.invalidALabel("xn--zz").description.isEmpty)
    }

    @Test func addressLookupKeyIsCanonical() throws {
        let u = try #require(EmailAddress("Anna@Bücher.Example"))
        let a = try #require(EmailAddress("anna@xn--bcher-kva.example"))
        #expect(u.lookupKey == "anna@xn--bcher-kva.example")
        #expect(u.lookupKey == a.lookupKey)
        #expect(u.routingDomain == "xn--bcher-kva.example")
        #expect(u.domain == "bücher.example") // the address keeps the spelling it was written with
        let bad = try #require(EmailAddress("anna@xn--zz.example"))
        #expect(bad.routingDomain == nil)
        #expect(bad.lookupKey == "anna@xn--zz.example")
    }
}
