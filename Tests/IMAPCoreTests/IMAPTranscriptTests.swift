import IMAPTestSupport
import Testing

/// Every dialog in Tests/Fixtures/imap/*.txt, run against sessions on the in-memory store
/// (format: `IMAPTranscript`). Many follow RFC 9051's examples.
@Suite struct IMAPTranscriptTests {
    @Test func thereAreTranscripts() {
        #expect(Fixtures.transcripts.count >= 15)
    }

    @Test(arguments: Fixtures.transcripts)
    func transcript(_ name: String) async throws {
        let t = IMAPTranscript()
        do {
            try await t.run(Fixtures.transcript(name))
        } catch let failure as IMAPTranscriptFailure {
            Issue.record("\(name): \(failure)")
        }
    }
}
