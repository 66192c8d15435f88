import MailCore
import Testing

@testable import SMTPCore

@Suite struct SMTPReplyTests {
    private func text(_ reply: SMTPReply) -> String { String(decoding: reply.encoded, as: UTF8.self) }

    @Test func singleLineWithEnhancedCode() {
        #expect(text(SMTPReply(.ok, .ok, "Ok")) == "250 2.0.0 Ok\r\n")
    }

    @Test func multiLineRepeatsEnhancedCode() {
        #expect(text(SMTPReply(.ok, .ok, "first", "last")) == "250-2.0.0 first\r\n250 2.0.0 last\r\n")
    }

    @Test func withoutEnhancedCode() {
        #expect(text(.greeting(hostname: "mx.example.test")) == "220 mx.example.test ESMTP Petrel\r\n")
        #expect(text(.startMailInput) == "354 End data with <CR><LF>.<CR><LF>\r\n")
    }

    @Test func ehloAdvertisesExtensions() {
        #expect(
            text(.ehlo(hostname: "mx.example.test", maxMessageSize: 1000))
                == "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n"
                + "250-SMTPUTF8\r\n250-CHUNKING\r\n250 HELP\r\n")
    }

    @Test func emptyLinesEncodeAsBareCode() {
        #expect(text(SMTPReply(.ok, nil, lines: [])) == "250\r\n")
        #expect(text(SMTPReply(.ok, .ok, "")) == "250 2.0.0\r\n")
    }

    @Test func controlCharactersCannotInjectLines() {
        let reply = SMTPReply(.mailboxUnavailable, .badDestinationMailbox, "evil\r\n250 ok\u{0}")
        #expect(text(reply) == "550 5.1.1 evil  250 ok \r\n")
    }

    @Test(arguments: [
        (ReplyCode.serviceNotAvailable, true), (.closing, true), (.notAcceptingMail, true),
        (.ok, false), (.mailboxUnavailable, false), (.localError, false)
    ])
    func closesConnection(code: ReplyCode, closes: Bool) {
        #expect(SMTPReply(code, nil, "x").closesConnection == closes)
    }

    @Test func standardRepliesUseExpectedCodes() {
        #expect(text(.cannotVerify) == "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n")
        #expect(text(.queued("ABC")) == "250 2.0.0 Ok: queued as ABC\r\n")
        #expect(text(.chunkReceived(42)) == "250 2.0.0 42 octets received\r\n")
        #expect(text(.tooManyErrors(hostname: "h")) == "421 4.7.0 h Error: too many errors\r\n")
        #expect(text(.unknownUser("a@b")).hasPrefix("550 5.1.1 <a@b>: Recipient address rejected"))
    }
}
