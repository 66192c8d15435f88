import Foundation
import MailTestSupport
import Testing

/// Every POP3 dialog in Tests/Fixtures/pop3 against the pure `POP3ServerSession` (the same files run
/// against the real listener in PetrelServerTests and through poplib in e2e/interop/test_transcripts.py).
@Suite struct POP3DialogFileTests {
    @Test func thereAreDialogs() {
        #expect(DialogFixture.files("pop3").count >= 5)
    }

    @Test(arguments: DialogFixture.files("pop3").map(\.lastPathComponent))
    func dialog(_ name: String) async throws {
        let url = try #require(DialogFixture.files("pop3").first { $0.lastPathComponent == name })
        let transcript = try DialogTranscript(contentsOf: url)
        let store = POP3DialogStore(transcript)
        try await transcript.play { POP3SessionDialog(store: store) }
    }

    @Test func aWrongLineFails() async throws {
        let transcript = try DialogTranscript(name: "wrong", text: "S: +OK Petrel POP3 server ready\nC: STAT\nS: +OK 0 0\n")
        await #expect(throws: DialogFailure.self) {
            try await transcript.play { POP3SessionDialog(store: POP3DialogStore(transcript)) }
        }
    }
}
