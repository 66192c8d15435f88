import MailCore
import Testing

@Suite struct SASLPlainTests {
    // RFC 4616 §4 examples.
    @Test func rfc4616ExampleWithoutAuthorizationID() throws {
        let credentials = try SASLPlain.decode(base64: Array("AHRpbQB0YW5zdGFhZnRhbnN0YWFm".utf8))
        #expect(credentials == SASLPlainCredentials(authorizationID: nil, authenticationID: "tim", password: "tanstaaftanstaaf"))
        #expect(credentials.effectiveUsername == "tim")
    }

    @Test func rfc4616ExampleWithAuthorizationID() throws {
        let credentials = try SASLPlain.decode(base64: Array("VXJzZWwAS3VydAB4aXBqM3BsbXE=".utf8))
        #expect(credentials.authorizationID == "Ursel")
        #expect(credentials.authenticationID == "Kurt")
        #expect(credentials.password == "xipj3plmq")
        // Acting as another identity is not supported.
        #expect(credentials.effectiveUsername == nil)
    }

    @Test func authorizationIDEqualToAuthenticationIDIsAccepted() throws {
        let credentials = try SASLPlain.parse(Array("Alice@Example.test\0alice@example.test\0pw".utf8))
        #expect(credentials.effectiveUsername == "alice@example.test")
    }

    @Test func passwordMayContainSpacesAndUTF8() throws {
        let credentials = try SASLPlain.parse(Array("\0alice@example.test\0pass wörd".utf8))
        #expect(credentials.password == "pass wörd")
    }

    @Test(arguments: [
        "", "tim", "\0tim", "\0tim\0", "\0\0secret", "a\0b\0c\0d", "\0\0"
    ])
    func rejectsMalformedMessages(_ message: String) {
        #expect(throws: SASLPlainError.malformedMessage) { try SASLPlain.parse(Array(message.utf8)) }
    }

    @Test func rejectsInvalidUTF8() {
        let message: [UInt8] = [0, 0x74, 0xFF, 0, 0x70]
        #expect(throws: SASLPlainError.malformedMessage) { try SASLPlain.parse(message) }
    }

    @Test(arguments: ["AHRpbQB0YW5zdGFhZnRhbnN0YWFm=", "not base64!", "AHRpbQ B0"])
    func rejectsBadBase64(_ text: String) {
        #expect(throws: SASLPlainError.invalidBase64) { try SASLPlain.decode(base64: Array(text.utf8)) }
    }

    @Test func emptyResponseIsMalformed() {
        #expect(throws: SASLPlainError.malformedMessage) { try SASLPlain.decode(base64: [UInt8]()) }
    }

    @Test func encodeRoundTrips() throws {
        let credentials = SASLPlainCredentials(authorizationID: nil, authenticationID: "test", password: "test")
        let encoded = SASLPlain.encode(SASLPlainCredentials(authorizationID: "test", authenticationID: "test", password: "test"))
        #expect(encoded == "dGVzdAB0ZXN0AHRlc3Q=") // RFC 5034 §4 example
        #expect(try SASLPlain.decode(base64: Array(SASLPlain.encode(credentials).utf8)) == credentials)
    }
}
