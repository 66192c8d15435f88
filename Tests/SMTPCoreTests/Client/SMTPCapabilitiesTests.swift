import MailCore
import Testing

@testable import SMTPCore

@Suite struct SMTPCapabilitiesTests {
    private func ehlo(_ lines: [String]) -> SMTPCapabilities {
        SMTPCapabilities(ehloReply: SMTPReply(.ok, nil, lines: lines))
    }

    @Test func fullSet() {
        let caps = ehlo([
            "mx.example.test greets you", "PIPELINING", "SIZE 10240000", "8BITMIME", "SMTPUTF8", "STARTTLS",
            "AUTH PLAIN login", "AUTH=CRAM-MD5", "DSN", "ENHANCEDSTATUSCODES", "CHUNKING", "X-FOO bar"
        ])
        #expect(caps.serverName == "mx.example.test")
        #expect(caps.extended)
        #expect(caps.pipelining && caps.eightBitMIME && caps.smtpUTF8 && caps.startTLS && caps.dsn)
        #expect(caps.enhancedStatusCodes && caps.chunking && caps.sizeOffered)
        #expect(caps.maxSize == 10_240_000)
        #expect(caps.authMechanisms == ["PLAIN", "LOGIN", "CRAM-MD5"])
        #expect(caps.keywords["X-FOO"] == ["bar"])
    }

    @Test func nothingOffered() {
        let caps = ehlo(["mx.example.test"])
        #expect(!caps.pipelining && !caps.startTLS && !caps.sizeOffered && !caps.dsn)
        #expect(caps.maxSize == nil)
        #expect(caps.authMechanisms.isEmpty)
    }

    @Test(arguments: [("SIZE", Int64?.none), ("SIZE 0", nil), ("SIZE abc", nil), ("SIZE 52428800", 52_428_800)])
    func sizeValues(_ line: String, _ expected: Int64?) {
        let caps = ehlo(["mx", line])
        #expect(caps.sizeOffered)
        #expect(caps.maxSize == expected)
    }

    @Test func freeTextLinesAreSkipped() {
        let caps = ehlo(["mx", "", "  ", "-bad", "PIPE*LINING", "pipelining"])
        #expect(caps.pipelining)
        #expect(caps.keywords.keys.sorted() == ["PIPELINING"])
    }

    @Test func heloHasNoExtensions() {
        let caps = SMTPCapabilities(heloReply: SMTPReply(.ok, nil, "mx.example.test hello"))
        #expect(!caps.extended)
        #expect(caps.serverName == "mx.example.test")
        #expect(!caps.pipelining)
    }
}
