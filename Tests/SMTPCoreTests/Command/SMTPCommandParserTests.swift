import MailCore
import Testing

@testable import SMTPCore

/// Expected parse result: a command, or the reply code and enhanced code of the rejection.
enum ParseExpectation: Sendable, CustomStringConvertible {
    case ok(SMTPCommand)
    case fail(Int, String)
    var description: String {
        switch self {
        case .ok(let c): return "ok(\(c))"
        case .fail(let code, let enhanced): return "fail(\(code) \(enhanced))"
        }
    }
}

private func addr(_ text: String) -> EmailAddress {
    guard let a = EmailAddress(text) else { Issue.record("bad test address \(text)"); return EmailAddress(localPart: "x", domain: "x") }
    return a
}

private func mail(
    _ path: MailPath, size: Int? = nil, body: BodyType? = nil, utf8: Bool = false,
    _ params: [(String, String?)] = []
) -> SMTPCommand {
    .mail(
        MailCommand(
            reversePath: path, size: size, body: body, smtpUTF8: utf8,
            parameters: params.map { ESMTPParameter(keyword: $0.0, value: $0.1) }))
}

private func dsnMail(ret: DSNReturn?, envid: String?, _ params: [(String, String?)]) -> SMTPCommand {
    var command = MailCommand(
        reversePath: .mailbox(addr("a@b.test")),
        parameters: params.map { ESMTPParameter(keyword: $0.0, value: $0.1) })
    command.dsnReturn = ret
    command.envelopeID = envid
    return .mail(command)
}

private func dsnRcpt(notify: DSNNotify?, orcpt: String?, _ params: [(String, String?)]) -> RcptCommand {
    RcptCommand(
        recipient: .address(addr("bob@example.test")),
        parameters: params.map { ESMTPParameter(keyword: $0.0, value: $0.1) }, notify: notify, originalRecipient: orcpt)
}

@Suite struct SMTPCommandParserTests {
    static let cases: [(String, ParseExpectation)] = [
        // EHLO / HELO
        ("EHLO client.example.test", .ok(.ehlo("client.example.test"))),
        ("ehlo Client.Example.Test", .ok(.ehlo("Client.Example.Test"))),
        ("EHLO my_host.local", .ok(.ehlo("my_host.local"))),
        ("EHLO [192.0.2.1]", .ok(.ehlo("[192.0.2.1]"))),
        ("EHLO [IPv6:2001:db8::1]", .ok(.ehlo("[IPv6:2001:db8::1]"))),
        ("EHLO host   ", .ok(.ehlo("host"))),
        ("HELO host", .ok(.helo("host"))),
        ("EHLO", .fail(501, "5.5.4")),
        ("EHLO ", .fail(501, "5.5.4")),
        ("EHLO two words", .fail(501, "5.5.4")),
        ("EHLO [300.1.1.1]", .fail(501, "5.5.4")),
        ("EHLO [1.2.3.4", .fail(501, "5.5.4")),
        ("EHLO a<b>", .fail(501, "5.5.4")),
        ("EHLO ...", .fail(501, "5.5.4")),
        ("HELO", .fail(501, "5.5.4")),
        // Raw UTF-8 (RFC 6531 U-labels): accepted when it is a usable IDN, refused otherwise.
        ("EHLO évil.test", .ok(.ehlo("évil.test"))),
        ("EHLO Bücher.Example.", .ok(.ehlo("Bücher.Example."))),
        ("EHLO mail.例え.jp", .ok(.ehlo("mail.例え.jp"))),
        ("EHLO a\u{85}b.test", .fail(501, "5.5.4")), // C1 control (NEL)
        ("EHLO a\u{2028}b.test", .fail(501, "5.5.4")), // line separator
        ("EHLO a\u{200B}b.test", .fail(501, "5.5.4")), // zero-width space (format)
        ("EHLO ☃.test", .fail(501, "5.5.4")), // a symbol, not a letter
        ("EHLO é..test", .fail(501, "5.5.4")), // empty label
        ("EHLO \(String(repeating: "a", count: 60))é.test", .fail(501, "5.5.4")), // A-label over 63 octets
        // MAIL
        ("MAIL FROM:<alice@example.test>", .ok(mail(.mailbox(addr("alice@example.test"))))),
        ("mail from:<alice@example.test>", .ok(mail(.mailbox(addr("alice@example.test"))))),
        ("MAIL FROM: <alice@example.test>", .ok(mail(.mailbox(addr("alice@example.test"))))),
        ("MAIL FROM:<>", .ok(mail(.null))),
        ("MAIL FROM:<@relay.test:alice@example.test>", .ok(mail(.mailbox(addr("alice@example.test"))))),
        ("MAIL FROM:<a@b.test> SIZE=1000", .ok(mail(.mailbox(addr("a@b.test")), size: 1000, [("SIZE", "1000")]))),
        (
            "MAIL FROM:<a@b.test> size=99999999999999999999999",
            .ok(mail(.mailbox(addr("a@b.test")), size: Int.max, [("SIZE", "99999999999999999999999")]))
        ),
        ("MAIL FROM:<a@b.test> BODY=8bitmime", .ok(mail(.mailbox(addr("a@b.test")), body: .eightBitMIME, [("BODY", "8bitmime")]))),
        (
            "MAIL FROM:<a@b.test> BODY=7BIT SMTPUTF8",
            .ok(mail(.mailbox(addr("a@b.test")), body: .sevenBit, utf8: true, [("BODY", "7BIT"), ("SMTPUTF8", nil)]))
        ),
        (
            "MAIL FROM:<a@b.test>  SIZE=5   SMTPUTF8",
            .ok(mail(.mailbox(addr("a@b.test")), size: 5, utf8: true, [("SIZE", "5"), ("SMTPUTF8", nil)]))
        ),
        ("MAIL FROM:<ü@bücher.test> SMTPUTF8", .ok(mail(.mailbox(addr("ü@bücher.test")), utf8: true, [("SMTPUTF8", nil)]))),
        ("MAIL", .fail(501, "5.5.4")),
        ("MAIL TO:<a@b.test>", .fail(501, "5.5.4")),
        ("MAIL FROM:", .fail(501, "5.5.4")),
        ("MAIL FROM:alice@example.test", .fail(501, "5.1.7")),
        ("MAIL FROM:<alice>", .fail(501, "5.1.7")),
        ("MAIL FROM:<alice@example.test", .fail(501, "5.1.7")),
        ("MAIL FROM:<a@b.test>SIZE=10", .fail(501, "5.5.4")),
        ("MAIL FROM:<a@b.test> SIZE=", .fail(501, "5.5.4")),
        ("MAIL FROM:<a@b.test> SIZE=12a", .fail(501, "5.5.4")),
        ("MAIL FROM:<a@b.test> SIZE=1 SIZE=2", .fail(501, "5.5.4")),
        ("MAIL FROM:<a@b.test> BODY=BINARYMIME", .fail(501, "5.5.4")),
        ("MAIL FROM:<a@b.test> SMTPUTF8=yes", .fail(501, "5.5.4")),
        ("MAIL FROM:<a@b.test> =x", .fail(501, "5.5.4")),
        ("MAIL FROM:<a@b.test> X-FOO=1", .fail(555, "5.5.4")),
        // DSN (RFC 3461 §4.3, §4.4)
        ("MAIL FROM:<a@b.test> RET=HDRS", .ok(dsnMail(ret: .headers, envid: nil, [("RET", "HDRS")]))),
        ("MAIL FROM:<a@b.test> ret=full ENVID=QQ314159", .ok(dsnMail(ret: .full, envid: "QQ314159", [("RET", "full"), ("ENVID", "QQ314159")]))),
        ("MAIL FROM:<a@b.test> ENVID=a+2Bb+3Dc", .ok(dsnMail(ret: nil, envid: "a+b=c", [("ENVID", "a+2Bb+3Dc")]))),
        ("MAIL FROM:<a@b.test> RET=BODY", .fail(501, "5.5.4")),
        ("MAIL FROM:<a@b.test> RET=FULL RET=HDRS", .fail(501, "5.5.4")),
        ("MAIL FROM:<a@b.test> ENVID=a+2", .fail(501, "5.5.4")),
        ("MAIL FROM:<a@b.test> ENVID=a+0Ab", .fail(501, "5.5.4")),
        ("MAIL FROM:<a@b.test> ENVID=\(String(repeating: "x", count: 101))", .fail(501, "5.5.4")),
        // AUTH= (RFC 4954 §5) is accepted and ignored
        ("MAIL FROM:<a@b.test> AUTH=<>", .ok(mail(.mailbox(addr("a@b.test")), [("AUTH", "<>")]))),
        ("MAIL FROM:<a@b.test> AUTH=a+2Bb@c.test SIZE=5", .ok(mail(.mailbox(addr("a@b.test")), size: 5, [("AUTH", "a+2Bb@c.test"), ("SIZE", "5")]))),
        ("MAIL FROM:<a@b.test> AUTH", .fail(501, "5.5.4")),
        ("MAIL FROM:<a@b.test> AUTH=<> AUTH=<>", .fail(501, "5.5.4")),
        // RCPT
        ("RCPT TO:<bob@example.test>", .ok(.rcpt(RcptCommand(recipient: .address(addr("bob@example.test")))))),
        ("rcpt to: <bob@example.test>", .ok(.rcpt(RcptCommand(recipient: .address(addr("bob@example.test")))))),
        ("RCPT TO:<Postmaster>", .ok(.rcpt(RcptCommand(recipient: .barePostmaster)))),
        ("RCPT TO:<pOSTMASTER>", .ok(.rcpt(RcptCommand(recipient: .barePostmaster)))),
        ("RCPT TO:<postmaster@example.test>", .ok(.rcpt(RcptCommand(recipient: .address(addr("postmaster@example.test")))))),
        (
            "RCPT TO:<\"john doe\"@example.test>",
            .ok(.rcpt(RcptCommand(recipient: .address(EmailAddress(localPart: "john doe", domain: "example.test")))))
        ),
        ("RCPT TO:<bob@[192.0.2.7]>", .ok(.rcpt(RcptCommand(recipient: .address(EmailAddress(localPart: "bob", domain: "[192.0.2.7]")))))),
        ("RCPT TO:<>", .fail(501, "5.1.3")),
        ("RCPT TO:bob@example.test", .fail(501, "5.1.3")),
        ("RCPT TO:<bob@example..test>", .fail(501, "5.1.3")),
        ("RCPT FROM:<bob@example.test>", .fail(501, "5.5.4")),
        ("RCPT", .fail(501, "5.5.4")),
        // DSN (RFC 3461 §4.1, §4.2)
        ("RCPT TO:<bob@example.test> NOTIFY=NEVER", .ok(.rcpt(dsnRcpt(notify: .never, orcpt: nil, [("NOTIFY", "NEVER")])))),
        (
            "RCPT TO:<bob@example.test> NOTIFY=success,DELAY",
            .ok(.rcpt(dsnRcpt(notify: [.success, .delay], orcpt: nil, [("NOTIFY", "success,DELAY")])))
        ),
        (
            "RCPT TO:<bob@example.test> NOTIFY=FAILURE ORCPT=rfc822;Bob+40example.test",
            .ok(.rcpt(dsnRcpt(notify: .failure, orcpt: "rfc822;Bob@example.test", [("NOTIFY", "FAILURE"), ("ORCPT", "rfc822;Bob+40example.test")])))
        ),
        ("RCPT TO:<bob@example.test> NOTIFY=NEVER,FAILURE", .fail(501, "5.5.4")),
        ("RCPT TO:<bob@example.test> NOTIFY=FAILURE,FAILURE", .fail(501, "5.5.4")),
        ("RCPT TO:<bob@example.test> NOTIFY=SOMETIMES", .fail(501, "5.5.4")),
        ("RCPT TO:<bob@example.test> NOTIFY=DELAY NOTIFY=DELAY", .fail(501, "5.5.4")),
        ("RCPT TO:<bob@example.test> ORCPT=bob@example.test", .fail(501, "5.5.4")),
        ("RCPT TO:<bob@example.test> ORCPT=;bob@example.test", .fail(501, "5.5.4")),
        ("RCPT TO:<bob@example.test> ORCPT=rfc822;", .fail(501, "5.5.4")),
        ("RCPT TO:<bob@example.test> SIZE=1", .fail(555, "5.5.4")),
        ("RCPT TO:<Postmaster> X=1", .fail(555, "5.5.4")),
        // DATA / BDAT
        ("DATA", .ok(.data)),
        ("data", .ok(.data)),
        ("DATA x", .fail(501, "5.5.4")),
        ("BDAT 100", .ok(.bdat(size: 100, last: false))),
        ("BDAT 0 LAST", .ok(.bdat(size: 0, last: true))),
        ("bdat 12 last", .ok(.bdat(size: 12, last: true))),
        ("BDAT", .fail(501, "5.5.4")),
        ("BDAT x", .fail(501, "5.5.4")),
        ("BDAT -1", .fail(501, "5.5.4")),
        ("BDAT 99999999999999999999", .fail(501, "5.5.4")),
        ("BDAT 10 FIRST", .fail(501, "5.5.4")),
        ("BDAT 10 LAST more", .fail(501, "5.5.4")),
        // Simple commands
        ("RSET", .ok(.rset)),
        ("RSET now", .fail(501, "5.5.4")),
        ("NOOP", .ok(.noop)),
        ("NOOP anything at all", .ok(.noop)),
        ("QUIT", .ok(.quit)),
        ("quit", .ok(.quit)),
        ("QUIT x", .fail(501, "5.5.4")),
        ("VRFY bob", .ok(.vrfy("bob"))),
        ("VRFY", .fail(501, "5.5.4")),
        ("EXPN staff", .ok(.expn("staff"))),
        ("HELP", .ok(.help(nil))),
        ("HELP MAIL", .ok(.help("MAIL"))),
        ("STARTTLS", .ok(.starttls)),
        // AUTH (RFC 4954 §4)
        ("AUTH PLAIN", .ok(.auth(mechanism: "PLAIN", initialResponse: nil))),
        ("auth login", .ok(.auth(mechanism: "LOGIN", initialResponse: nil))),
        ("AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm", .ok(.auth(mechanism: "PLAIN", initialResponse: "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"))),
        ("AUTH PLAIN =", .ok(.auth(mechanism: "PLAIN", initialResponse: "="))),
        ("AUTH X-NEW_MECH", .ok(.auth(mechanism: "X-NEW_MECH", initialResponse: nil))),
        ("AUTH", .fail(501, "5.5.4")),
        ("AUTH PLAIN a b", .fail(501, "5.5.4")),
        ("AUTH PL@IN", .fail(501, "5.5.4")),
        ("AUTH ABCDEFGHIJKLMNOPQRSTU", .fail(501, "5.5.4")),
        ("STARTTLS now", .fail(501, "5.5.4")),
        ("GET / HTTP/1.1", .ok(.httpRequest(verb: "GET"))),
        ("OPTIONS * HTTP/1.1", .ok(.httpRequest(verb: "OPTIONS"))),
        ("POST /x HTTP/1.0", .ok(.httpRequest(verb: "POST"))),
        // Junk
        ("", .fail(500, "5.5.2")),
        ("FOO bar", .fail(500, "5.5.2")),
        ("MAILFROM:<a@b.test>", .fail(500, "5.5.2")),
        (" MAIL FROM:<a@b.test>", .fail(500, "5.5.2")),
        ("NOOP\u{0}", .fail(500, "5.5.2")),
        ("MAIL FROM:<a@b.test>\r", .fail(500, "5.5.2"))
    ]

    @Test(arguments: cases)
    func parse(line: String, expected: ParseExpectation) {
        let result = SMTPCommandParser.parse(Array(line.utf8))
        switch (result, expected) {
        case (.success(let command), .ok(let want)):
            #expect(command == want)
        case (.failure(let reply), .fail(let code, let enhanced)):
            #expect(reply.code.rawValue == code)
            #expect(reply.enhanced?.description == enhanced)
        default:
            Issue.record("\(line.debugDescription): got \(result), want \(expected)")
        }
    }

    @Test func invalidUTF8NeverCrashes() {
        for line: [UInt8] in [[0x4D, 0x41, 0x49, 0x4C, 0x20, 0xFF, 0xFE], [0xC3], [0x45, 0x48, 0x4C, 0x4F, 0x20, 0xC3, 0x28]] {
            if case .success = SMTPCommandParser.parse(line) { Issue.record("accepted \(line)") }
        }
    }

    @Test func verbOfLine() {
        #expect(SMTPCommandParser.verb(of: Array("bdat x".utf8)) == "BDAT")
        #expect(SMTPCommandParser.verb(of: []) == "")
        #expect(SMTPCommandParser.verb(of: Array("StartTLS".utf8)) == "STARTTLS")
        // At most 16 octets; invalid UTF-8 is repaired, as String(decoding:) does.
        #expect(SMTPCommandParser.verb(of: Array("abcdefghijklmnopqrstuvwxyz rest".utf8)) == "ABCDEFGHIJKLMNOP")
        #expect(SMTPCommandParser.verb(of: [0xFF, 0x61, 0x20, 0x62]) == "\u{FFFD}A")
    }
}
