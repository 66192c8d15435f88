import MailCore
import Testing

/// Table-driven tests of the RFC 5321 §4.1.2 path grammar. Each row: input path, expected mailbox (or nil
/// for a syntax error). Locality must be decided on `domain` only, so the expected domain matters most.
@Suite struct EmailAddressTests {
    struct Row: Sendable, CustomStringConvertible {
        let input: String
        let local: String?
        let domain: String?
        var description: String { input }
    }

    static let rows: [Row] = [
        Row(input: "<alice@example.test>", local: "alice", domain: "example.test"),
        Row(input: "<Alice@EXAMPLE.Test>", local: "Alice", domain: "example.test"),
        Row(input: "<first.last+tag@sub.example.test>", local: "first.last+tag", domain: "sub.example.test"),
        Row(input: "<\"quoted name\"@example.test>", local: "quoted name", domain: "example.test"),
        Row(input: "<\"a@b\"@example.test>", local: "a@b", domain: "example.test"),
        Row(input: "<\"x\\\"y\"@example.test>", local: "x\"y", domain: "example.test"),
        Row(input: "<user%other.test@example.test>", local: "user%other.test", domain: "example.test"),
        Row(input: "<other.test!user@example.test>", local: "other.test!user", domain: "example.test"),
        Row(input: "<@relay.test,@other.test:user@example.test>", local: "user", domain: "example.test"),
        Row(input: "<@example.test:victim@elsewhere.test>", local: "victim", domain: "elsewhere.test"),
        Row(input: "<user@[192.0.2.1]>", local: "user", domain: "[192.0.2.1]"),
        Row(input: "<user@[IPv6:2001:DB8::1]>", local: "user", domain: "[ipv6:2001:db8::1]"),
        Row(input: "<用户@例子.测试>", local: "用户", domain: "例子.测试"),
        Row(input: "<a@b-c.d>", local: "a", domain: "b-c.d"),
        // Syntax errors:
        Row(input: "alice@example.test", local: nil, domain: nil),
        Row(input: "<alice@example.test", local: nil, domain: nil),
        Row(input: "<alice>", local: nil, domain: nil),
        Row(input: "<alice@>", local: nil, domain: nil),
        Row(input: "<@example.test>", local: nil, domain: nil),
        Row(input: "<alice@example.test.>", local: nil, domain: nil),
        Row(input: "<alice@.example.test>", local: nil, domain: nil),
        Row(input: "<alice@exa..mple.test>", local: nil, domain: nil),
        Row(input: "<alice@-example.test>", local: nil, domain: nil),
        Row(input: "<alice@example-.test>", local: nil, domain: nil),
        Row(input: "<alice@example_test>", local: nil, domain: nil),
        Row(input: "<a@b@example.test>", local: nil, domain: nil),
        Row(input: "<.alice@example.test>", local: nil, domain: nil),
        Row(input: "<alice.@example.test>", local: nil, domain: nil),
        Row(input: "<al..ice@example.test>", local: nil, domain: nil),
        Row(input: "<al ice@example.test>", local: nil, domain: nil),
        Row(input: "<\"unterminated@example.test>", local: nil, domain: nil),
        Row(input: "<user@[192.0.2.256]>", local: nil, domain: nil),
        Row(input: "<user@[not-an-ip]>", local: nil, domain: nil),
        Row(input: "<user@[IPv6:1::2::3]>", local: nil, domain: nil),
        Row(input: "<@a.test:>", local: nil, domain: nil),
        Row(input: "<@a.test,user@example.test>", local: nil, domain: nil),
        Row(input: "<\(String(repeating: "a", count: 65))@example.test>", local: nil, domain: nil),
        Row(input: "<a@\(String(repeating: "b", count: 64)).test>", local: nil, domain: nil),
        Row(input: "<a\u{0}b@example.test>", local: nil, domain: nil),
        Row(input: "<a\r\nb@example.test>", local: nil, domain: nil)
    ]

    @Test(arguments: rows)
    func parsePath(row: Row) {
        let bytes = Array(row.input.utf8)[...]
        let parsed = try? MailboxSyntax.parsePath(bytes, allowNull: false)
        if let local = row.local, let domain = row.domain {
            guard let parsed, case .mailbox(let address) = parsed.path else {
                Issue.record("expected \(row.input) to parse"); return
            }
            #expect(parsed.rest.isEmpty)
            #expect(address.localPart == local)
            #expect(address.domain == domain)
        } else {
            #expect(parsed.map { !$0.rest.isEmpty } ?? true, "expected \(row.input) to be rejected")
        }
    }

    @Test func nullPath() throws {
        let parsed = try MailboxSyntax.parsePath(Array("<> SIZE=10".utf8)[...], allowNull: true)
        #expect(parsed.path == .null)
        #expect(Array(parsed.rest) == Array(" SIZE=10".utf8))
        #expect(throws: AddressSyntaxError.self) { try MailboxSyntax.parsePath(Array("<>".utf8)[...], allowNull: false) }
    }

    @Test func descriptionQuotesWhenNeeded() throws {
        #expect(EmailAddress(localPart: "a b", domain: "x.test").description == "\"a b\"@x.test")
        #expect(EmailAddress(localPart: "a.b", domain: "X.Test").description == "a.b@x.test")
        #expect(EmailAddress("Alice@Example.Test")?.lookupKey == "alice@example.test")
    }

    /// A backslash followed by a combining mark is one `Character` (`\\` U+05BF): quoting must still escape
    /// it, or the written path no longer parses back (FuzzMailPath found this; queue entries store paths).
    @Test func quotingEscapesABackslashJoinedByACombiningMark() throws {
        let input = "<\"a\\\\\u{05BF}1\\\"b\"@l>"
        let (path, rest) = try MailboxSyntax.parsePath(Array(input.utf8)[...], allowNull: true)
        #expect(rest.isEmpty)
        #expect(path.address?.localPart == "a\\\u{05BF}1\"b")
        #expect(path.description == input)
        #expect(MailPath(path.description) == path)
    }

    @Test(arguments: [
        ("192.0.2.1", "192.0.2.1"), ("::1", "::1"), ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::ffff:192.0.2.1", "::ffff:c000:201"), ("1:0:0:2:0:0:0:3", "1:0:0:2::3"), ("fe80::1%eth0", "fe80::1")
    ])
    func ipAddressCanonicalForm(input: String, expected: String) throws {
        #expect(try #require(IPAddress(input)).description == expected)
    }

    @Test(arguments: ["256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4.5", ":::", "1::2::3", "12345::", "g::1", ""])
    func invalidIPAddresses(input: String) {
        #expect(IPAddress(input) == nil)
    }

    @Test(arguments: [("Example.TEST", "example.test"), ("a-b.c", "a-b.c")])
    func normalizeDomain(input: String, expected: String) {
        #expect(MailboxSyntax.normalizeDomain(input) == expected)
    }

    @Test(arguments: ["example.test.", "", "a..b", "-a.b", "a b", "a_b.test", "[1.2.3.4]"])
    func rejectDomain(input: String) {
        #expect(MailboxSyntax.normalizeDomain(input) == nil)
    }
}
