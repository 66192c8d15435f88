import MailCore
import Testing

@testable import SMTPCore

/// Greeting, EHLO/HELO, STARTTLS, AUTH, timeouts and closes of `SMTPClientSession`.
@Suite struct SMTPClientSessionSetupTests {
    private func config(
        _ tls: SMTPClientTLSPolicy, credentials: SMTPClientCredentials? = nil,
        plaintextAuth: Bool = false
    ) -> SMTPClientSessionConfiguration {
        SMTPClientSessionConfiguration(
            heloName: "client.example.test", tlsPolicy: tls, credentials: credentials,
            allowPlaintextAuth: plaintextAuth)
    }

    @Test(arguments: ["554 5.3.2 no service", "421 4.3.2 busy"])
    func greetingRejected(_ text: String) {
        var s = ClientScript()
        s.reply(text)
        guard case .greetingRejected(let reply)? = s.error else {
            Issue.record("expected greetingRejected, got \(String(describing: s.error))")
            return
        }
        #expect(s.error?.isTemporary == !reply.code.isPermanentFailure)
        #expect(s.actions.last == .close)
        #expect(s.session.isClosed)
    }

    @Test(arguments: ["500 5.5.1 unknown command", "502 5.5.2 not implemented", "550 no"])
    func heloFallback(_ ehloReply: String) {
        var s = ClientScript()
        s.reply("220 old.example.test SMTP")
        s.reply(ehloReply)
        #expect(s.last == "HELO client.example.test")
        s.reply("250 old.example.test")
        #expect(s.actions == [.ready])
        #expect(!s.session.capabilities.extended)
    }

    @Test func ehloTemporaryFailureIsNoFallback() {
        var s = ClientScript()
        s.reply("220 mx")
        s.reply("421 4.3.2 go away")
        #expect(s.error == .helloRejected(ClientScript.reply("421 4.3.2 go away")))
        #expect(s.error?.isTemporary == true)
    }

    @Test func heloRejected() {
        var s = ClientScript()
        s.reply("220 mx")
        s.reply("502 no EHLO")
        s.reply("550 5.7.1 go away")
        #expect(s.error == .helloRejected(ClientScript.reply("550 5.7.1 go away")))
        #expect(s.error?.isTemporary == false)
    }

    @Test func opportunisticStartTLS() {
        var s = ClientScript(config(.opportunistic))
        s.establish(["STARTTLS", "PIPELINING"])
        #expect(s.last == "STARTTLS")
        s.reply("220 2.0.0 Ready to start TLS")
        #expect(s.actions == [.startTLS])
        #expect(s.session.waitingFor == .tlsHandshake)
        s.feed(.tlsEstablished(TLSInfo(version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256")))
        #expect(s.last == "EHLO client.example.test")
        #expect(!s.session.capabilities.pipelining) // forgotten until the new EHLO
        s.reply("250-mx.example.test\r\n250 PIPELINING")
        #expect(s.actions == [.ready])
        #expect(s.session.isTLS)
        #expect(s.session.tlsInfo?.version == "TLSv1.3")
        #expect(s.session.capabilities.pipelining)
        #expect(s.session.transcript.lines.contains("-- TLS established: TLSv1.3 TLS_AES_128_GCM_SHA256"))
    }

    @Test func opportunisticWithoutOfferOrRefusedGoesOnInPlaintext() {
        var notOffered = ClientScript(config(.opportunistic))
        notOffered.establish(["PIPELINING"])
        #expect(notOffered.actions == [.ready])
        #expect(!notOffered.session.isTLS)

        var refused = ClientScript(config(.opportunistic))
        refused.establish(["STARTTLS"])
        refused.reply("454 4.7.0 TLS not available")
        #expect(refused.actions == [.ready])
        #expect(!refused.session.isTLS)
    }

    @Test func requiredTLS() {
        var notOffered = ClientScript(config(.required))
        notOffered.establish(["PIPELINING"])
        #expect(notOffered.error == .startTLSNotOffered)
        #expect(notOffered.error?.isTemporary == true)

        var refused = ClientScript(config(.required))
        refused.establish(["STARTTLS"])
        refused.reply("454 4.7.0 TLS not available")
        #expect(refused.error == .startTLSRejected(ClientScript.reply("454 4.7.0 TLS not available")))

        var handshake = ClientScript(config(.required))
        handshake.establish(["STARTTLS"])
        handshake.reply("220 go")
        handshake.feed(.tlsFailed("certificate verify failed"))
        #expect(handshake.error == .tlsHandshakeFailed("certificate verify failed"))
        #expect(handshake.actions.last == .close)
    }

    /// The session alone decides the switch: it says when the reply to STARTTLS is awaited (the adapter
    /// holds input after it) and answers `.startTLS` only to a 220 — never to another reply, never later.
    @Test func startTLSIsDecidedOnlyByTheReplyToSTARTTLS() {
        var s = ClientScript(config(.opportunistic))
        s.reply("220 mx greets")
        #expect(!s.session.awaitsStartTLSReply) // the greeting's 220 is no switch
        #expect(s.actions.allSatisfy { $0 != .startTLS })
        s.reply("250-mx\r\n250 STARTTLS")
        #expect(s.last == "STARTTLS")
        #expect(s.session.awaitsStartTLSReply)
        s.reply("220 2.0.0 go ahead")
        #expect(s.actions == [.startTLS])
        #expect(!s.session.awaitsStartTLSReply)
        // A 220 during the handshake is no second switch: the session fails.
        s.reply("220 again")
        #expect(!s.actions.contains(.startTLS))
        #expect(s.error == .unexpectedReply(ClientScript.reply("220 again"), expected: "nothing (TLS handshake)"))

        var refused = ClientScript(config(.opportunistic))
        refused.establish(["STARTTLS"])
        #expect(refused.session.awaitsStartTLSReply)
        refused.reply("454 4.7.0 TLS not available")
        #expect(!refused.actions.contains(.startTLS))
        #expect(!refused.session.awaitsStartTLSReply)
    }

    @Test func policyNoneNeverSendsStartTLS() {
        var s = ClientScript(config(.none))
        s.establish(["STARTTLS"])
        #expect(s.actions == [.ready])
        #expect(!s.sent.contains("STARTTLS"))
    }

    @Test func authPlainAfterTLS() {
        let credentials = SMTPClientCredentials(username: "relay", password: "secret")
        var s = ClientScript(config(.required, credentials: credentials))
        s.establish(["STARTTLS", "AUTH LOGIN PLAIN"])
        #expect(s.last == "STARTTLS") // never AUTH before TLS
        s.reply("220 go")
        s.feed(.tlsEstablished(TLSInfo(version: "TLSv1.3", cipher: "x")))
        s.reply("250-mx\r\n250 AUTH LOGIN PLAIN")
        let expected = "AUTH PLAIN " + Base64.encode(Array("\0relay\0secret".utf8))
        #expect(s.last == expected)
        #expect(s.session.transcript.lines.contains("C: AUTH PLAIN <hidden>"))
        #expect(!s.session.transcript.text.contains(Base64.encode(Array("\0relay\0secret".utf8))))
        s.reply("235 2.7.0 Authentication successful")
        #expect(s.actions == [.ready])
        #expect(s.session.authenticatedMechanism == .plain)
    }

    @Test(arguments: ["535 5.7.8 bad credentials", "454 4.7.0 temporary"])
    func authFailure(_ text: String) {
        var s = ClientScript(config(.none, credentials: SMTPClientCredentials(username: "u", password: "p"), plaintextAuth: true))
        s.establish(["AUTH PLAIN"])
        s.reply(text)
        let reply = ClientScript.reply(text)
        #expect(s.error == .authFailed(reply))
        #expect(s.error?.isTemporary == !reply.code.isPermanentFailure)
    }

    @Test func authLogin() {
        let credentials = SMTPClientCredentials(username: "relay", password: "secret")
        var s = ClientScript(config(.none, credentials: credentials, plaintextAuth: true))
        s.establish(["AUTH LOGIN"])
        #expect(s.last == "AUTH LOGIN")
        s.reply("334 VXNlcm5hbWU6")
        #expect(s.last == Base64.encode(Array("relay".utf8)))
        s.reply("334 UGFzc3dvcmQ6")
        #expect(s.last == Base64.encode(Array("secret".utf8)))
        s.reply("235 2.7.0 ok")
        #expect(s.actions == [.ready])
        #expect(s.session.authenticatedMechanism == .login)
        #expect(!s.session.transcript.text.contains(Base64.encode(Array("secret".utf8))))
    }

    @Test func authNeedsTLSUnlessAllowed() {
        var s = ClientScript(config(.none, credentials: SMTPClientCredentials(username: "u", password: "p")))
        s.establish(["AUTH PLAIN"])
        #expect(s.error == .authRequiresTLS)
        #expect(!s.sent.contains { $0.hasPrefix("AUTH") })
    }

    @Test func authNotOffered() {
        var s = ClientScript(config(.none, credentials: SMTPClientCredentials(username: "u", password: "p"), plaintextAuth: true))
        s.establish(["AUTH CRAM-MD5"])
        #expect(s.error == .authNotOffered(offered: ["CRAM-MD5"]))
    }

    @Test func timeoutsAndCloses() {
        var greeting = ClientScript()
        greeting.feed(.timedOut)
        #expect(greeting.error == .timeout("the greeting"))

        var data = ClientScript()
        data.establish([])
        data.feed(.startTransaction(SMTPClientEnvelope(sender: "", recipients: [ClientScript.alice], size: 1)))
        data.reply("250 ok")
        data.reply("250 ok")
        data.feed(.closed)
        #expect(data.error == .connectionLost("the reply to DATA"))
        #expect(data.result == nil)
        // After a failure nothing more happens, and new work is refused.
        #expect(data.feed(.reply(ClientScript.reply("250 late"))).isEmpty)
        data.feed(.startTransaction(SMTPClientEnvelope(sender: "", recipients: [ClientScript.alice], size: 1)))
        #expect(data.error == .connectionLost("the reply to DATA"))
    }

    @Test func malformedReplyFailsSession() {
        var s = ClientScript()
        s.feed(.malformedReply(.malformedLine("xyz")))
        #expect(s.error == .malformedReply(.malformedLine("xyz")))
        #expect(s.error?.isTemporary == true)
    }

    @Test func unexpectedReplyWhileIdle() {
        var s = ClientScript()
        s.establish([])
        s.reply("250 surprise")
        #expect(s.error != nil)
    }

    @Test func quitTimeoutCloses() {
        var s = ClientScript()
        s.establish([])
        s.feed(.quit)
        #expect(s.session.waitingFor == .quit)
        s.feed(.timedOut)
        #expect(s.actions == [.close])
        #expect(s.error == nil)
    }

    @Test func transcriptIsBounded() {
        var transcript = SMTPClientTranscript(limit: 3)
        for index in 0..<5 { transcript.client("NOOP \(index)") }
        #expect(transcript.lines == ["C: NOOP 2", "C: NOOP 3", "C: NOOP 4"])
        #expect(transcript.droppedLines == 2)
        #expect(transcript.text.hasPrefix("-- (2 earlier lines dropped)"))
        transcript.server(SMTPReply(.ok, .ok, lines: ["a", "b"]))
        #expect(Array(transcript.lines.suffix(2)) == ["S: 250-2.0.0 a", "S: 250 2.0.0 b"])
    }

    @Test func unsafeHeloNameIsRefused() {
        var s = ClientScript(SMTPClientSessionConfiguration(heloName: "a\r\nRSET", tlsPolicy: .none))
        #expect(s.session.isClosed)
        s.reply("220 mx")
        #expect(s.sent.isEmpty)
    }
}
