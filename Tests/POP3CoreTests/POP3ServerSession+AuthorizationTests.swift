import Testing
import POP3Core

@Suite struct POP3ServerSessionAuthorizationTests {
    @Test func authPlainWithInitialResponse() {
        // RFC 4616 §4 example, as a full address would be sent in practice.
        var h = SessionHarness()
        #expect(steps(h.line("AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm")) == [.authenticate("tim", "tanstaaftanstaaf")])
        #expect(h.session.isAwaitingAnswer)
        #expect(wire(h.handle(.authenticated(.success(mailboxID: 1, maildrop: [])))) == "+OK Logged in, maildrop has 0 messages (0 octets)\r\n")
        #expect(h.session.state == .transaction)
    }

    @Test func authPlainWithContinuation() {
        var h = SessionHarness()
        #expect(steps(h.line("AUTH PLAIN")) == [.send("+ \r\n")])
        #expect(!h.session.isAwaitingAnswer)   // waits for a line, not for the adapter
        #expect(steps(h.line("AGFsaWNlQGV4YW1wbGUudGVzdABwYXNzIHdvcmQ="))
                == [.authenticate("alice@example.test", "pass word")])
    }

    @Test func authPlainMechanismIsCaseInsensitive() {
        var h = SessionHarness()
        #expect(steps(h.line("auth plain dGVzdAB0ZXN0AHRlc3Q=")) == [.authenticate("test", "test")])
    }

    @Test func authPlainCancel() {
        var h = SessionHarness()
        _ = h.line("AUTH PLAIN")
        #expect(wire(h.line("*")) == "-ERR Authentication cancelled\r\n")
        #expect(h.session.state == .authorization)
        // The session is back to reading commands.
        #expect(wire(h.line("USER alice@example.test")) == "+OK Send PASS\r\n")
    }

    @Test func authPlainBadBase64() {
        var h = SessionHarness()
        _ = h.line("AUTH PLAIN")
        #expect(wire(h.line("not base64!")) == "-ERR Invalid base64 data\r\n")
        #expect(wire(h.line("AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm=")) == "-ERR Invalid base64 data\r\n")
        #expect(h.session.state == .authorization)
        #expect(!h.session.isClosed)
    }

    @Test func authPlainEmptyOrMalformed() {
        var h = SessionHarness()
        #expect(wire(h.line("AUTH PLAIN =")) == "-ERR Malformed PLAIN message\r\n")
        _ = h.line("AUTH PLAIN")
        #expect(wire(h.line("")) == "-ERR Malformed PLAIN message\r\n")
        #expect(wire(h.line("AUTH PLAIN dGlt")) == "-ERR Malformed PLAIN message\r\n")   // "tim"
    }

    @Test func authPlainForeignAuthorizationIDFailsLikeAWrongPassword() {
        // RFC 4616 §4 second example: Kurt acting as Ursel. Not supported.
        var h = SessionHarness()
        #expect(steps(h.line("AUTH PLAIN VXJzZWwAS3VydAB4aXBqM3BsbXE=")) == [.send("-ERR [AUTH] Authentication failed\r\n")])
    }

    @Test func authWithoutMechanismOrUnknownMechanism() {
        var h = SessionHarness()
        #expect(wire(h.line("AUTH")) == "-ERR AUTH requires a SASL mechanism, see CAPA\r\n")
        #expect(wire(h.line("AUTH CRAM-MD5")) == "-ERR Unsupported authentication mechanism\r\n")
        #expect(wire(h.line("AUTH LOGIN")) == "-ERR Unsupported authentication mechanism\r\n")
    }

    @Test func lineTooLongAbortsTheSASLExchange() {
        var h = SessionHarness()
        _ = h.line("AUTH PLAIN")
        #expect(wire(h.handle(.lineTooLong)) == "-ERR Line too long\r\n")
        #expect(wire(h.line("NOOP")) == "-ERR Command not valid in AUTHORIZATION state, log in first\r\n")
    }

    @Test func passWithoutUser() {
        var h = SessionHarness()
        #expect(wire(h.line("PASS secret")) == "-ERR No username given, send USER first\r\n")
    }

    @Test func userIsConsumedByPass() {
        var h = SessionHarness()
        _ = h.line("USER alice@example.test")
        _ = h.line("PASS wrong")
        _ = h.handle(.authenticated(.invalidCredentials))
        #expect(wire(h.line("PASS again")) == "-ERR No username given, send USER first\r\n")
    }

    @Test func lastUserWins() {
        var h = SessionHarness()
        _ = h.line("USER alice@example.test")
        _ = h.line("USER bob@example.test")
        #expect(steps(h.line("PASS pw")) == [.authenticate("bob@example.test", "pw")])
    }

    static let failures: [(AuthResult, String, Bool)] = [
        (.invalidCredentials, "-ERR [AUTH] Authentication failed\r\n", true),
        (.locked, "-ERR [AUTH] Mailbox is locked by the administrator\r\n", true),
        (.inUse, "-ERR [IN-USE] Mailbox is in use by another session\r\n", false),
        (.temporaryFailure, "-ERR [SYS/TEMP] Temporary failure, try again later\r\n", false),
    ]

    @Test(arguments: failures)
    func authenticationFailures(result: AuthResult, reply: String, counts: Bool) {
        var h = SessionHarness()
        for attempt in 1...3 {
            _ = h.line("USER alice@example.test")
            _ = h.line("PASS secret")
            let actions = steps(h.handle(.authenticated(result)))
            if counts && attempt == 3 {
                // maxAuthFailures (3) reached: reply, then close (no lock was held).
                #expect(actions == [.send(reply), .close])
                #expect(h.session.isClosed)
            } else {
                #expect(actions == [.send(reply)])
                #expect(h.session.state == .authorization)
                #expect(!h.session.isClosed)
            }
        }
    }

    @Test func successAfterFailures() {
        var h = SessionHarness()
        _ = h.line("USER alice@example.test")
        _ = h.line("PASS wrong")
        _ = h.handle(.authenticated(.invalidCredentials))
        _ = h.line("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwYXNzIHdvcmQ=")
        _ = h.handle(.authenticated(.success(mailboxID: 3, maildrop: SessionHarness.entries)))
        #expect(h.session.state == .transaction)
        #expect(h.session.mailboxID == 3)
    }

    @Test func plaintextDisallowed() {
        var h = SessionHarness(SessionHarness.configuration(plaintext: false))
        let reply = "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections\r\n"
        #expect(wire(h.line("USER alice@example.test")) == reply)
        #expect(wire(h.line("PASS secret")) == reply)
        #expect(wire(h.line("AUTH PLAIN")) == reply)
        #expect(wire(h.line("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=")) == reply)
        #expect(h.session.state == .authorization)
    }

    @Test func apopAndStlsAreRefused() {
        var h = SessionHarness(SessionHarness.configuration(tls: true))
        #expect(wire(h.line("APOP mrose c4c9334bac560ecc979e58001b3e22fb")) == "-ERR APOP not supported\r\n")
        #expect(wire(h.line("STLS")) == "-ERR STLS not available\r\n")
    }

    @Test func pipelinedCommandsAfterPass() {
        // RFC 2449 §6.6: the client may send commands before the answer; the adapter buffers while
        // the session awaits the authentication answer, then delivers them in order.
        var h = SessionHarness()
        _ = h.line("USER alice@example.test")
        _ = h.line("PASS secret")
        #expect(h.session.isAwaitingAnswer)
        _ = h.handle(.authenticated(.success(mailboxID: 1, maildrop: SessionHarness.entries)))
        #expect(wire(h.line("STAT")) == "+OK 3 600\r\n")
    }
}
