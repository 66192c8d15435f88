import Foundation
import MailCore
import Testing

@testable import MailQueue

/// The "delivered" report for local mailboxes (RFC 3461 §5.2.3, RFC 3464): who gets one, and what it says.
@Suite struct LocalDeliveryReportTests {
    static let arrival = Date(timeIntervalSince1970: 1_800_000_000)
    static let sender = MailPath.mailbox(EmailAddress(localPart: "carol", domain: "remote.test"))

    func make(sender: MailPath = sender, recipients: [LocalDeliveryReport.Recipient]) -> DeliveryReport? {
        LocalDeliveryReport.make(
            reportingMTA: "mx.example.test", sender: sender, envelopeID: "env+2Did",
            arrivalDate: Self.arrival, queueID: "QID1", recipients: recipients, smtpUTF8: false,
            deliveredAt: Self.arrival.addingTimeInterval(1))
    }

    @Test func noReportForTheNullSenderOrWithoutRecipients() {
        #expect(make(sender: .null, recipients: [.init(address: EmailAddress(localPart: "alice", domain: "example.test"))]) == nil)
        #expect(make(recipients: []) == nil)
    }

    @Test func deliveredReportWithEnvelopeIDAndOriginalRecipient() throws {
        let report = try #require(
            make(recipients: [
                .init(address: EmailAddress(localPart: "alice", domain: "example.test"), originalRecipient: "rfc822;Alice@Example.Test"),
                .init(address: EmailAddress(localPart: "bob", domain: "example.test"))
            ]))
        #expect(report.kind == .success)
        #expect(report.originalSender == Self.sender)
        let original = Array("Return-Path: <carol@remote.test>\r\nSubject: hello\r\n\r\nsecret body\r\n".utf8)
        let rendered = report.render(original: original, originalSize: Int64(original.count), date: Self.arrival, uniqueID: "R1")
        let text = String(decoding: rendered.bytes, as: UTF8.self)
        #expect(text.contains("To: <carol@remote.test>\r\n"))
        #expect(text.contains("Subject: Successful Mail Delivery Report\r\n"))
        #expect(text.contains("Original-Envelope-Id: env+2Did\r\n"))
        #expect(
            text.contains(
                "Original-Recipient: rfc822;Alice@Example.Test\r\nFinal-Recipient: rfc822; alice@example.test\r\nAction: delivered\r\nStatus: 2.0.0\r\n"
            ))
        #expect(text.contains("Final-Recipient: rfc822; bob@example.test\r\nAction: delivered\r\nStatus: 2.0.0\r\n"))
        // Headers only: the body of the original is not returned.
        #expect(text.contains("Subject: hello\r\n"))
        #expect(!text.contains("secret body"))
        #expect(rendered.returnedContent == .headersRequested)
    }
}
