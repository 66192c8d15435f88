/// SQLite `queueListing` (what `petrel queue list` shows): a queue row that cannot be read is listed as
/// damaged with its id, and the other rows are still listed (`queueEntries()` fails as a whole).
import Foundation
import MailCore
import MailStore
import MailTestSupport
import Testing

@testable import MailStoreSQLite

@Suite struct QueueListingTests {
    @Test func damagedRowIsListedByIdAndTheRestStillAre() async throws {
        let fixture = try await SQLiteStoreFixture.make()
        let store = fixture.store
        let recipients = try ["a@one.example", "b@two.example", "c@three.example"].map { text in
            OutboundRecipient(address: try #require(EmailAddress(text)))
        }
        _ = try await store.deliver(
            IncomingMessage(
                queueID: "QLIST", sender: .null, localRecipients: [], receivedAt: Date(timeIntervalSince1970: 1_700_000_000),
                traceHeaders: Array("Received: from test\r\n".utf8), body: .bytes(Array("Subject: x\r\n\r\nhi\r\n".utf8)),
                remoteRecipients: recipients, envelope: OutboundEnvelope()))
        let ids = try await store.queueEntries().map(\.id)
        #expect(ids.count == 3)
        let damagedID = ids[1]
        try await store.pool.write { db in
            try db.execute(sql: "UPDATE queue SET state = 'bogus' WHERE id = ?", arguments: [damagedID])
        }
        await #expect(throws: StoreError.self) { try await store.queueEntries() }
        let listing = try await store.queueListing()
        #expect(listing.count == 3)
        var listed: [Int64] = []
        var damaged: [(Int64, String)] = []
        for row in listing {
            switch row {
            case .entry(let e): listed.append(e.id)
            case .damaged(let id, let reason): damaged.append((id, reason))
            }
        }
        #expect(listed == [ids[0], ids[2]])
        #expect(damaged.map(\.0) == [damagedID])
        #expect(damaged.first?.1.contains("unknown state 'bogus'") == true)
        await fixture.remove()
    }
}
