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
        ("abc", "abc-"),
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
}
