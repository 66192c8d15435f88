import POP3Core
import Testing

@Suite struct POP3ResponseTests {
    static let cases: [(POP3Response, String)] = [
        (.ok("2 320"), "+OK 2 320\r\n"),
        (.ok(""), "+OK\r\n"),
        (.err("no such message"), "-ERR no such message\r\n"),
        (.err(.inUse, "Mailbox is in use"), "-ERR [IN-USE] Mailbox is in use\r\n"),
        (.err(.sysTemp, "try later"), "-ERR [SYS/TEMP] try later\r\n"),
        (.err(.sysPerm, "gone"), "-ERR [SYS/PERM] gone\r\n"),
        (.err(.auth, "Authentication failed"), "-ERR [AUTH] Authentication failed\r\n"),
        (.err(.loginDelay, "wait"), "-ERR [LOGIN-DELAY] wait\r\n"),
        (.continuation(""), "+ \r\n"),
        (.continuation("abc="), "+ abc=\r\n"),
        (.ok("list", lines: []), "+OK list\r\n.\r\n"),
        (.ok("2 messages", lines: ["1 120", "2 200"]), "+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n"),
        (.ok("x", lines: [".hidden", "..", "a.b"]), "+OK x\r\n..hidden\r\n...\r\na.b\r\n.\r\n"),
        (.ok("bad\r\ntext"), "+OK bad  text\r\n")
    ]

    @Test(arguments: cases)
    func encodes(response: POP3Response, wire: String) {
        #expect(response.encoded == Array(wire.utf8))
    }

    @Test func encodeIntoAppends() {
        var out = Array("x".utf8)
        POP3Response.ok("y").encode(into: &out)
        #expect(out == Array("x+OK y\r\n".utf8))
    }
}
