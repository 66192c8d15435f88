/// Conformance for the SCRAM-SHA-256 verifier column (migration v5-scram-verifier), every backend:
/// stored and read back, removed when the password hash is set (it was made from the old password).
import Foundation
import MailCore
import MailStore
import Testing

@Suite struct SCRAMVerifierConformanceTests {
    @Test(arguments: Backend.allCases)
    func verifierIsStoredAndDroppedWithANewPassword(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.addDomain("example.test")
        let a = try #require(EmailAddress("a@example.test"))
        _ = try await s.addMailbox(a, passwordHash: "$scrypt$old", isAdmin: false)
        #expect(try await s.mailbox(a)?.scramVerifier == nil)
        try await s.setSCRAMVerifier("SCRAM-SHA-256$4096:c2FsdA==$a:b", for: try #require(EmailAddress("A@Example.TEST")))
        #expect(try await s.mailbox(a)?.scramVerifier == "SCRAM-SHA-256$4096:c2FsdA==$a:b")
        #expect(try await s.mailboxes(domain: nil).first?.scramVerifier == "SCRAM-SHA-256$4096:c2FsdA==$a:b")
        try await s.setPasswordHash("$scrypt$new", for: a)
        let info = try #require(try await s.mailbox(a))
        #expect(info.passwordHash == "$scrypt$new")
        #expect(info.scramVerifier == nil)
        try await s.setSCRAMVerifier("v2", for: a)
        try await s.setSCRAMVerifier(nil, for: a)
        #expect(try await s.mailbox(a)?.scramVerifier == nil)
        let ghost = try #require(EmailAddress("ghost@example.test"))
        await #expect(throws: StoreError.mailboxNotFound("ghost@example.test")) { try await s.setSCRAMVerifier("v", for: ghost) }
    }
}
