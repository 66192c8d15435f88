import MailCore
import Testing

@testable import MailQueue

@Suite struct PickupMessageTests {
    func parse(_ text: String) throws -> PickupMessage { try PickupMessage.parse(Array(text.utf8)) }

    @Test func headersGiveTheEnvelopeAndBccIsRemoved() throws {
        let m = try parse(
            "From: \"Alice A.\" <alice@example.test>\nTo: bob@remote.test, Carol <carol@example.test>\n"
                + "Cc: (team) dave@remote.test\nBcc: eve@remote.test\nSubject: hi\n\nbody line\n.\n")
        #expect(m.sender == .mailbox(EmailAddress(localPart: "alice", domain: "example.test")))
        #expect(m.recipients.map(\.description) == ["bob@remote.test", "carol@example.test", "dave@remote.test", "eve@remote.test"])
        let text = String(decoding: m.message, as: UTF8.self)
        #expect(!text.contains("Bcc:") && !text.contains("eve@"))
        #expect(text.hasPrefix("From: \"Alice A.\" <alice@example.test>\r\nTo: "))
        #expect(text.hasSuffix("\r\n\r\nbody line\r\n.\r\n"))
        #expect(!m.message.enumerated().contains { $0.element == 0x0A && ($0.offset == 0 || m.message[$0.offset - 1] != 0x0D) })
    }

    @Test func senderHeaderWinsOverFromAndGroupsAreFlattened() throws {
        let m = try parse("From: a@example.test\r\nSender: s@example.test\r\nTo: friends: x@r.test, y@r.test;\r\n\r\nhi\r\n")
        #expect(m.sender == .mailbox(EmailAddress(localPart: "s", domain: "example.test")))
        #expect(m.recipients.map(\.description) == ["x@r.test", "y@r.test"])
    }

    @Test func iisEnvelopeLinesAreUsedAndRemoved() throws {
        let m = try parse(
            "X-Sender: <>\r\nX-Receiver: <bob@remote.test>\r\nX-Receiver: carol@remote.test\r\n"
                + "From: someone@else.test\r\nTo: nobody@else.test\r\n\r\nbody\r\n")
        #expect(m.sender == .null)
        #expect(m.recipients.map(\.description) == ["bob@remote.test", "carol@remote.test"])
        #expect(String(decoding: m.message, as: UTF8.self).hasPrefix("From: someone@else.test\r\n"))
    }

    @Test func foldedFieldsAndDuplicates() throws {
        let m = try parse("From: a@example.test\r\nTo: b@r.test,\r\n  B@R.TEST,\r\n\tc@r.test\r\n\r\n")
        #expect(m.recipients.map(\.description) == ["b@r.test", "c@r.test"])
    }

    @Test(arguments: [
        ("", PickupMessage.ParseError.noHeaderSection),
        ("just text without a colon\r\n", .noHeaderSection),
        (" folded first\r\nFrom: a@b.test\r\n", .noHeaderSection),
        ("To: b@r.test\r\n\r\nbody", .noSender),
        ("From: a@example.test\r\nSubject: x\r\n\r\n", .noRecipients),
        ("From: a@example.test\r\nTo: not an address\r\n\r\n", .badAddress("not an address"))
    ])
    func errors(text: String, expected: PickupMessage.ParseError) {
        #expect(throws: expected) { try PickupMessage.parse(Array(text.utf8)) }
    }
}
