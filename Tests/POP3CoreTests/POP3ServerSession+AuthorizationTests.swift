import MailCore
import POP3Core
import Testing

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
        #expect(!h.session.isAwaitingAnswer) // waits for a line, not for the adapter
        #expect(
            steps(h.line("AGFsaWNlQGV4YW1wbGUudGVzdABwYXNzIHdvcmQ="))
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
        #expect(wire(h.line("AUTH PLAIN dGlt")) == "-ERR Malformed PLAIN message\r\n") // "tim"
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
        #expect(wire(h.line("AUTH GSSAPI")) == "-ERR Unsupported authentication mechanism\r\n")
    }

    @Test func lineTooLongEndsTheSASLExchangeAndTheSession() {
        var h = SessionHarness()
        _ = h.line("AUTH PLAIN")
        #expect(wire(h.handle(.lineTooLong)) == "-ERR Line too long, closing connection\r\n")
        #expect(h.session.isClosed)
        #expect(h.line("NOOP").isEmpty)
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

    static let failures: [(POP3LoginAnswer, String, Bool)] = [
        (.invalidCredentials, "-ERR [AUTH] Authentication failed\r\n", true),
        (.locked, "-ERR [AUTH] Mailbox is locked by the administrator\r\n", true),
        (.inUse, "-ERR [IN-USE] Mailbox is in use by another session\r\n", false),
        (.temporaryFailure, "-ERR [SYS/TEMP] Temporary failure, try again later\r\n", false)
    ]

    @Test(arguments: failures)
    func authenticationFailures(result: POP3LoginAnswer, reply: String, counts: Bool) {
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

    /// Over the bound of logins in flight (AuthThrottle): -ERR [SYS/TEMP] and close; not a counted failure.
    @Test func tooManyLoginsInFlightCloses() {
        var h = SessionHarness()
        _ = h.line("USER alice@example.test")
        _ = h.line("PASS secret")
        let actions = steps(h.handle(.authenticated(.tooManyLogins)))
        #expect(actions == [.send("-ERR [SYS/TEMP] Too many logins in progress, try again later\r\n"), .close])
        #expect(h.session.isClosed)
        #expect(h.session.state == .authorization)
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

    @Test func apopAndStlsWithoutTLSAreRefused() {
        var h = SessionHarness(SessionHarness.configuration(tls: false))
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

    // MARK: - AUTH LOGIN (shared SASL exchange)

    @Test func authLoginFlow() {
        var h = SessionHarness()
        #expect(steps(h.line("AUTH LOGIN")) == [.send("+ VXNlcm5hbWU6\r\n")])
        #expect(!h.session.isAwaitingAnswer)
        #expect(steps(h.line("YWxpY2VAZXhhbXBsZS50ZXN0")) == [.send("+ UGFzc3dvcmQ6\r\n")]) // alice@example.test
        #expect(steps(h.line("cGFzcyB3b3Jk")) == [.authenticate("alice@example.test", "pass word")])
        #expect(h.session.isAwaitingAnswer)
        _ = h.handle(.authenticated(.success(mailboxID: 1, maildrop: SessionHarness.entries)))
        #expect(h.session.state == .transaction)
    }

    @Test func authLoginInitialResponseCancelAndMalformed() {
        var h = SessionHarness()
        #expect(steps(h.line("auth login Ym9i")) == [.send("+ UGFzc3dvcmQ6\r\n")]) // bob
        #expect(wire(h.line("*")) == "-ERR Authentication cancelled\r\n")
        #expect(wire(h.line("AUTH LOGIN")) == "+ VXNlcm5hbWU6\r\n")
        #expect(wire(h.line("bob")) == "-ERR Invalid base64 data\r\n")
        #expect(wire(h.line("AUTH LOGIN =")) == "-ERR Malformed LOGIN response\r\n")
        #expect(h.session.state == .authorization)
        // The exchange is over: the next line is a command again.
        #expect(wire(h.line("NOOP")) == "-ERR Command not valid in AUTHORIZATION state, log in first\r\n")
    }

    // MARK: - STLS (RFC 2595 §4)

    static let tls13 = TLSInfo(version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384")

    @Test func stlsFlowResetsToFreshAuthorization() {
        var h = SessionHarness(SessionHarness.configuration(plaintext: false, tls: true))
        #expect(!h.session.isTLS)
        #expect(
            wire(h.line("CAPA")) == "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
                + "PIPELINING\r\nSTLS\r\nIMPLEMENTATION Petrel\r\n.\r\n")
        #expect(wire(h.line("USER alice@example.test")) == "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections\r\n")
        #expect(steps(h.line("STLS")) == [.send("+OK Begin TLS negotiation\r\n"), .startTLS])
        #expect(h.session.isAwaitingAnswer)
        // Pipelined plaintext is never executed (the adapter discards it; the session ignores it too).
        #expect(h.line("USER mallory").isEmpty)
        #expect(h.handle(.authenticated(.success(mailboxID: 1, maildrop: []))).isEmpty)
        #expect(h.handle(.tlsEstablished(Self.tls13)).isEmpty) // no new greeting
        #expect(!h.session.isAwaitingAnswer)
        #expect(h.session.isTLS)
        #expect(h.session.tlsInfo == Self.tls13)
        #expect(h.session.state == .authorization)
        #expect(
            wire(h.line("CAPA")) == "+OK Capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\nRESP-CODES\r\n"
                + "AUTH-RESP-CODE\r\nPIPELINING\r\nSASL PLAIN LOGIN\r\nIMPLEMENTATION Petrel\r\n.\r\n")
        #expect(wire(h.line("STLS")) == "-ERR TLS already active\r\n")
        #expect(wire(h.line("USER alice@example.test")) == "+OK Send PASS\r\n")
        #expect(steps(h.line("PASS secret")) == [.authenticate("alice@example.test", "secret")])
        // A late second report changes nothing.
        #expect(h.handle(.tlsEstablished(TLSInfo(version: "TLSv1.2", cipher: "X"))).isEmpty)
        #expect(h.session.tlsInfo == Self.tls13)
    }

    @Test func stlsErrors() {
        var unavailable = SessionHarness(SessionHarness.configuration(tls: false))
        #expect(wire(unavailable.line("STLS")) == "-ERR STLS not available\r\n")
        var afterUser = SessionHarness(SessionHarness.configuration(tls: true))
        _ = afterUser.line("USER alice@example.test")
        #expect(wire(afterUser.line("STLS")) == "-ERR STLS not allowed after USER\r\n")
        #expect(wire(afterUser.line("STLS x")) == "-ERR STLS takes no arguments\r\n")
        var loggedIn = SessionHarness.loggedIn(SessionHarness.entries, SessionHarness.configuration(tls: true))
        #expect(wire(loggedIn.line("STLS")) == "-ERR Command not valid in TRANSACTION state, already logged in\r\n")
        // RFC 2595 §4: STLS only in AUTHORIZATION, so CAPA no longer lists it.
        #expect(!wire(loggedIn.line("CAPA")).contains("STLS"))
        var unasked = SessionHarness(SessionHarness.configuration(tls: true))
        #expect(unasked.handle(.tlsEstablished(Self.tls13)).isEmpty)
        #expect(!unasked.session.isTLS)
    }

    @Test func timeoutDuringHandshakeCloses() {
        var h = SessionHarness(SessionHarness.configuration(tls: true))
        _ = h.line("STLS")
        #expect(steps(h.handle(.timeout)) == [.close])
        #expect(h.session.isClosed)
    }

    @Test func implicitTLS() {
        var h = SessionHarness(SessionHarness.configuration(plaintext: false, tls: true, implicitTLS: true))
        #expect(h.session.isTLS)
        #expect(h.handle(.tlsEstablished(Self.tls13)).isEmpty)
        #expect(h.session.tlsInfo == Self.tls13)
        let capa = wire(h.line("CAPA"))
        #expect(capa.contains("USER\r\n") && capa.contains("SASL PLAIN LOGIN\r\n") && !capa.contains("STLS"))
        #expect(wire(h.line("STLS")) == "-ERR TLS already active\r\n")
        #expect(steps(h.line("AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm")) == [.authenticate("tim", "tanstaaftanstaaf")])
    }
}
