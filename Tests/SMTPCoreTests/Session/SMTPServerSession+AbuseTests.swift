import Foundation
import MailCore
import Testing
@testable import SMTPCore

/// The abuse defences of the session (SMTPServerSession+Abuse.swift): the anti-spoofing lookup of MAIL
/// FROM and the close after too many invalid recipients.
@Suite struct SMTPServerSessionAbuseTests {
    private func runner(reject: Bool, submission: Bool = false) -> TranscriptRunner {
        var r = TranscriptRunner { c in
            c.rejectUnauthenticatedLocalSender = reject
            c.isSubmission = submission
            c.allowPlaintextAuth = true
            c.requireSenderMatch = false
        }
        r.decisions = [alice: .localMailbox(id: 1), "victim@elsewhere.test": .relayDenied]
        r.localSenderDomains = ["example.test"]
        r.passwords = [alice: "secret"]
        return r
    }

    @Test func unauthenticatedLocalSenderIsRefusedWhenEnabled() {
        var r = runner(reject: true)
        r.run("""
            \(greeting)
            C: HELO client.test
            S: 250 mx.example.test
            C: MAIL FROM:<boss@EXAMPLE.test>
            A: checkSender example.test
            S: 550 5.7.1 <boss@example.test>: Sender address rejected: authentication required for a local sender domain
            C: RCPT TO:<alice@example.test>
            S: 503 5.5.1 Error: need MAIL command
            C: MAIL FROM:<someone@elsewhere.test>
            A: checkSender elsewhere.test
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.test>
            A: resolve alice@example.test
            S: 250 2.1.5 Ok
            """)
        #expect(r.session.errorCount == 2)
    }

    @Test func nullSenderAndDisabledOptionSkipTheLookup() {
        var r = runner(reject: true)
        r.run("""
            \(greeting)
            C: HELO client.test
            S: 250 mx.example.test
            C: MAIL FROM:<>
            S: 250 2.1.0 Ok
            """)
        #expect(!r.actions.contains { if case .checkSenderDomain = $0 { return true } else { return false } })
        var off = runner(reject: false)
        off.run("""
            \(greeting)
            C: HELO client.test
            S: 250 mx.example.test
            C: MAIL FROM:<boss@example.test>
            S: 250 2.1.0 Ok
            """)
        #expect(!off.actions.contains { if case .checkSenderDomain = $0 { return true } else { return false } })
    }

    @Test func authenticatedClientsAreNotChecked() {
        var r = runner(reject: true)
        let plain = Base64.encode(Array("\0\(alice)\0secret".utf8))
        r.feed(.connected)
        r.feed(.line(Array("EHLO client.test".utf8)))
        r.feed(.line(Array("AUTH PLAIN \(plain)".utf8)))
        r.feed(.line(Array("MAIL FROM:<alice@example.test>".utf8)))
        #expect(r.stream.suffix(2) == ["S: 235 2.7.0 Authentication successful", "S: 250 2.1.0 Ok"])
        #expect(!r.actions.contains { if case .checkSenderDomain = $0 { return true } else { return false } })
    }

    @Test func lookupFailureIsTemporary() {
        var session = SMTPServerSession(configuration: {
            var c = SMTPServerConfiguration(hostname: "mx.example.test")
            c.rejectUnauthenticatedLocalSender = true
            return c
        }(), client: ClientInfo(ip: IPAddress("192.0.2.1")))
        _ = session.handle(.connected)
        _ = session.handle(.line(Array("HELO c.test".utf8)))
        let asked = session.handle(.line(Array("MAIL FROM:<a@example.test>".utf8)))
        guard case .checkSenderDomain("example.test")? = asked.first else { Issue.record("\(asked)"); return }
        #expect(session.isAwaitingAnswer)
        // Lines are not taken while the lookup is outstanding.
        #expect(session.handle(.line(Array("NOOP".utf8))).isEmpty)
        let answer = session.handle(.senderDomainChecked(.temporaryFailure))
        guard case .send(let reply)? = answer.first else { Issue.record("\(answer)"); return }
        #expect(reply.code.rawValue == 451)
        #expect(!session.isInTransaction)
        #expect(session.errorCount == 0)
    }

    @Test func invalidRecipientLimitClosesWith421() {
        var r = runner(reject: false)
        r.run("""
            \(greeting)
            C: HELO client.test
            S: 250 mx.example.test
            C: MAIL FROM:<x@elsewhere.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<victim@elsewhere.test>
            S: 554 5.7.1 <victim@elsewhere.test>: Relay access denied
            """)
        let actions = r.session.handle(.invalidRecipientLimit)
        let replies = actions.compactMap { if case .send(let reply) = $0 { return reply } else { return nil } }
        #expect(replies.map(\.code.rawValue) == [421])
        #expect(replies.first?.enhanced?.description == "4.7.0")
        #expect(r.session.isClosed)
        #expect(actions.contains { if case .close = $0 { return true } else { return false } })
    }
}
