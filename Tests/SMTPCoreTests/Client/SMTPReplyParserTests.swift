import MailCore
import Testing

@testable import SMTPCore

@Suite struct SMTPReplyParserTests {
    private func parseAll(_ text: String, maxLineLength: Int = 4096, maxLines: Int = 100) throws(SMTPReplyParseError) -> [SMTPReply] {
        var parser = SMTPReplyParser(maxLineLength: maxLineLength, maxLines: maxLines)
        parser.feed(Array(text.utf8))
        var replies: [SMTPReply] = []
        while let reply = try parser.next() { replies.append(reply) }
        return replies
    }

    @Test func singleLine() throws {
        let replies = try parseAll("220 mx.example.test ESMTP ready\r\n")
        #expect(replies == [SMTPReply(.serviceReady, nil, "mx.example.test ESMTP ready")])
    }

    @Test func multiLine() throws {
        let replies = try parseAll("250-mx.example.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n")
        #expect(replies.count == 1)
        #expect(replies.first?.code == .ok)
        #expect(replies.first?.lines == ["mx.example.test", "PIPELINING", "SIZE 1000"])
    }

    @Test func enhancedCodeIsSeparated() throws {
        let replies = try parseAll("550-5.1.1 No such user\r\n550 5.1.1 here\r\n")
        #expect(replies.first?.enhanced == .badDestinationMailbox)
        #expect(replies.first?.lines == ["No such user", "here"])
    }

    /// An x.y.z whose class differs from the reply code is text, not an enhanced code.
    @Test func enhancedCodeWithWrongClassIsText() throws {
        let reply = try #require(try parseAll("250 5.0.0 odd\r\n").first)
        #expect(reply.enhanced == nil)
        #expect(reply.lines == ["5.0.0 odd"])
    }

    @Test func bareCodeAndBareLF() throws {
        let replies = try parseAll("250\n354 go ahead\r\n")
        #expect(replies.map(\.code) == [.ok, .startMailInput])
        #expect(replies.first?.lines == [""])
    }

    @Test func incrementalFeeding() throws {
        var parser = SMTPReplyParser()
        parser.feed(Array("250-first\r".utf8))
        #expect(try parser.next() == nil)
        parser.feed(Array("\n250 la".utf8))
        #expect(try parser.next() == nil)
        #expect(parser.hasBufferedInput)
        parser.feed(Array("st\r\n".utf8))
        #expect(try parser.next()?.lines == ["first", "last"])
        #expect(try parser.next() == nil)
    }

    @Test(arguments: [
        "25 short\r\n", "abc text\r\n", "650 bad class\r\n", "160 preliminary\r\n", "2500 too long\r\n",
        "250_x\r\n", "250 bell\u{07}\r\n", "\r\n"
    ])
    func malformedLines(_ text: String) {
        #expect(throws: SMTPReplyParseError.self) { try parseAll(text) }
    }

    @Test func codeMustNotChangeInMultiLine() {
        #expect(throws: SMTPReplyParseError.inconsistentCode(first: 250, line: 251)) {
            try parseAll("250-a\r\n251 b\r\n")
        }
    }

    @Test func lineTooLong() {
        let long = "250 " + String(repeating: "x", count: 200) + "\r\n"
        #expect(throws: SMTPReplyParseError.lineTooLong(limit: 100)) { try parseAll(long, maxLineLength: 100) }
        // Also before the line ends.
        var parser = SMTPReplyParser(maxLineLength: 100)
        parser.feed(Array(repeating: UInt8(ascii: "x"), count: 150))
        #expect(throws: SMTPReplyParseError.lineTooLong(limit: 100)) { try parser.next() }
    }

    @Test func tooManyLines() {
        let text = String(repeating: "250-x\r\n", count: 5) + "250 end\r\n"
        #expect(throws: SMTPReplyParseError.tooManyLines(limit: 3)) { try parseAll(text, maxLines: 3) }
    }

    @Test func resetDropsBufferedInput() throws {
        var parser = SMTPReplyParser()
        parser.feed(Array("220 go ahead\r\n250 injected\r\n".utf8))
        #expect(try parser.next()?.code == .serviceReady)
        parser.reset()
        #expect(try parser.next() == nil)
        #expect(!parser.hasBufferedInput)
    }
}
