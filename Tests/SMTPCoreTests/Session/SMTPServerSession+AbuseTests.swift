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
        r.run(
            """
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
        r.run(
            """
            \(greeting)
            C: HELO client.test
            S: 250 mx.example.test
            C: MAIL FROM:<>
            S: 250 2.1.0 Ok
            """)
        #expect(!r.actions.contains { if case .checkSenderDomain = $0 { return true } else { return false } })
        var off = runner(reject: false)
        off.run(
            """
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
        var session = SMTPServerSession(
            configuration: {
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
        r.run(
            """
            \(greeting)
            C: HELO client.test
            S: 250 mx.example.test
            C: MAIL FROM:<x@elsewhere.test>
            S: 250 2.1.0 Ok
            C: RCPT TO:<victim@elsewhere.test>
            S: 550 5.7.1 <victim@elsewhere.test>: Relay access denied
            """)
        let actions = r.session.handle(.invalidRecipientLimit)
        let replies = actions.compactMap { if case .send(let reply) = $0 { return reply } else { return nil } }
        #expect(replies.map(\.code.rawValue) == [421])
        #expect(replies.first?.enhanced?.description == "4.7.0")
        #expect(r.session.isClosed)
        #expect(actions.contains { if case .close = $0 { return true } else { return false } })
    }
}

/// Connection start: the session owns the client's verified name and the greeting state; the adapter
/// feeds `.clientNameResolved` and `.talkedBeforeGreeting` instead of replacing the session.
@Suite struct SMTPServerSessionConnectionStartTests {
    private func session() -> SMTPServerSession {
        var configuration = SMTPServerConfiguration(hostname: "mx.example.test")
        configuration.clock = ManualMailClock(Date(timeIntervalSince1970: 1_800_000_000))
        configuration.makeQueueID = { "Q1" }
        return SMTPServerSession(configuration: configuration, client: ClientInfo(ip: IPAddress("192.0.2.7"), port: 4000))
    }

    private func line(_ text: String) -> SMTPServerEvent { .line(Array(text.utf8)) }

    /// The actions as text: replies as sent, `close`, others by name.
    private func describe(_ actions: [SMTPServerAction]) -> [String] {
        actions.map { action in
            switch action {
            case .send(let reply): return String(decoding: reply.encoded, as: UTF8.self)
            case .close: return "close"
            default: return "\(action)"
            }
        }
    }

    @Test func resolvedNameBeforeTheGreetingGoesIntoTheReceivedHeader() {
        var s = session()
        #expect(!s.greeted)
        #expect(s.handle(.clientNameResolved("mail.remote.test")).isEmpty)
        #expect(s.client.verifiedHostName == "mail.remote.test")
        #expect(s.client.port == 4000)
        #expect(describe(s.handle(.connected)) == [String(decoding: SMTPReply.greeting(hostname: "mx.example.test").encoded, as: UTF8.self)])
        #expect(s.greeted)
        // After the greeting a name changes nothing.
        #expect(s.handle(.clientNameResolved("other.test")).isEmpty)
        #expect(s.client.verifiedHostName == "mail.remote.test")
        _ = s.handle(line("EHLO c.test"))
        _ = s.handle(line("MAIL FROM:<a@remote.test>"))
        _ = s.handle(line("RCPT TO:<b@example.test>"))
        _ = s.handle(.recipientResolved(.localMailbox(id: 1)))
        _ = s.handle(line("DATA"))
        let actions = s.handle(.dataReceived(.complete(octets: 3)))
        #expect(s.isStoring)
        guard case .storeMessage(let envelope)? = actions.last else { Issue.record("no store: \(actions)"); return }
        #expect(String(decoding: envelope.traceHeaders, as: UTF8.self).contains("(mail.remote.test [192.0.2.7])"))
        _ = s.handle(.messageStored(.stored))
        #expect(!s.isStoring)
    }

    @Test func talkingBeforeTheGreetingIsRefusedAndCloses() {
        var s = session()
        let actions = s.handle(.talkedBeforeGreeting)
        #expect(describe(actions) == ["554 5.5.0 mx.example.test Error: SMTP protocol synchronization (data sent before the greeting)\r\n", "close"])
        #expect(s.isClosed && s.greeted)
        #expect(s.handle(.connected).isEmpty)
        // Once greeted, the event is ignored.
        var greeted = session()
        _ = greeted.handle(.connected)
        #expect(greeted.handle(.talkedBeforeGreeting).isEmpty)
        #expect(!greeted.isClosed)
    }
}
