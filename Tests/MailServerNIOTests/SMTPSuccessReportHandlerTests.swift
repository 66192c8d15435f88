import Foundation
import MailCore
import MailQueue
import MailServerNIO
import MailStore
import Synchronization
import Testing

/// Issue 13 item 7 through the SMTP adapter: NOTIFY=SUCCESS for a local mailbox makes a "delivered"
/// report (RFC 3461 §5.2.3) that is stored in the same transaction as the message; none without the
/// request and none for a `<>` sender.
@Suite struct SMTPSuccessReportHandlerTests {
    @Test func successReportIsStoredWithTheMessage() async throws {
        let recorded = Mutex<[String]>([])
        let h = try await SMTPConnectionHandlerFindingsTests().makeHarness { context in
            let store = context.store
            context.successReports = SuccessReports(
                make: { dsn, original, size in
                    let rendered = dsn.render(original: original, originalSize: size, date: Date(), uniqueID: "REPORT1")
                    guard let address = dsn.originalSender.address,
                        case .mailbox(let id, _)? = try? await store.resolveRecipient(address)
                    else { return nil }
                    return IncomingMessage(
                        queueID: "REPORT1", sender: .null, localRecipients: [id], receivedAt: Date(),
                        traceHeaders: Array("Return-Path: <>\r\n".utf8), body: .bytes(rendered.bytes))
                }, stored: { message, dsn in recorded.withLock { $0.append("\(message.queueID) \(dsn.kind)") } })
        }
        _ = try await h.replies(1)
        try await h.send(
            "EHLO c.test\r\nMAIL FROM:<bob@example.test> ENVID=env-7\r\n"
                + "RCPT TO:<alice@example.test> NOTIFY=SUCCESS ORCPT=rfc822;alice@example.test\r\nDATA\r\n")
        _ = try await h.replies(4)
        try await h.send("Subject: tell me\r\n\r\nbody\r\n.\r\n")
        #expect(try await h.replies(1).first?.hasPrefix("250 2.0.0 Ok: queued as ") == true)
        let delivered = try await h.messages(SMTPConnectionHandlerFindingsTests.alice)
        #expect(delivered.count == 1 && delivered.first?.contains("Subject: tell me") == true)
        let reports = try await h.messages(SMTPConnectionHandlerFindingsTests.bob)
        #expect(reports.count == 1)
        let report = try #require(reports.first)
        #expect(report.hasPrefix("Return-Path: <>\r\n"))
        #expect(report.contains("Original-Envelope-Id: env-7\r\n"))
        #expect(
            report.contains(
                "Original-Recipient: rfc822;alice@example.test\r\nFinal-Recipient: rfc822; alice@example.test\r\nAction: delivered\r\nStatus: 2.0.0\r\n"
            ))
        #expect(report.contains("Subject: tell me\r\n")) // the original's headers are attached
        #expect(recorded.withLock { $0 } == ["REPORT1 success"])

        // Without NOTIFY=SUCCESS, and from <>, there is no report.
        try await h.send("MAIL FROM:<bob@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        _ = try await h.replies(3)
        try await h.send("Subject: quiet\r\n\r\nbody\r\n.\r\n")
        _ = try await h.replies(1)
        try await h.send("MAIL FROM:<>\r\nRCPT TO:<alice@example.test> NOTIFY=SUCCESS\r\nDATA\r\n")
        _ = try await h.replies(3)
        try await h.send("Subject: bounce\r\n\r\nbody\r\n.\r\n")
        _ = try await h.replies(1)
        #expect(try await h.messages(SMTPConnectionHandlerFindingsTests.alice).count == 3)
        #expect(try await h.messages(SMTPConnectionHandlerFindingsTests.bob).count == 1)
        try await h.finish()
    }
}
