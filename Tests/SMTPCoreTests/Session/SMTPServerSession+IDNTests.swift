/// RCPT TO with internationalised domains (SMTPServerSession+Commands.swift): an invalid IDN domain
/// (bad Punycode, an A-label too long) gets 553 5.1.3 before any lookup; both spellings of a valid one
/// go to the adapter, and the two spellings of one address count as one recipient.
import Foundation
import MailCore
import Testing

@testable import SMTPCore

@Suite struct SMTPServerSessionIDNTests {
    private func runner() -> TranscriptRunner {
        var r = TranscriptRunner()
        r.decisions = ["anna@xn--bcher-kva.example": .localMailbox(id: 1), "anna@bücher.example": .localMailbox(id: 1)]
        return r
    }

    @Test func invalidIDNRecipientDomainsAre553BeforeAnyLookup() {
        var r = runner()
        let long = String(repeating: "a", count: 60) + "ü"
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehloReply)
            C: MAIL FROM:<s@remote.test> SMTPUTF8
            S: 250 2.1.0 Ok
            C: RCPT TO:<anna@xn--zz.example>
            S: 553 5.1.3 <anna@xn--zz.example>: Recipient address rejected: 'xn--zz' is not a valid IDNA A-label (bad Punycode)
            C: RCPT TO:<anna@XN--A-KFA.example>
            S: 553 5.1.3 <anna@xn--a-kfa.example>: Recipient address rejected: 'xn--a-kfa' is not a valid IDNA A-label (bad Punycode)
            C: RCPT TO:<anna@\(long).example>
            S: 553 5.1.3 <anna@\(long).example>: Recipient address rejected: domain label '\(long)' is longer than 63 octets in A-label (xn--) form
            C: RCPT TO:<anna@xn--bcher-kva.example>
            A: resolve anna@xn--bcher-kva.example
            S: 250 2.1.5 Ok
            C: RCPT TO:<Anna@Bücher.example>
            A: resolve anna@bücher.example
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 End data with <CR><LF>.<CR><LF>
            A: receiveData
            A: store
            A: ended 250
            S: 250 2.0.0 Ok: queued as 0TESTQUEUEID0001
            """)
        #expect(r.envelopes.count == 1)
        // One recipient: the two spellings have one lookup key.
        #expect(r.envelopes.first?.recipients.map(\.description) == ["anna@xn--bcher-kva.example"])
        #expect(r.envelopes.first?.localMailboxIDs == [1])
    }

    /// `EHLO évil.test`: accepted (SMTPUTF8 is offered); the `Received:` header of a plain message gets
    /// the A-label form, that of an SMTPUTF8 message the name as sent.
    @Test func utf8HelloNameIsWrittenAsALabelsUnlessTheMessageIsSMTPUTF8() {
        var r = runner()
        r.dataOutcomes = [.complete(octets: 3), .complete(octets: 3)]
        r.run(
            """
            \(greeting)
            C: EHLO évil.test
            \(ehloReply)
            C: MAIL FROM:<s@remote.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<anna@xn--bcher-kva.example>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 *
            S: 250 2.0.0 Ok: queued as *
            C: MAIL FROM:<s@remote.test> SMTPUTF8
            S: 250 2.1.0 Ok
            C: RCPT TO:<anna@xn--bcher-kva.example>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 *
            S: 250 2.0.0 Ok: queued as *
            """)
        #expect(r.envelopes.count == 2)
        let plain = String(decoding: r.envelopes.first?.traceHeaders ?? [], as: UTF8.self)
        let utf8 = String(decoding: r.envelopes.last?.traceHeaders ?? [], as: UTF8.self)
        #expect(plain.contains("Received: from xn--vil-9la.test ("))
        #expect(r.envelopes.first?.traceHeaders.allSatisfy { $0 < 0x80 } == true)
        #expect(utf8.contains("Received: from évil.test ("))
        #expect(utf8.contains("with UTF8SMTP"))
    }

    @Test func unusableUTF8HelloNameIs501() {
        var r = runner()
        r.run(
            """
            \(greeting)
            C: EHLO bad\u{85}name.test
            S: 501 5.5.4 Error: invalid EHLO/HELO argument
            C: HELO ok.test
            S: 250 mx.example.test
            """)
        #expect(!r.session.isClosed)
    }
}
