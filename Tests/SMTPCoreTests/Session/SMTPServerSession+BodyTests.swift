import Foundation
import MailCore
import Testing

@testable import SMTPCore

/// DATA, BDAT, storing and trace headers (mirrors SMTPServerSession+Body.swift).
@Suite struct SMTPServerSessionBodyTests {
    private func runner() -> TranscriptRunner {
        var r = TranscriptRunner()
        r.decisions = [
            alice: .localMailbox(id: 1), "bob@example.test": .localMailbox(id: 2),
            "postmaster": .localMailbox(id: 9), "x@remote.test": .relayDenied,
            "tmp@example.test": .temporaryFailure
        ]
        return r
    }

    @Test func bdatWithoutRecipientsStillConsumesTheChunk() {
        var r = runner()
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehloReply)
            C: BDAT 10
            A: chunk 10 discard
            S: 503 5.5.1 Error: need MAIL command
            C: MAIL FROM:<a@remote.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<nobody@example.test>
            A: resolve nobody@example.test
            S: 550 5.1.1*
            C: BDAT 5 LAST
            A: chunk 5 discard
            S: 503 5.5.1 No valid recipients
            C: RSET
            A: ended 250
            S: 250 2.0.0 Ok
            """)
    }

    @Test func bdatHappyPathAndZeroLast() {
        var r = runner()
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehloReply)
            C: MAIL FROM:<a@remote.test> BODY=8BITMIME SIZE=100
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.test>
            A: resolve alice@example.test
            S: 250 2.1.5 Ok
            C: BDAT 40
            A: chunk 40 keep
            S: 250 2.0.0 40 octets received
            C: BDAT 2
            A: chunk 2 keep
            S: 250 2.0.0 2 octets received
            C: BDAT 0 LAST
            A: chunk 0 keep
            A: store
            A: ended 250
            S: 250 2.0.0 Ok: queued as 0TESTQUEUEID0001
            """)
        #expect(r.envelopes.first?.bodySize == 42)
        #expect(r.envelopes.first?.bodyType == .eightBitMIME)
        #expect(r.envelopes.first?.declaredSize == 100)
    }

    @Test func bdatOverSizeIsConsumedThenRejected() {
        var r = TranscriptRunner(configure: { $0.maxMessageSize = 50 })
        r.decisions = [alice: .localMailbox(id: 1)]
        r.run(
            """
            S: 220 mx.example.test ESMTP Petrel
            C: EHLO client.test
            S: 250-mx.example.test
            S: 250-PIPELINING
            S: 250-SIZE 50
            S: 250-8BITMIME
            S: 250-DSN
            S: 250-ENHANCEDSTATUSCODES
            S: 250-SMTPUTF8
            S: 250-CHUNKING
            S: 250 HELP
            C: MAIL FROM:<a@remote.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.test>
            A: resolve alice@example.test
            S: 250 2.1.5 Ok
            C: BDAT 30
            A: chunk 30 keep
            S: 250 2.0.0 30 octets received
            C: BDAT 30 LAST
            A: chunk 30 discard
            A: discard
            A: ended 552
            S: 552 5.3.4 Error: message file too big
            C: BDAT 5 LAST
            A: chunk 5 discard
            S: 503 5.5.1 Error: need MAIL command
            """)
        #expect(r.envelopes.isEmpty)
    }

    @Test func bdatChunkFailures() {
        var r = runner()
        r.chunkOutcomes = [.bareLineEnding, .complete(octets: 4), .storageFailure]
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehloReply)
            C: MAIL FROM:<a@remote.test>
            C: RCPT TO:<alice@example.test>
            C: BDAT 4 LAST
            C: MAIL FROM:<a@remote.test>
            C: RCPT TO:<alice@example.test>
            C: BDAT 4
            C: BDAT 4 LAST
            C: NOOP
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 554 5.6.0 Error: bare <CR> or <LF> in message, transaction failed
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 250 2.0.0 4 octets received
            S: 451 4.3.0 Error: queue file write error
            S: 250 2.0.0 Ok
            """)
        #expect(!r.session.isClosed)
    }

    @Test(arguments: ["BDAT", "BDAT x", "BDAT 1 FOO", "BDAT 99999999999999999999"])
    func badBdatSizeCloses(line: String) {
        var r = runner()
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehloReply)
            C: \(line)
            S: 501 5.5.4 Syntax: BDAT chunk-size [LAST]
            A: close
            C: NOOP
            """.replacingOccurrences(of: "A: close", with: ""))
        #expect(r.session.isClosed)
        #expect(r.stream.last == "A: close")
    }

    @Test func smtpUTF8TransactionUsesUTF8SMTP() {
        var r = TranscriptRunner(client: ClientInfo(ip: IPAddress("2001:db8::5"), verifiedHostName: "mail.remote.test"))
        r.decisions = ["ü@example.test": .localMailbox(id: 3), "b@example.test": .localMailbox(id: 4)]
        r.run(
            """
            \(greeting)
            C: EHLO mail.remote.test
            \(ehloReply)
            C: MAIL FROM:<ä@remote.test> SMTPUTF8
            S: 250 2.1.0 Ok
            C: RCPT TO:<ü@example.test>
            S: 250 2.1.5 Ok
            C: RCPT TO:<b@example.test>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 *
            S: 250 2.0.0 Ok: queued as *
            """)
        guard let envelope = r.envelopes.first else { Issue.record("no envelope"); return }
        #expect(envelope.smtpUTF8)
        #expect(
            String(decoding: envelope.traceHeaders, as: UTF8.self) == """
                Return-Path: <ä@remote.test>\r
                Received: from mail.remote.test (mail.remote.test [IPv6:2001:db8::5])\r
                \tby mx.example.test (Petrel) with UTF8SMTP id 0TESTQUEUEID0001; Fri, 15 Jan 2027 08:00:00 +0000\r

                """)
    }

    @Test func bareLineEndingInDataCloses() {
        var r = runner()
        r.dataOutcomes = [.bareLineEnding]
        r.run(
            """
            \(greeting)
            C: HELO c
            S: 250 mx.example.test
            C: MAIL FROM:<s@remote.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.test>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 *
            S: 521 5.5.2 mx.example.test Error: bare <CR> or <LF> received
            C: NOOP
            """)
        #expect(r.session.isClosed)
        #expect(
            r.stream.suffix(3) == ["A: discard", "A: ended 521", "S: 521 5.5.2 mx.example.test Error: bare <CR> or <LF> received"]
                || r.stream.suffix(2) == ["S: 521 5.5.2 mx.example.test Error: bare <CR> or <LF> received", "A: close"])
    }

    /// A NUL in DATA or in a BDAT chunk: 554 5.6.0, the transaction fails (nothing stored), the
    /// connection stays and the next transaction works.
    @Test func nulInDataOrChunkFailsTheTransactionOnly() {
        var r = runner()
        r.dataOutcomes = [.nulCharacter, .complete(octets: 3)]
        r.chunkOutcomes = [.nulCharacter]
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehloReply)
            C: MAIL FROM:<s@remote.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.test>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 *
            S: 554 5.6.0 Error: NUL character in message, transaction failed
            C: MAIL FROM:<s@remote.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.test>
            S: 250 2.1.5 Ok
            C: BDAT 4 LAST
            S: 554 5.6.0 Error: NUL character in message, transaction failed
            C: MAIL FROM:<s@remote.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.test>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 *
            S: 250 2.0.0 Ok: queued as *
            """)
        #expect(!r.session.isClosed)
        #expect(r.envelopes.count == 1)
    }

    /// RFC 5321 §6.3 mail loop: with the `Received:` field this server adds, a message over the hop
    /// limit gets 554 5.4.6 at the end of DATA or BDAT LAST: nothing stored, the transaction ends, the
    /// connection stays and the next transaction works. At the limit (limit - 1 from the client plus
    /// ours) the message is stored.
    @Test func mailLoopIsRefusedAtTheEndOfTheMessage() {
        var r = TranscriptRunner { $0.hopCount = HopCount(limit: 5) }
        r.decisions = runner().decisions
        r.dataOutcomes = [.complete(octets: 3, receivedFields: 5), .complete(octets: 3, receivedFields: 4)]
        r.chunkOutcomes = [.complete(octets: 4, receivedFields: 2), .complete(octets: 4, receivedFields: 9)]
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehloReply)
            C: MAIL FROM:<s@remote.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.test>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 *
            S: 554 5.4.6 Error: mail loop: more than 5 Received: header fields
            C: MAIL FROM:<s@remote.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.test>
            S: 250 2.1.5 Ok
            C: BDAT 4
            S: 250 2.0.0 4 octets received
            C: BDAT 4 LAST
            S: 554 5.4.6 Error: mail loop: more than 5 Received: header fields
            C: MAIL FROM:<s@remote.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.test>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 *
            S: 250 2.0.0 Ok: queued as *
            """)
        #expect(!r.session.isClosed)
        #expect(r.envelopes.count == 1)
        #expect(r.summaries.map(\.reply.code.rawValue) == [554, 554, 250])
        let discards = r.actions.filter { if case .discardMessage = $0 { return true } else { return false } }
        #expect(discards.count == 2)
    }

    /// The default limit is the queue's: 30.
    @Test func mailLoopDefaultLimit() {
        #expect(SMTPServerConfiguration(hostname: "h").hopCount == HopCount())
        #expect(HopCount().limit == 30)
    }

    /// RFC 3461 §5.2.3: local recipients that asked for NOTIFY=SUCCESS are listed in the envelope (with
    /// ORCPT, once each), relayed ones are not (the queue reports those); nothing for a `<>` sender.
    @Test func localSuccessNoticesInTheEnvelope() {
        var r = runner()
        r.decisions["bob@example.test"] = .localMailbox(id: 2)
        r.decisions["x@remote.test"] = .relay(domain: "remote.test")
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehloReply)
            C: MAIL FROM:<s@remote.test> ENVID=abc
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Alice@Example.Test
            S: 250 2.1.5 Ok
            C: RCPT TO:<ALICE@example.test> NOTIFY=SUCCESS
            S: 250 2.1.5 Ok
            C: RCPT TO:<bob@example.test> NOTIFY=FAILURE
            S: 250 2.1.5 Ok
            C: RCPT TO:<x@remote.test> NOTIFY=SUCCESS
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 *
            S: 250 2.0.0 Ok: queued as *
            C: MAIL FROM:<>
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.test> NOTIFY=SUCCESS
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 *
            S: 250 2.0.0 Ok: queued as *
            """)
        #expect(r.envelopes.count == 2)
        #expect(
            r.envelopes.first?.localSuccessNotices == [
                LocalSuccessNotice(
                    address: EmailAddress(localPart: "alice", domain: "example.test"),
                    originalRecipient: "rfc822;Alice@Example.Test")
            ])
        #expect(r.envelopes.first?.envelopeID == "abc")
        #expect(r.envelopes.last?.localSuccessNotices == [])
    }

    @Test func storeFailureIs451() {
        var r = runner()
        r.storeOutcomes = [.failed]
        r.run(
            """
            \(greeting)
            C: HELO c
            S: 250 *
            C: MAIL FROM:<s@remote.test>
            S: 250 *
            C: RCPT TO:<alice@example.test>
            S: 250 *
            C: DATA
            S: 354 *
            S: 451 4.3.0 Error: queue file write error
            """)
        #expect(r.summaries.last?.reply.code == .localError)
        #expect(r.session.messagesStored == 0)
        #expect(r.session.errorCount == 0)
    }

    @Test func rsetDiscardsAPartialBdatBody() {
        var r = runner()
        r.run(
            """
            \(greeting)
            C: EHLO c
            \(ehloReply)
            C: MAIL FROM:<s@remote.test>
            S: 250 *
            C: RCPT TO:<alice@example.test>
            A: resolve alice@example.test
            S: 250 *
            C: BDAT 3
            A: chunk 3 keep
            S: 250 2.0.0 3 octets received
            C: RSET
            A: discard
            A: ended 250
            S: 250 2.0.0 Ok
            C: RSET
            S: 250 2.0.0 Ok
            """)
    }

    @Test func isAwaitingLastChunk() {
        var session = SMTPServerSession(configuration: SMTPServerConfiguration(hostname: "h"), client: ClientInfo(ip: nil))
        for line in ["EHLO c", "MAIL FROM:<a@b.test>", "RCPT TO:<c@d.test>"] { _ = session.handle(.line(Array(line.utf8))) }
        _ = session.handle(.recipientResolved(.localMailbox(id: 1)))
        _ = session.handle(.line(Array("BDAT 3".utf8)))
        #expect(!session.isAwaitingLastChunk)
        _ = session.handle(.chunkReceived(.complete(octets: 3)))
        _ = session.handle(.line(Array("BDAT 3 LAST".utf8)))
        #expect(session.isAwaitingLastChunk)
    }
}
