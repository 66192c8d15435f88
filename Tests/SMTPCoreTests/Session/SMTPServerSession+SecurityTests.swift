import Foundation
import MailCore
import Testing

@testable import SMTPCore

/// STARTTLS (RFC 3207), implicit TLS (RFC 8314), AUTH (RFC 4954), submission (RFC 6409), the
/// trace header with-types (RFC 3848) and the HTTP guard.
@Suite struct SMTPServerSessionSecurityTests {
    static let tls13 = TLSInfo(version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384")

    private func ehlo(startTLS: Bool = false, auth: Bool = false) -> String {
        var lines = ["S: 250-mx.example.test", "S: 250-PIPELINING", "S: 250-SIZE 52428800"]
        if startTLS { lines.append("S: 250-STARTTLS") }
        if auth { lines.append("S: 250-AUTH PLAIN LOGIN") }
        lines += ["S: 250-8BITMIME", "S: 250-DSN", "S: 250-ENHANCEDSTATUSCODES", "S: 250-SMTPUTF8", "S: 250-CHUNKING", "S: 250 HELP"]
        return lines.joined(separator: "\n")
    }

    private func plain(_ user: String, _ password: String, authz: String = "") -> String {
        Base64.encode(Array("\(authz)\0\(user)\0\(password)".utf8))
    }

    private func b64(_ text: String) -> String { Base64.encode(Array(text.utf8)) }

    private func runner(_ configure: @escaping (inout SMTPServerConfiguration) -> Void = { _ in }) -> TranscriptRunner {
        var r = TranscriptRunner(configure: configure)
        r.decisions = [alice: .localMailbox(id: 1), "bob@example.test": .localMailbox(id: 2)]
        r.passwords = [alice: "secret"]
        return r
    }

    // MARK: - STARTTLS

    @Test func startTLSAdvertisedThenSessionResets() {
        var r = runner { $0.tlsAvailable = true }
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehlo(startTLS: true))
            C: STARTTLS
            S: 220 2.0.0 Ready to start TLS
            A: startTLS
            C: MAIL FROM:<sender@remote.test>
            S: 503 5.5.1 Error: send HELO/EHLO first
            C: EHLO client.test
            \(ehlo(auth: true))
            C: STARTTLS
            S: 503 5.5.1 Error: TLS already active
            """)
        #expect(r.session.isTLS)
        #expect(r.session.tlsInfo == Self.tls13)
        #expect(r.session.heloName == "client.test")
    }

    @Test func startTLSNotAdvertisedWhenUnavailable() {
        var r = runner()
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehloReply)
            C: STARTTLS
            S: 502 5.5.1 Error: command not implemented
            """)
        #expect(!r.session.isTLS)
    }

    @Test func startTLSErrors() {
        var r = runner { $0.tlsAvailable = true }
        r.run(
            """
            \(greeting)
            C: STARTTLS
            S: 503 5.5.1 Error: send HELO/EHLO first
            C: EHLO client.test
            \(ehlo(startTLS: true))
            C: STARTTLS now
            S: 501 5.5.4 Syntax: STARTTLS
            C: MAIL FROM:<sender@remote.test>
            S: 250 2.1.0 Ok
            C: STARTTLS
            S: 503 5.5.1 Error: MAIL transaction in progress
            """)
        #expect(!r.session.isTLS)
        #expect(r.session.errorCount == 3)
    }

    /// Plaintext pipelined after STARTTLS is never executed (CVE-2011-0411): the session ignores
    /// lines until `.tlsEstablished`, and forgets EHLO and AUTH afterwards.
    @Test func awaitingHandshakeIgnoresLinesAndResetsAuth() {
        var configuration = SMTPServerConfiguration(hostname: "mx.example.test")
        configuration.tlsAvailable = true
        configuration.allowPlaintextAuth = true
        configuration.isSubmission = true
        var session = SMTPServerSession(configuration: configuration, client: ClientInfo(ip: nil))
        _ = session.handle(.connected)
        _ = session.handle(.line(Array("EHLO c".utf8)))
        _ = session.handle(.line(Array("AUTH PLAIN \(plain(alice, "secret"))".utf8)))
        _ = session.handle(.authenticated(.success(user: alice)))
        #expect(session.authenticatedUser == alice)
        let actions = session.handle(.line(Array("STARTTLS".utf8)))
        guard actions.count == 2, case .send(let reply) = actions[0], case .startTLS = actions[1] else {
            Issue.record("unexpected \(actions)"); return
        }
        #expect(reply == .readyToStartTLS)
        #expect(session.isAwaitingAnswer)
        #expect(session.handle(.line(Array("MAIL FROM:<alice@example.test>".utf8))).isEmpty)
        #expect(session.handle(.authenticated(.success(user: "x"))).isEmpty)
        #expect(session.handle(.tlsEstablished(Self.tls13)).isEmpty)
        #expect(!session.isAwaitingAnswer)
        #expect(session.isTLS)
        #expect(session.authenticatedUser == nil)
        #expect(session.heloName == nil)
        // A second report changes nothing.
        #expect(session.handle(.tlsEstablished(TLSInfo(version: "TLSv1.2", cipher: "X"))).isEmpty)
        #expect(session.tlsInfo == Self.tls13)
        _ = session.handle(.line(Array("EHLO c".utf8)))
        let mail = session.handle(.line(Array("MAIL FROM:<alice@example.test>".utf8)))
        guard case .send(let required)? = mail.first else { Issue.record("no reply"); return }
        #expect(required == .authRequired)
    }

    @Test func tlsEstablishedWithoutStartTLSIsIgnored() {
        var r = runner { $0.tlsAvailable = true }
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehlo(startTLS: true))
            E: tls
            C: NOOP
            S: 250 2.0.0 Ok
            """)
        #expect(!r.session.isTLS)
        #expect(r.session.tlsInfo == nil)
        #expect(r.session.heloName == "client.test")
    }

    @Test func implicitTLS() {
        var r = runner {
            $0.implicitTLS = true; $0.tlsAvailable = true
        }
        #expect(r.session.isTLS)
        r.run(
            """
            \(greeting)
            E: tls
            C: EHLO client.test
            \(ehlo(auth: true))
            E: tls
            C: STARTTLS
            S: 503 5.5.1 Error: TLS already active
            """)
        #expect(r.session.tlsInfo == Self.tls13)
        #expect(r.session.heloName == "client.test")
    }

    // MARK: - AUTH

    @Test func authPlainWithInitialResponse() {
        var r = runner { $0.implicitTLS = true }
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehlo(auth: true))
            C: AUTH PLAIN \(plain(alice, "secret"))
            A: authenticate alice@example.test secret
            S: 235 2.7.0 Authentication successful
            C: EHLO client.test
            \(ehlo())
            """)
        #expect(r.session.authenticatedUser == alice)
    }

    @Test func authPlainWithoutInitialResponse() {
        var r = runner { $0.implicitTLS = true }
        r.send(["EHLO client.test", "auth plain", plain(alice, "secret")])
        #expect(
            r.stream.suffix(3) == [
                "S: 334 ", "A: authenticate alice@example.test secret",
                "S: 235 2.7.0 Authentication successful"
            ])
        #expect(r.session.authenticatedUser == alice)
    }

    @Test func authLogin() {
        var r = runner { $0.implicitTLS = true }
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehlo(auth: true))
            C: AUTH LOGIN
            S: 334 VXNlcm5hbWU6
            C: \(b64(alice))
            S: 334 UGFzc3dvcmQ6
            C: \(b64("secret"))
            S: 235 2.7.0 Authentication successful
            """)
        #expect(r.session.authenticatedUser == alice)
        #expect(!r.session.isInAuthExchange)
    }

    @Test func authLoginWithInitialUsername() {
        var r = runner { $0.implicitTLS = true }
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehlo(auth: true))
            C: AUTH LOGIN \(b64(alice))
            S: 334 UGFzc3dvcmQ6
            C: \(b64("secret"))
            S: 235 2.7.0 Authentication successful
            """)
    }

    @Test func authCancelAndMalformed() {
        var r = runner { $0.implicitTLS = true }
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehlo(auth: true))
            C: AUTH LOGIN
            S: 334 VXNlcm5hbWU6
            C: *
            S: 501 5.0.0 Authentication cancelled
            C: AUTH PLAIN
            S: 334 *
            C: not base64!
            S: 501 5.5.2 Invalid base64 data
            C: AUTH PLAIN =
            S: 501 5.5.2 Malformed PLAIN message
            C: AUTH PLAIN dGlt
            S: 501 5.5.2 Malformed PLAIN message
            C: NOOP
            S: 250 2.0.0 Ok
            """)
        #expect(r.session.authenticatedUser == nil)
        #expect(r.session.authFailures == 0)
        #expect(r.session.errorCount == 3)
    }

    @Test func authNeedsTLSUnlessPlaintextAllowed() {
        var r = runner { $0.tlsAvailable = true }
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehlo(startTLS: true))
            C: AUTH PLAIN \(plain(alice, "secret"))
            S: 538 5.7.11 Encryption required for requested authentication mechanism
            """)
        var p = runner { $0.allowPlaintextAuth = true }
        p.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehlo(auth: true))
            C: AUTH PLAIN \(plain(alice, "secret"))
            S: 235 2.7.0 Authentication successful
            """)
        #expect(p.session.authenticatedUser == alice)
        #expect(!p.session.isTLS)
    }

    @Test func authSequenceErrors() {
        var r = runner { $0.implicitTLS = true }
        r.run(
            """
            \(greeting)
            C: AUTH PLAIN \(plain(alice, "secret"))
            S: 503 5.5.1 Error: send HELO/EHLO first
            C: HELO client.test
            S: 250 mx.example.test
            C: AUTH CRAM-MD5
            S: 504 5.5.4 Unrecognized authentication type
            C: AUTH
            S: 501 5.5.4 Syntax: AUTH mechanism [initial-response]
            C: MAIL FROM:<alice@example.test>
            S: 250 2.1.0 Ok
            C: AUTH PLAIN \(plain(alice, "secret"))
            S: 503 5.5.1 Error: MAIL transaction in progress
            C: RSET
            S: 250 2.0.0 Ok
            C: AUTH PLAIN \(plain(alice, "secret"))
            S: 235 2.7.0 Authentication successful
            C: AUTH PLAIN \(plain(alice, "secret"))
            S: 503 5.5.1 Error: already authenticated
            """)
    }

    @Test func authFailuresThen421() {
        var r = runner { $0.implicitTLS = true }
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehlo(auth: true))
            C: AUTH PLAIN \(plain(alice, "wrong"))
            S: 535 5.7.8 Authentication credentials invalid
            C: AUTH PLAIN \(plain("bob@example.test", "secret", authz: alice))
            S: 535 5.7.8 Authentication credentials invalid
            C: AUTH LOGIN \(b64(alice))
            S: 334 UGFzc3dvcmQ6
            C: \(b64("nope"))
            S: 535 5.7.8 Authentication credentials invalid
            S: 421 4.7.0 mx.example.test Error: too many authentication failures
            C: NOOP
            """)
        #expect(r.session.isClosed)
        #expect(r.session.authFailures == 3)
        #expect(r.session.errorCount == 0)
        #expect(r.actions.contains { if case .close = $0 { return true } else { return false } })
    }

    @Test func authTemporaryFailure() {
        var r = runner { $0.implicitTLS = true }
        r.authOutcomes = [.temporaryFailure, .success(user: "Alice@Example.Test")]
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehlo(auth: true))
            C: AUTH PLAIN \(plain(alice, "secret"))
            S: 454 4.7.0 Temporary authentication failure
            C: AUTH PLAIN \(plain(alice, "secret"))
            S: 235 2.7.0 Authentication successful
            """)
        #expect(r.session.authenticatedUser == "Alice@Example.Test")
        #expect(r.session.authFailures == 0)
    }

    /// Over the bound of logins in flight (issue 13): 421 4.7.0 and close, not a counted failure.
    @Test func tooManyLoginsInFlightCloses() {
        var r = runner { $0.implicitTLS = true }
        r.authOutcomes = [.tooManyLogins]
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehlo(auth: true))
            C: AUTH PLAIN \(plain(alice, "secret"))
            S: 421 4.7.0 mx.example.test Error: too many logins in progress, try again later
            C: NOOP
            """)
        #expect(r.session.isClosed)
        #expect(r.session.authFailures == 0)
        #expect(r.session.authenticatedUser == nil)
        #expect(r.actions.contains { if case .close = $0 { return true } else { return false } })
    }

    @Test func authAnswerOnlyWhenAsked() {
        var session = SMTPServerSession(configuration: SMTPServerConfiguration(hostname: "h"), client: ClientInfo(ip: nil))
        _ = session.handle(.connected)
        #expect(session.handle(.authenticated(.success(user: "x"))).isEmpty)
        #expect(session.authenticatedUser == nil)
    }

    // MARK: - Line lengths (RFC 4954 §4: 12288 for AUTH)

    @Test func longAuthLineAcceptedButLongNoopRejected() {
        var configuration = SMTPServerConfiguration(hostname: "mx.example.test")
        configuration.implicitTLS = true
        var session = SMTPServerSession(configuration: configuration, client: ClientInfo(ip: nil))
        #expect(session.maxLineLength == 12288)
        _ = session.handle(.connected)
        _ = session.handle(.line(Array("EHLO c".utf8)))
        var noopSession = session
        let noop = noopSession.handle(.line(Array("NOOP ".utf8) + Array(repeating: UInt8(ascii: "x"), count: 600)))
        guard case .send(let tooLong)? = noop.first, case .close? = noop.last else { Issue.record("got \(noop)"); return }
        #expect(tooLong == .commandLineTooLong, "only AUTH lines may be longer; others close")
        #expect(noopSession.isClosed)
        // A 9000-octet password in PLAIN: the line is ~12000 octets.
        let password = String(repeating: "p", count: 9000)
        let line = Array("AUTH PLAIN \(plain(alice, password))".utf8)
        #expect(line.count > 12000 && line.count + 2 <= 12288)
        let auth = session.handle(.line(line))
        guard case .authenticate(let user, let pw)? = auth.first else { Issue.record("got \(auth)"); return }
        #expect(user == alice && pw == password)
        _ = session.handle(.authenticated(.success(user: alice)))
        #expect(session.maxLineLength == 512)
        // Over 12288 even for AUTH: rejected.
        var other = SMTPServerSession(configuration: configuration, client: ClientInfo(ip: nil))
        _ = other.handle(.line(Array("EHLO c".utf8)))
        let huge = other.handle(.line(Array("AUTH PLAIN ".utf8) + Array(repeating: UInt8(ascii: "A"), count: 12280)))
        guard case .send(let hugeReply)? = huge.first else { Issue.record("no reply"); return }
        #expect(hugeReply == .commandLineTooLong)
    }

    @Test func longContinuationLineAccepted() {
        var r = runner { $0.implicitTLS = true }
        r.send(["EHLO client.test", "AUTH LOGIN"])
        #expect(r.session.isInAuthExchange)
        #expect(r.session.maxLineLength == 12288)
        let user = String(repeating: "u", count: 1000)
        r.feed(.line(Array(b64(user).utf8)))
        #expect(r.stream.last == "S: 334 UGFzc3dvcmQ6")
        r.feed(.lineTooLong)
        #expect(r.stream.suffix(2) == ["S: 500 5.5.6 Error: command line too long", "A: close"])
        #expect(!r.session.isInAuthExchange)
        #expect(r.session.isClosed)
    }

    @Test func maxLineLengthWithoutAuth() {
        let plainSession = SMTPServerSession(configuration: SMTPServerConfiguration(hostname: "h"), client: ClientInfo(ip: nil))
        #expect(plainSession.maxLineLength == 512)
        var configuration = SMTPServerConfiguration(hostname: "h")
        configuration.allowPlaintextAuth = true
        #expect(SMTPServerSession(configuration: configuration, client: ClientInfo(ip: nil)).maxLineLength == 12288)
    }

    // MARK: - Submission (RFC 6409)

    @Test func submissionNeedsAuthAndOwnSender() {
        var r = runner {
            $0.implicitTLS = true; $0.isSubmission = true
        }
        r.decisions["someone@remote.test"] = .localMailbox(id: 5)
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehlo(auth: true))
            C: MAIL FROM:<alice@example.test>
            S: 530 5.7.0 Authentication required
            C: RCPT TO:<someone@remote.test>
            S: 503 5.5.1 Error: need MAIL command
            C: AUTH PLAIN \(plain(alice, "secret"))
            S: 235 2.7.0 Authentication successful
            C: MAIL FROM:<bob@example.test>
            S: 553 5.7.1 <bob@example.test>: Sender address rejected: not owned by user
            C: MAIL FROM:<>
            S: 553 5.7.1 <>: Sender address rejected: not owned by user
            C: MAIL FROM:<Alice@EXAMPLE.test> AUTH=<>
            S: 250 2.1.0 Ok
            C: RCPT TO:<someone@remote.test>
            S: 250 2.1.5 Ok
            """)
    }

    /// The AUTH user is the mailbox's canonical key (A-label domain, as `Authenticator` returns it); the
    /// owner may write the sender with the U-label, in any case (issue 13 item 12: this was 553).
    @Test func ownSenderMatchesAcrossIDNSpellings() {
        var r = runner {
            $0.implicitTLS = true; $0.isSubmission = true
        }
        r.passwords["anna@xn--bcher-kva.example"] = "pw"
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehlo(auth: true))
            C: AUTH PLAIN \(plain("anna@xn--bcher-kva.example", "pw"))
            S: 235 2.7.0 Authentication successful
            C: MAIL FROM:<anna@bücher.example> SMTPUTF8
            S: 250 2.1.0 Ok
            C: RSET
            S: 250 2.0.0 Ok
            C: MAIL FROM:<ANNA@BÜCHER.example> SMTPUTF8
            S: 250 2.1.0 Ok
            C: RSET
            S: 250 2.0.0 Ok
            C: MAIL FROM:<anna@XN--BCHER-KVA.example>
            S: 250 2.1.0 Ok
            C: RSET
            S: 250 2.0.0 Ok
            C: MAIL FROM:<anna@bucher.example>
            S: 553 5.7.1 <anna@bucher.example>: Sender address rejected: not owned by user
            C: MAIL FROM:<anna@sub.bücher.example> SMTPUTF8
            S: 553 5.7.1 <anna@sub.bücher.example>: Sender address rejected: not owned by user
            """)
    }

    @Test func senderMatchCanBeTurnedOff() {
        var r = runner {
            $0.implicitTLS = true; $0.isSubmission = true; $0.requireSenderMatch = false
        }
        r.run(
            """
            \(greeting)
            C: EHLO client.test
            \(ehlo(auth: true))
            C: AUTH PLAIN \(plain(alice, "secret"))
            S: 235 2.7.0 Authentication successful
            C: MAIL FROM:<>
            S: 250 2.1.0 Ok
            """)
    }

    // MARK: - Trace header and log summary

    @Test func traceHeaderESMTPSAWithTLSComment() {
        var r = runner { $0.tlsAvailable = true }
        r.send([
            "EHLO client.test", "STARTTLS", "EHLO client.test", "AUTH PLAIN \(plain(alice, "secret"))",
            "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.test>", "DATA"
        ])
        guard let envelope = r.envelopes.first, let summary = r.summaries.first else { Issue.record("nothing stored"); return }
        let trace = String(decoding: envelope.traceHeaders, as: UTF8.self)
        #expect(
            trace == """
                Return-Path: <alice@example.test>\r
                Received: from client.test ([192.0.2.10])\r
                \t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r
                \tby mx.example.test (Petrel) with ESMTPSA id 0TESTQUEUEID0001\r
                \tfor <bob@example.test>; Fri, 15 Jan 2027 08:00:00 +0000\r

                """)
        #expect(!trace.contains("secret"))
        #expect(summary.authenticatedUser == alice)
        #expect(summary.tls == Self.tls13)
    }

    @Test func traceHeaderESMTPAWithoutTLS() {
        var r = runner { $0.allowPlaintextAuth = true }
        r.send([
            "EHLO client.test", "AUTH PLAIN \(plain(alice, "secret"))",
            "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.test>", "DATA"
        ])
        let trace = r.envelopes.first.map { String(decoding: $0.traceHeaders, as: UTF8.self) } ?? ""
        #expect(trace.contains("\tby mx.example.test (Petrel) with ESMTPA id "))
        #expect(!trace.contains("(using"))
        #expect(r.summaries.first?.tls == nil)
    }

    @Test func configurationDefaults() {
        let c = SMTPServerConfiguration(hostname: "h")
        #expect(!c.tlsAvailable && !c.implicitTLS && !c.isSubmission && !c.allowPlaintextAuth)
        #expect(c.requireSenderMatch)
        #expect(c.maxAuthFailures == 3)
    }

    /// Random security-related lines and events never crash the session, and a closed session stays silent.
    @Test func randomInputNeverCrashes() {
        let words = [
            "EHLO c", "HELO c", "STARTTLS", "STARTTLS x", "AUTH", "AUTH PLAIN", "AUTH LOGIN", "AUTH PLAIN =",
            "AUTH LOGIN Ym9i", "AUTH X", "*", "=", "Ym9i", "AGEAYg==", "MAIL FROM:<a@b.test>", "MAIL FROM:<>",
            "RCPT TO:<a@b.test>", "DATA", "RSET", "NOOP", "GET /", ""
        ]
        var seed: UInt64 = 0x5EED
        func next() -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int(truncatingIfNeeded: seed >> 33)
        }
        for round in 0..<200 {
            var configuration = SMTPServerConfiguration(hostname: "h")
            configuration.tlsAvailable = round % 2 == 0
            configuration.implicitTLS = round % 3 == 0
            configuration.allowPlaintextAuth = round % 5 == 0
            configuration.isSubmission = round % 7 == 0
            var session = SMTPServerSession(configuration: configuration, client: ClientInfo(ip: nil))
            _ = session.handle(.connected)
            for _ in 0..<30 {
                let events: [SMTPServerEvent] = [
                    .line(Array(words[next() % words.count].utf8)), .tlsEstablished(Self.tls13),
                    .authenticated([.success(user: "a@b.test"), .invalidCredentials, .temporaryFailure][next() % 3]),
                    .recipientResolved(.localMailbox(id: 1)), .dataReceived(.complete(octets: 1)),
                    .messageStored(.stored), .lineTooLong, .bareLineFeed
                ]
                let wasClosed = session.isClosed
                let actions = session.handle(events[next() % events.count])
                if wasClosed { #expect(actions.isEmpty) }
                #expect(session.maxLineLength >= configuration.maxCommandLineLength)
            }
        }
    }

    // MARK: - HTTP guard

    @Test(arguments: [
        "GET / HTTP/1.1", "POST /x HTTP/1.0", "HEAD / HTTP/1.1", "PUT /a HTTP/1.1",
        "CONNECT mx:25 HTTP/1.1", "OPTIONS * HTTP/1.1"
    ])
    func httpRequestCloses(line: String) {
        var r = runner()
        r.run(
            """
            \(greeting)
            C: \(line)
            S: 421 4.7.0 mx.example.test Error: HTTP not supported
            A: close
            C: EHLO client.test
            """)
        #expect(r.session.isClosed)
    }
}

extension TranscriptRunner {
    /// Connects and sends these command lines, answering requests, without checking the output.
    mutating func send(_ lines: [String]) {
        feed(.connected)
        for line in lines { feed(.line(Array(line.utf8))) }
    }
}
