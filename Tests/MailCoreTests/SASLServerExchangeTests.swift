import MailCore
import Testing

@Suite struct SASLServerExchangeTests {
    private func b64(_ text: String) -> [UInt8] { Array(Base64.encode(Array(text.utf8)).utf8) }

    @Test func mechanismNamesAreCaseInsensitive() {
        #expect(SASLMechanism(name: "plain") == .plain)
        #expect(SASLMechanism(name: "Login") == .login)
        #expect(SASLMechanism(name: "CRAM-MD5") == nil)
        #expect(SASLMechanism.advertised == "PLAIN LOGIN")
    }

    // MARK: - PLAIN (RFC 4616)

    /// RFC 4616 §4 examples.
    @Test func plainRFC4616Vectors() {
        var a = SASLServerExchange(mechanism: .plain, initialResponse: "AHRpbQB0YW5zdGFhZnRhbnN0YWFm")
        #expect(a.start() == .credentials(username: "tim", password: "tanstaaftanstaaf"))
        #expect(a.isFinished)
        // "Ursel\0Kurt\0xipj3plmq": Kurt acting as Ursel — not supported.
        var b = SASLServerExchange(mechanism: .plain, initialResponse: "VXJzZWwAS3VydAB4aXBqM3BsbXE=")
        #expect(b.start() == .authorizationDenied(authenticationID: "Kurt"))
    }

    @Test func plainAuthzidEqualToAuthcidIsAccepted() {
        var e = SASLServerExchange(mechanism: .plain, initialResponse: Base64.encode(Array("Bob@x.test\0bob@x.test\0pw".utf8)))
        #expect(e.start() == .credentials(username: "bob@x.test", password: "pw"))
    }

    @Test func plainWithoutInitialResponseSendsEmptyChallenge() {
        var e = SASLServerExchange(mechanism: .plain, initialResponse: nil)
        #expect(e.start() == .challenge([]))
        #expect(!e.isFinished)
        #expect(e.receive(b64("\0alice@example.test\0pass word")) == .credentials(username: "alice@example.test", password: "pass word"))
        #expect(e.receive(b64("\0a\0b")) == .malformed("Authentication exchange already finished"))
    }

    @Test func equalsSignIsAnEmptyInitialResponse() {
        var plain = SASLServerExchange(mechanism: .plain, initialResponse: "=")
        #expect(plain.start() == .malformed("Malformed PLAIN message"))
        var login = SASLServerExchange(mechanism: .login, initialResponse: "=")
        #expect(login.start() == .malformed("Malformed LOGIN response"))
    }

    @Test(arguments: [
        ("AHRpbQB0YW5zdGFhZnRhbnN0YWFm=", "Invalid base64 data"), // bad padding
        ("AHRpbQB0YW5zdGFhZn", "Invalid base64 data"), // not a multiple of 4
        ("AHRp bQB0", "Invalid base64 data"), // space
        ("dGlt", "Malformed PLAIN message"), // "tim"
        ("AHRpbQA=", "Malformed PLAIN message"), // "\0tim\0" (empty password)
        ("AAB4", "Malformed PLAIN message"), // "\0\0x" (empty authcid)
        ("AGEAYgBj", "Malformed PLAIN message") // "\0a\0b\0c" (NUL in password)
    ])
    func plainMalformed(response: String, reason: String) {
        var initial = SASLServerExchange(mechanism: .plain, initialResponse: response)
        #expect(initial.start() == .malformed(reason))
        var continued = SASLServerExchange(mechanism: .plain, initialResponse: nil)
        #expect(continued.start() == .challenge([]))
        #expect(continued.receive(Array(response.utf8)) == .malformed(reason))
        #expect(continued.isFinished)
    }

    @Test func plainCancel() {
        var e = SASLServerExchange(mechanism: .plain, initialResponse: nil)
        _ = e.start()
        #expect(e.receive(Array("*".utf8)) == .cancelled)
        #expect(e.isFinished)
        // "*" as an initial response is just bad base64.
        var i = SASLServerExchange(mechanism: .plain, initialResponse: "*")
        #expect(i.start() == .malformed("Invalid base64 data"))
    }

    // MARK: - LOGIN

    @Test func loginFlow() {
        var e = SASLServerExchange(mechanism: .login, initialResponse: nil)
        #expect(e.start() == .challenge(Array("Username:".utf8)))
        #expect(Base64.encode(SASLServerExchange.usernameChallenge) == "VXNlcm5hbWU6")
        #expect(e.receive(b64("alice@example.test")) == .challenge(Array("Password:".utf8)))
        #expect(Base64.encode(SASLServerExchange.passwordChallenge) == "UGFzc3dvcmQ6")
        #expect(e.receive(b64("s3cret pw")) == .credentials(username: "alice@example.test", password: "s3cret pw"))
        #expect(e.isFinished)
    }

    @Test func loginWithInitialUsername() {
        var e = SASLServerExchange(mechanism: .login, initialResponse: Base64.encode(Array("bob".utf8)))
        #expect(e.start() == .challenge(Array("Password:".utf8)))
        #expect(e.receive(b64("pw")) == .credentials(username: "bob", password: "pw"))
    }

    @Test func loginCancelAtEitherStep() {
        var first = SASLServerExchange(mechanism: .login, initialResponse: nil)
        _ = first.start()
        #expect(first.receive([UInt8(ascii: "*")]) == .cancelled)
        var second = SASLServerExchange(mechanism: .login, initialResponse: nil)
        _ = second.start()
        _ = second.receive(b64("bob"))
        #expect(second.receive([UInt8(ascii: "*")]) == .cancelled)
    }

    @Test func loginMalformed() {
        var badBase64 = SASLServerExchange(mechanism: .login, initialResponse: nil)
        _ = badBase64.start()
        #expect(badBase64.receive(Array("bob".utf8)) == .malformed("Invalid base64 data"))
        var empty = SASLServerExchange(mechanism: .login, initialResponse: nil)
        _ = empty.start()
        #expect(empty.receive([]) == .malformed("Malformed LOGIN response"))
        var nul = SASLServerExchange(mechanism: .login, initialResponse: nil)
        _ = nul.start()
        #expect(nul.receive(Array(Base64.encode([0x62, 0x00, 0x62]).utf8)) == .malformed("Malformed LOGIN response"))
        var invalidUTF8 = SASLServerExchange(mechanism: .login, initialResponse: nil)
        _ = invalidUTF8.start()
        _ = invalidUTF8.receive(b64("bob"))
        #expect(invalidUTF8.receive(Array(Base64.encode([0xC3, 0x28]).utf8)) == .malformed("Malformed LOGIN response"))
        var long = SASLServerExchange(mechanism: .login, initialResponse: nil)
        _ = long.start()
        let tooLong = Base64.encode(Array(repeating: UInt8(ascii: "a"), count: SASLServerExchange.maxFieldLength + 1))
        #expect(long.receive(Array(tooLong.utf8)) == .malformed("Malformed LOGIN response"))
    }

    @Test func misuseNeverCrashes() {
        var e = SASLServerExchange(mechanism: .login, initialResponse: nil)
        #expect(e.receive(b64("bob")) == .malformed("Authentication exchange not started"))
        var twice = SASLServerExchange(mechanism: .plain, initialResponse: nil)
        _ = twice.start()
        #expect(twice.start() == .malformed("Authentication exchange already started"))
    }

    /// The same credentials arrive whichever way the client splits the exchange.
    @Test func everyWayOfSendingTheSameCredentials() {
        let user = "ünï@example.test", password = "p:a s\u{7F}s"
        var results: [SASLServerExchange.Step] = []
        var plainInitial = SASLServerExchange(mechanism: .plain, initialResponse: Base64.encode(Array("\0\(user)\0\(password)".utf8)))
        results.append(plainInitial.start())
        var plainContinued = SASLServerExchange(mechanism: .plain, initialResponse: nil)
        _ = plainContinued.start()
        results.append(plainContinued.receive(b64("\0\(user)\0\(password)")))
        var loginInitial = SASLServerExchange(mechanism: .login, initialResponse: Base64.encode(Array(user.utf8)))
        _ = loginInitial.start()
        results.append(loginInitial.receive(b64(password)))
        var loginContinued = SASLServerExchange(mechanism: .login, initialResponse: nil)
        _ = loginContinued.start()
        _ = loginContinued.receive(b64(user))
        results.append(loginContinued.receive(b64(password)))
        #expect(results == Array(repeating: .credentials(username: user, password: password), count: 4))
    }
}
