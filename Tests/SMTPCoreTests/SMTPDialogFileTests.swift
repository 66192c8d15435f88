import Foundation
import MailTestSupport
import Testing

/// Every SMTP dialog in Tests/Fixtures/smtp against the pure `SMTPServerSession` (the same files run
/// against the real listener in PetrelServerTests and through smtplib in e2e/interop/test_transcripts.py).
@Suite struct SMTPDialogFileTests {
    @Test func thereAreDialogs() {
        #expect(DialogFixture.files("smtp").count >= 8)
    }

    @Test(arguments: DialogFixture.files("smtp").map(\.lastPathComponent))
    func dialog(_ name: String) async throws {
        let url = try #require(DialogFixture.files("smtp").first { $0.lastPathComponent == name })
        let transcript = try DialogTranscript(contentsOf: url)
        #expect(transcript.messages.isEmpty, "SMTP dialogs have no @message set-up")
        try await transcript.play { SMTPSessionDialog() }
    }

    /// The runner itself can fail: a wrong expected line is reported with its line number.
    @Test func aWrongLineFails() async throws {
        let transcript = try DialogTranscript(name: "wrong", text: "S: 220 mx.petrel.test ESMTP Petrel\nC: NOOP\nS: 250 2.0.0 Fine\n")
        await #expect(throws: DialogFailure.self) { try await transcript.play { SMTPSessionDialog() } }
        let unread = try DialogTranscript(name: "unread", text: "C: NOOP\n")
        await #expect(throws: DialogFailure.self) { try await unread.play { SMTPSessionDialog() } }
    }
}
