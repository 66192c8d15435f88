/// A local mailbox over its quota: the adapter answers `.mailboxFull` and the session replies 452 4.2.2
/// (temporary), keeps the transaction and the other recipients, does not count it as an invalid
/// recipient, and exposes the SIZE declared on MAIL FROM for the quota decision.
import Foundation
import MailCore
import Testing

@testable import SMTPCore

@Suite struct SMTPServerSessionQuotaTests {
    @Test func fullMailboxIsRefusedTemporarilyAndTheOthersStillGetTheMessage() {
        var r = TranscriptRunner()
        r.decisions = [alice: .localMailbox(id: 1), "full@example.test": .mailboxFull]
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehloReply)
            C: MAIL FROM:<sender@remote.test> SIZE=4096
            S: 250 2.1.0 Ok
            C: RCPT TO:<full@example.test>
            S: 452 4.2.2 <full@example.test>: Mailbox full
            C: RCPT TO:<alice@example.test>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 End data with <CR><LF>.<CR><LF>
            S: 250 2.0.0 Ok: queued as 0TESTQUEUEID0001
            """)
        #expect(r.envelopes.first?.localMailboxIDs == [1])
        #expect(r.envelopes.first?.recipients.map(\.description) == [alice])
    }

    @Test func onlyAFullMailboxLeavesNoValidRecipient() {
        var r = TranscriptRunner()
        r.decisions = ["full@example.test": .mailboxFull]
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehloReply)
            C: MAIL FROM:<sender@remote.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<full@example.test>
            S: 452 4.2.2 <full@example.test>: Mailbox full
            C: DATA
            S: 503 5.5.1 No valid recipients
            """)
        #expect(r.envelopes.isEmpty)
    }

    @Test func theDeclaredSizeIsThereForTheDecision() {
        var r = TranscriptRunner()
        #expect(r.session.declaredMessageSize == nil)
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehloReply)
            C: MAIL FROM:<sender@remote.test> SIZE=123456
            S: 250 2.1.0 Ok
            """)
        #expect(r.session.declaredMessageSize == 123_456)
        r.feed(.line(Array("RSET".utf8)))
        #expect(r.session.declaredMessageSize == nil)
    }

    @Test func theReplyIsTemporary() {
        let reply = SMTPReply.mailboxFull("a@b.test")
        #expect(reply.code.isTransientFailure)
        #expect(reply.description == "452 4.2.2 <a@b.test>: Mailbox full")
    }
}
