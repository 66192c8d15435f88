import MailCore
import Testing

@Suite struct BodyFormTests {
    static func form(_ text: String) -> BodyForm { BodyForm.scan(Array(text.utf8)) }

    @Test func scanFindsEachProperty() {
        #expect(Self.form("") == [.crlfLines, .noDotLineStart, .noNUL])
        #expect(Self.form("a\r\nb\r\n") == [.crlfLines, .noDotLineStart, .noNUL])
        #expect(Self.form("a.\r\n") == [.crlfLines, .noDotLineStart, .noNUL])
        // The last line is not ended, a bare LF, a lone CR at the end.
        #expect(Self.form("a\r\nb") == [.noDotLineStart, .noNUL])
        #expect(Self.form("a\nb\r\n") == [.noDotLineStart, .noNUL])
        #expect(Self.form("a\r") == [.noDotLineStart, .noNUL])
        // A CR inside a line does not matter to POP3 (it is sent as it is).
        #expect(Self.form("a\rb\r\n") == [.crlfLines, .noDotLineStart, .noNUL])
        // A "." at the very start, or after any LF (even a bare one).
        #expect(Self.form(".a\r\n") == [.crlfLines, .noNUL])
        #expect(Self.form("a\r\n.\r\n") == [.crlfLines, .noNUL])
        #expect(Self.form("a\n.b\r\n") == [.noNUL])
        #expect(Self.form("a\u{0}\r\n") == [.crlfLines, .noDotLineStart])
    }

    @Test func whatTheDataDecoderPromises() {
        #expect(BodyForm.smtpData(lineStartsWithDot: false).isPOP3Verbatim)
        #expect(!BodyForm.smtpData(lineStartsWithDot: true).isPOP3Verbatim)
        #expect(BodyForm.smtpData(lineStartsWithDot: true).contains(.noNUL))
        #expect(!BodyForm([.noDotLineStart, .noNUL]).isPOP3Verbatim)
    }

    /// The form of a concatenation is the form of the joined octets, for every pair of short texts.
    @Test func concatenationAgreesWithAScanOfTheJoinedOctets() {
        let pieces = ["", "a", ".", "\r\n", "\n", "\r", "a\r\n", ".b\r\n", "\u{0}", "x\r\n.\r\n"]
        for p in pieces {
            for r in pieces {
                let joined = BodyForm.scan(Array((p + r).utf8))
                let combined = BodyForm.concatenation(prefix: Self.form(p), rest: Self.form(r))
                // Never claims more than is true; exact whenever the prefix ends a line.
                #expect(joined.isSuperset(of: combined), "\(p.debugDescription) + \(r.debugDescription)")
                if Self.form(p).contains(.crlfLines) {
                    #expect(joined == combined, "\(p.debugDescription) + \(r.debugDescription)")
                }
            }
        }
    }
}
