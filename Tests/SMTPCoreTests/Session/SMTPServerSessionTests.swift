import Foundation
import MailCore
import Testing

@testable import SMTPCore

@Suite struct SMTPServerSessionTests {
    private func runner() -> TranscriptRunner {
        var r = TranscriptRunner()
        r.decisions = [
            alice: .localMailbox(id: 1), "bob@example.test": .localMailbox(id: 2),
            "postmaster": .localMailbox(id: 9), "x@remote.test": .relayDenied,
            "tmp@example.test": .temporaryFailure
        ]
        return r
    }

    @Test func happyPathWithActions() {
        var r = runner()
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehloReply)
            C: MAIL FROM:<sender@remote.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.test>
            A: resolve alice@example.test
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 End data with <CR><LF>.<CR><LF>
            A: receiveData
            A: store
            A: ended 250
            S: 250 2.0.0 Ok: queued as 0TESTQUEUEID0001
            C: QUIT
            S: 221 2.0.0 Bye
            A: close
            """)
        #expect(r.envelopes.count == 1)
        guard let envelope = r.envelopes.first else { return }
        #expect(envelope.queueID == TranscriptRunner.queueID)
        #expect(envelope.sender == .mailbox(EmailAddress(localPart: "sender", domain: "remote.test")))
        #expect(envelope.recipients.map(\.description) == [alice])
        #expect(envelope.localMailboxIDs == [1])
        #expect(envelope.bodyType == .sevenBit)
        #expect(!envelope.smtpUTF8)
        #expect(envelope.receivedAt == TranscriptRunner.fixedDate)
        #expect(envelope.bodySize == 100)
        #expect(
            String(decoding: envelope.traceHeaders, as: UTF8.self) == """
                Return-Path: <sender@remote.test>\r
                Received: from client.test ([192.0.2.10])\r
                \tby mx.example.test (Petrel) with ESMTP id 0TESTQUEUEID0001\r
                \tfor <alice@example.test>; Fri, 15 Jan 2027 08:00:00 +0000\r

                """)
        #expect(r.summaries.first?.queueID == TranscriptRunner.queueID)
        #expect(r.summaries.first?.heloName == "client.test")
        #expect(r.summaries.first?.size == 100)
        #expect(r.session.isClosed)
        #expect(r.session.handle(.line(Array("NOOP".utf8))).isEmpty)
        #expect(r.session.handle(.connected).isEmpty)
    }

    @Test func pipelinedTransactionsAndDuplicates() {
        var r = runner()
        r.run(
            """
            \(greeting)
            C: HELO client.test
            S: 250 mx.example.test
            C: MAIL FROM:<>
            C: RCPT TO:<alice@example.test>
            C: RCPT TO:<ALICE@Example.Test>
            C: RCPT TO:<bob@example.test>
            C: RCPT TO:<nobody@example.test>
            C: RCPT TO:<x@remote.test>
            C: RCPT TO:<tmp@example.test>
            C: DATA
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 250 2.1.5 Ok
            S: 250 2.1.5 Ok
            S: 550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown in local recipient table
            S: 550 5.7.1 <x@remote.test>: Relay access denied
            S: 451 4.3.0 <tmp@example.test>: Temporary lookup failure, try again later
            S: 354 End data with <CR><LF>.<CR><LF>
            S: 250 2.0.0 Ok: queued as 0TESTQUEUEID0001
            C: MAIL FROM:<a@remote.test>
            S: 250 2.1.0 Ok
            """)
        guard let envelope = r.envelopes.first else { Issue.record("no envelope"); return }
        #expect(envelope.localMailboxIDs == [1, 2])
        #expect(envelope.recipients.map(\.description) == [alice, "bob@example.test"])
        let trace = String(decoding: envelope.traceHeaders, as: UTF8.self)
        #expect(trace.hasPrefix("Return-Path: <>\r\nReceived: from client.test ([192.0.2.10])\r\n\tby mx.example.test (Petrel) with SMTP id "))
        #expect(!trace.contains("for <"))
        #expect(r.session.errorCount == 2)
    }

    @Test func everyBadSequenceIs503() {
        var r = runner()
        r.run(
            """
            \(greeting)
            C: MAIL FROM:<a@remote.test>
            S: 503 5.5.1 Error: send HELO/EHLO first
            C: RCPT TO:<alice@example.test>
            S: 503 5.5.1 Error: need MAIL command
            C: DATA
            S: 503 5.5.1 Error: need MAIL command
            C: EHLO client.test
            S: 250-mx.example.test*
            S: 250-PIPELINING
            S: 250-SIZE*
            S: 250-8BITMIME
            S: 250-DSN
            S: 250-ENHANCEDSTATUSCODES
            S: 250-SMTPUTF8
            S: 250-CHUNKING
            S: 250 HELP
            C: MAIL FROM:<a@remote.test>
            S: 250 2.1.0 Ok
            C: MAIL FROM:<a@remote.test>
            S: 503 5.5.1 Error: nested MAIL command
            C: DATA
            S: 503 5.5.1 No valid recipients
            C: RCPT TO:<alice@example.test>
            S: 250 2.1.5 Ok
            C: BDAT 3
            S: 250 2.0.0 3 octets received
            C: DATA
            S: 503 5.5.1 Error: DATA not allowed after BDAT
            C: RCPT TO:<bob@example.test>
            S: 503 5.5.1 Error: RCPT not allowed after BDAT
            """)
    }

    @Test func postmasterVrfyHelpNoopAndUnimplemented() {
        var r = runner()
        r.run(
            """
            \(greeting)
            C: VRFY root
            S: 252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery
            C: HELP
            S: 214 2.0.0 *
            C: NOOP
            S: 250 2.0.0 Ok
            C: EXPN staff
            S: 502 5.5.1 Error: command not implemented
            C: STARTTLS
            S: 502 5.5.1 Error: command not implemented
            C: AUTH PLAIN
            S: 503 5.5.1 Error: send HELO/EHLO first
            C: XYZZY
            S: 500 5.5.2 Error: command not recognized
            C: EHLO bad name
            S: 501 5.5.4 Error: invalid EHLO/HELO argument
            C: EHLO client.test
            \(ehloReply)
            C: MAIL FROM:<a@remote.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<Postmaster>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 *
            S: 250 2.0.0 Ok: queued as *
            """)
        #expect(r.envelopes.first?.recipients == [EmailAddress(localPart: "postmaster", domain: "mx.example.test")])
        #expect(r.envelopes.first?.localMailboxIDs == [9])
        #expect(r.session.errorCount == 5)
    }

    /// The framer reports a command line that passed its limit before its CRLF: 500 5.5.6 and close,
    /// inside a transaction too (it is ended; nothing was spooled).
    @Test func lineTooLongClosesTheConnection() {
        var r = runner()
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehloReply)
            C: MAIL FROM:<a@remote.test>
            S: 250 2.1.0 Ok
            E: lineTooLong
            A: ended 500
            S: 500 5.5.6 Error: command line too long
            A: close
            C: NOOP
            """)
        #expect(r.session.isClosed)
        #expect(r.session.errorCount == 1)
    }

    @Test func tooManyErrorsCloses() {
        var r = TranscriptRunner(configure: { $0.maxErrors = 3 })
        r.run(
            """
            \(greeting)
            C: FOO
            S: 500 5.5.2 Error: command not recognized
            C: BAR
            S: 500 5.5.2 Error: command not recognized
            C: MAIL FROM:<a@b.test>
            S: 503 5.5.1 Error: send HELO/EHLO first
            S: 421 4.7.0 mx.example.test Error: too many errors
            C: NOOP
            """)
        #expect(r.session.isClosed)
        #expect(r.stream.last == "A: close")
    }

    @Test func tooManyRecipientsIs452AndNotCounted() {
        var r = TranscriptRunner(configure: {
            $0.maxRecipients = 2; $0.maxErrors = 2
        })
        r.decisions = ["a@example.test": .localMailbox(id: 1), "b@example.test": .localMailbox(id: 2)]
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            S: 250-*
            S: 250-PIPELINING
            S: 250-SIZE*
            S: 250-8BITMIME
            S: 250-DSN
            S: 250-ENHANCEDSTATUSCODES
            S: 250-SMTPUTF8
            S: 250-CHUNKING
            S: 250 HELP
            C: MAIL FROM:<s@remote.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<a@example.test>
            S: 250 2.1.5 Ok
            C: RCPT TO:<b@example.test>
            S: 250 2.1.5 Ok
            C: RCPT TO:<c@example.test>
            S: 452 4.5.3 Error: too many recipients
            C: RCPT TO:<d@example.test>
            S: 452 4.5.3 Error: too many recipients
            C: RCPT TO:<e@example.test>
            S: 452 4.5.3 Error: too many recipients
            """)
        #expect(!r.session.isClosed)
    }

    @Test func tooManyMessagesCloses() {
        var r = TranscriptRunner(configure: { $0.maxMessagesPerConnection = 1 })
        r.decisions = [alice: .localMailbox(id: 1)]
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
            S: 250 2.0.0 Ok: queued as *
            C: MAIL FROM:<s@remote.test>
            S: 421 4.7.0 mx.example.test Error: too many messages in one session
            """)
        #expect(r.session.isClosed)
    }

    @Test func mailParameterChecks() {
        var r = TranscriptRunner(configure: { $0.maxMessageSize = 1000 })
        r.run(
            """
            \(greeting)
            C: HELO c
            S: 250 mx.example.test
            C: MAIL FROM:<s@remote.test> SIZE=10
            S: 555 5.5.4 Error: ESMTP parameters need EHLO, not HELO
            C: EHLO c
            S: 250-mx.example.test
            S: 250-PIPELINING
            S: 250-SIZE 1000
            S: 250-8BITMIME
            S: 250-DSN
            S: 250-ENHANCEDSTATUSCODES
            S: 250-SMTPUTF8
            S: 250-CHUNKING
            S: 250 HELP
            C: MAIL FROM:<s@remote.test> SIZE=1001
            S: 552 5.3.4 Error: message size exceeds fixed limit
            C: MAIL FROM:<s@remote.test> FOO=BAR
            S: 555 5.5.4 Unsupported option: FOO
            C: MAIL FROM:<ü@remote.test>
            S: 553 5.6.7 Error: non-ASCII sender address needs SMTPUTF8
            C: MAIL FROM:<s@remote.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<ü@example.test>
            S: 553 5.6.7 Error: non-ASCII recipient address needs SMTPUTF8
            """)
    }

    @Test(arguments: [
        (BodyOutcome.tooLarge, "552 5.3.4 Error: message file too big"),
        (.lineTooLong, "500 5.5.6 Error: message line too long"),
        (.storageFailure, "451 4.3.0 Error: queue file write error")
    ])
    func dataFailuresEndTheTransaction(outcome: BodyOutcome, reply: String) {
        var r = runner()
        r.dataOutcomes = [outcome]
        r.run(
            """
            \(greeting)
            C: HELO c
            A: *
            C: MAIL FROM:<s@remote.test>
            A: *
            C: RCPT TO:<alice@example.test>
            A: resolve alice@example.test
            A: *
            C: DATA
            A: *
            A: receiveData
            A: discard
            A: ended \(reply.prefix(3))
            S: \(reply)
            C: RCPT TO:<alice@example.test>
            S: 503 5.5.1 Error: need MAIL command
            """.replacingOccurrences(of: "A: *", with: "S: *"))
        #expect(r.envelopes.isEmpty)
    }

    @Test(arguments: [
        ("timeout", "421 4.4.2 mx.example.test Error: timeout exceeded"),
        ("shutdown", "421 4.3.2 mx.example.test Service shutting down, closing transmission channel"),
        ("byteLimit", "421 4.7.0 mx.example.test Error: too much data in this session")
    ])
    func closingEvents(event: String, reply: String) {
        var r = runner()
        r.run(
            """
            \(greeting)
            C: HELO c
            S: 250 mx.example.test
            C: MAIL FROM:<s@remote.test>
            S: 250 2.1.0 Ok
            E: \(event)
            S: \(reply)
            C: NOOP
            E: timeout
            """)
        #expect(r.session.isClosed)
        #expect(r.summaries.count == 1)
        #expect(r.stream.last == "A: close")
    }

    @Test func runnerDetectsMismatches() {
        withKnownIssue {
            var r = TranscriptRunner()
            r.run(
                """
                S: 220 wrong.host ESMTP Petrel
                """)
        }
        withKnownIssue {
            var r = TranscriptRunner()
            r.run(
                """
                \(greeting)
                C: NOOP
                """)
        }
    }

    @Test func unexpectedAnswersAreIgnored() {
        var session = SMTPServerSession(configuration: SMTPServerConfiguration(hostname: "h"), client: ClientInfo(ip: nil))
        #expect(session.handle(.recipientResolved(.localMailbox(id: 1))).isEmpty)
        #expect(session.handle(.dataReceived(.complete(octets: 1))).isEmpty)
        #expect(session.handle(.chunkReceived(.tooLarge)).isEmpty)
        #expect(session.handle(.messageStored(.stored)).isEmpty)
        #expect(!session.isAwaitingAnswer)
        // Lines while an answer is outstanding are ignored (the adapter must buffer them).
        _ = session.handle(.line(Array("HELO c".utf8)))
        _ = session.handle(.line(Array("MAIL FROM:<a@b.test>".utf8)))
        let actions = session.handle(.line(Array("RCPT TO:<c@d.test>".utf8)))
        #expect(session.isAwaitingAnswer)
        guard case .resolveRecipient(.address(let a))? = actions.first else { Issue.record("\(actions)"); return }
        #expect(a.description == "c@d.test")
        #expect(session.handle(.line(Array("NOOP".utf8))).isEmpty)
        #expect(session.handle(.lineTooLong).isEmpty)
        #expect(session.handle(.dataReceived(.complete(octets: 1))).isEmpty)
        #expect(session.isAwaitingAnswer)
    }

    @Test func randomEventOrderNeverCrashes() {
        var rng = SystemRandomNumberGenerator()
        let lines = [
            "EHLO c", "HELO c", "MAIL FROM:<a@b.test>", "RCPT TO:<c@d.test>", "RCPT TO:<Postmaster>", "DATA",
            "BDAT 5", "BDAT 0 LAST", "BDAT x", "RSET", "NOOP", "VRFY x", "QUIT", "junk", ""
        ]
        let answers: [SMTPServerEvent] = [
            .recipientResolved(.localMailbox(id: 1)), .recipientResolved(.unknownUser), .dataReceived(.complete(octets: 5)),
            .dataReceived(.bareLineEnding), .chunkReceived(.complete(octets: 5)), .chunkReceived(.tooLarge),
            .messageStored(.stored), .messageStored(.failed), .lineTooLong, .timeout
        ]
        for _ in 0..<300 {
            var session = SMTPServerSession(configuration: SMTPServerConfiguration(hostname: "h"), client: ClientInfo(ip: nil))
            _ = session.handle(.connected)
            for _ in 0..<40 {
                let event: SMTPServerEvent =
                    Bool.random(using: &rng)
                    ? .line(Array((lines.randomElement(using: &rng) ?? "").utf8))
                    : (answers.randomElement(using: &rng) ?? .timeout)
                let actions = session.handle(event)
                if session.isClosed, !actions.isEmpty {
                    guard case .close? = actions.last else { Issue.record("closed without .close: \(actions)"); break }
                }
            }
        }
    }
}
