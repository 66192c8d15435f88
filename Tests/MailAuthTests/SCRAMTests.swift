/// SCRAM-SHA-256: the RFC 7677 §3 example exchange through MailCore's `SASLServerExchange` with
/// MailAuth's hash functions and verifier derivation; wrong proofs, channel binding, bad nonces.
import MailAuth
import MailCore
import Testing

@Suite struct SCRAMTests {
    // RFC 7677 §3: user "user", password "pencil".
    static let clientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    static let serverNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    static let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    static let clientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    static let serverFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

    static func credentials(_ password: String = "pencil") throws -> SCRAMStoredCredentials {
        let salt = try #require(Base64.decode("W22ZaJ0SNY7soEsUEjb6gQ=="))
        return try #require(SCRAMVerifier.derive(password: password, salt: salt, iterations: 4096))
    }

    static func b64(_ s: String) -> [UInt8] { Array(Base64.encode(Array(s.utf8)).utf8) }

    @Test func rfc7677Example() throws {
        var exchange = SASLServerExchange(mechanism: .scramSHA256, initialResponse: Base64.encode(Array(Self.clientFirst.utf8)))
        #expect(exchange.start() == .lookupSCRAM(username: "user"))
        let parameters = SCRAMServerParameters(credentials: try Self.credentials(), serverNonce: Self.serverNonce, hash: SCRAMSHA256())
        #expect(exchange.provideSCRAM(parameters) == .challenge(Array(Self.serverFirst.utf8)))
        #expect(exchange.receive(Self.b64(Self.clientFinal)) == .challenge(Array(Self.serverFinal.utf8)))
        #expect(exchange.receive([]) == .scramVerified(username: "user"))
        #expect(exchange.isFinished)
    }

    @Test func wrongPasswordFailsWithoutServerSignature() throws {
        var exchange = SASLServerExchange(mechanism: .scramSHA256, initialResponse: nil)
        #expect(exchange.start() == .challenge([]))
        #expect(exchange.receive(Self.b64(Self.clientFirst)) == .lookupSCRAM(username: "user"))
        let parameters = SCRAMServerParameters(
            credentials: try Self.credentials("not-pencil"), serverNonce: Self.serverNonce,
            hash: SCRAMSHA256())
        _ = exchange.provideSCRAM(parameters)
        #expect(exchange.receive(Self.b64(Self.clientFinal)) == .scramFailed(username: "user"))
    }

    @Test func malformedMessagesAreRefused() throws {
        let parameters = SCRAMServerParameters(credentials: try Self.credentials(), serverNonce: Self.serverNonce, hash: SCRAMSHA256())
        // Channel binding asked for (no -PLUS offered), a reserved m= extension, no nonce.
        for first in ["p=tls-exporter,,n=user,r=abc", "n,,m=ext,n=user,r=abc", "n,,n=user", "n,,n=us=er,r=abc", "x,,n=user,r=abc"] {
            var exchange = SASLServerExchange(mechanism: .scramSHA256, initialResponse: Base64.encode(Array(first.utf8)))
            guard case .malformed = exchange.start() else {
                Issue.record("accepted \(first)")
                continue
            }
        }
        // A client-final with another nonce, or another gs2 header.
        for final in [
            "c=biws,r=rOprNGfwEbeRWgbNEkqOother,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            "c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
        ] {
            var exchange = SASLServerExchange(mechanism: .scramSHA256, initialResponse: Base64.encode(Array(Self.clientFirst.utf8)))
            _ = exchange.start()
            _ = exchange.provideSCRAM(parameters)
            guard case .malformed = exchange.receive(Self.b64(final)) else {
                Issue.record("accepted \(final)")
                continue
            }
        }
        // An authorization identity other than the user.
        var exchange = SASLServerExchange(mechanism: .scramSHA256, initialResponse: Base64.encode(Array("n,a=admin,n=user,r=abc".utf8)))
        #expect(exchange.start() == .authorizationDenied(authenticationID: "user"))
    }

    @Test func verifierTextRoundTripsAndDecoysAreStable() throws {
        let text = try #require(SCRAMVerifier.make(password: "secret", iterations: 4096))
        #expect(text.hasPrefix("SCRAM-SHA-256$4096:"))
        let decoded = try #require(SCRAMVerifier.decode(text))
        #expect(SCRAMVerifier.encode(decoded) == text)
        #expect(SCRAMVerifier.derive(password: "secret", salt: decoded.salt, iterations: 4096) == decoded)
        for bad in [
            "", "SCRAM-SHA-1$4096:c2FsdA==$a:b", "SCRAM-SHA-256$0:c2FsdA==$a:b", "SCRAM-SHA-256$4096:c2FsdA==$YQ==:YQ==",
            String(repeating: "x", count: 2000)
        ] {
            #expect(SCRAMVerifier.decode(bad) == nil)
        }
        let secret: [UInt8] = Array(repeating: 7, count: 32)
        #expect(SCRAMVerifier.decoy(username: "A@x.test", secret: secret) == SCRAMVerifier.decoy(username: "a@x.test", secret: secret))
        #expect(SCRAMVerifier.decoy(username: "a@x.test", secret: secret).salt != SCRAMVerifier.decoy(username: "b@x.test", secret: secret).salt)
    }

    @Test func advertisedMechanisms() {
        #expect(SASLMechanism.advertised == "PLAIN LOGIN")
        #expect(SASLMechanism.advertised(scram: true) == "SCRAM-SHA-256 PLAIN LOGIN")
        #expect(SASLMechanism(name: "scram-sha-256") == .scramSHA256)
    }
}
