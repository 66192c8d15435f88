import POP3Core
import Testing

@Suite struct POP3CommandTests {
    static let valid: [(String, POP3Command)] = [
        ("USER alice@example.test", .user("alice@example.test")),
        ("user alice@example.test", .user("alice@example.test")),
        ("PASS secret", .pass("secret")),
        ("PASS pass word  with spaces ", .pass("pass word  with spaces ")),
        ("APOP mrose c4c9334bac560ecc979e58001b3e22fb", .apop(name: "mrose", digest: "c4c9334bac560ecc979e58001b3e22fb")),
        ("QUIT", .quit),
        ("quit", .quit),
        ("STAT", .stat),
        ("LIST", .list(nil)),
        ("LIST 2", .list(2)),
        ("list 0", .list(0)),
        ("RETR 1", .retr(1)),
        ("RETR 007", .retr(7)),
        ("DELE 3", .dele(3)),
        ("NOOP", .noop),
        ("RSET", .rset),
        ("TOP 1 0", .top(message: 1, lines: 0)),
        ("TOP 10 25", .top(message: 10, lines: 25)),
        ("UIDL", .uidl(nil)),
        ("UIDL 4", .uidl(4)),
        ("CAPA", .capa),
        ("AUTH", .auth(mechanism: nil, initialResponse: nil)),
        ("AUTH plain", .auth(mechanism: "PLAIN", initialResponse: nil)),
        ("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", .auth(mechanism: "PLAIN", initialResponse: "dGVzdAB0ZXN0AHRlc3Q=")),
        ("AUTH PLAIN =", .auth(mechanism: "PLAIN", initialResponse: "=")),
        ("AUTH X-OTHER_1", .auth(mechanism: "X-OTHER_1", initialResponse: nil)),
        ("STLS", .stls),
        ("LIST  2", .list(2)), // lenient: extra spaces between arguments
        ("STAT ", .stat) // lenient: trailing space
    ]

    @Test(arguments: valid)
    func parsesValidCommands(line: String, expected: POP3Command) throws {
        #expect(try POP3CommandParser.parse(Array(line.utf8)) == expected)
    }

    static let unknown: [String] = ["", "XY", "HELO there", "EHLO", "RETRIEVE 1", " STAT", "ST\u{00C4}T"]

    @Test(arguments: unknown)
    func rejectsUnknownCommands(line: String) {
        #expect {
            try POP3CommandParser.parse(Array(line.utf8))
        } throws: { error in
            guard case .unknownCommand = error as? POP3CommandError else { return false }
            return true
        }
    }

    static let syntaxErrors: [String] = [
        "USER", "USER a b", "PASS", "PASS ", "APOP mrose", "QUIT now", "STAT 1", "NOOP x", "RSET 1", "CAPA x",
        "STLS x", "LIST a", "LIST 1 2", "LIST -1", "LIST +1", "RETR", "RETR x", "RETR 1 2", "DELE", "DELE 1.5",
        "TOP 1", "TOP a 1", "TOP 1 b", "TOP 1 -1", "TOP 1 2 3", "UIDL x", "RETR 1234567890123456789",
        "AUTH PLAIN a b", "AUTH PL@IN", "AUTH ABCDEFGHIJKLMNOPQRSTU", "USER al\0ice", "PASS a\rb", "PASS a\nb"
    ]

    @Test(arguments: syntaxErrors)
    func rejectsBadArguments(line: String) {
        #expect {
            try POP3CommandParser.parse(Array(line.utf8))
        } throws: { error in
            guard case .syntax = error as? POP3CommandError else { return false }
            return true
        }
    }

    @Test func rejectsInvalidUTF8InUserName() {
        #expect(throws: POP3CommandError.self) { try POP3CommandParser.parse(Array("USER ".utf8) + [0xC3, 0x28]) }
    }

    @Test func acceptsUTF8UserName() throws {
        #expect(try POP3CommandParser.parse(Array("USER jös@example.test".utf8)) == .user("jös@example.test"))
    }

    @Test func largestNumberFits() throws {
        #expect(try POP3CommandParser.parse(Array("RETR 999999999999999999".utf8)) == .retr(999_999_999_999_999_999))
    }

    @Test func keywordNames() {
        #expect(POP3Command.top(message: 1, lines: 1).keyword == "TOP")
        #expect(POP3Command.auth(mechanism: nil, initialResponse: nil).keyword == "AUTH")
    }

    @Test func errorDescriptions() {
        #expect(POP3CommandError.unknownCommand("XYZ").description == "Unknown command")
        #expect(POP3CommandError.syntax("Invalid message number").description == "Invalid message number")
    }
}
