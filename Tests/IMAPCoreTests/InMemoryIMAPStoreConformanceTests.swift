import IMAPCore
import IMAPTestSupport
import Testing

/// The reference store passes the conformance suite every store backend must pass.
@Suite struct InMemoryIMAPStoreConformanceTests {
    @Test func conformance() async throws {
        try await IMAPMailboxAccessConformance.run {
            let store = InMemoryIMAPStore()
            await store.addUser("u", password: "p")
            return IMAPMailboxAccessConformance.Subject(access: await store.access(for: "u")) { bytes in
                try await store.deliver(to: "u", bytes)
            }
        }
    }

    @Test func quotaAndTombstonePurge() async throws {
        let store = InMemoryIMAPStore()
        await store.addUser("u", password: "p")
        await store.setQuota("u", storageKiB: nil, messages: 1)
        let a = await store.access(for: "u")
        _ = try await a.append(to: "INBOX", IMAPAppendMessage(bytes: Array("x".utf8), flags: [.deleted]))
        await #expect(throws: IMAPBackendError.overQuota) { _ = try await a.append(to: "INBOX", IMAPAppendMessage(bytes: Array("y".utf8))) }
        #expect(try await a.quota() == [IMAPQuotaResource("MESSAGE", usage: 1, limit: 1)])
        let snap = try await a.select("INBOX")
        _ = try await a.expunge(in: snap.id, uids: nil)
        await store.purgeTombstones("u", "INBOX", through: .max)
        #expect(try await a.vanished(in: snap.id, sinceModSeq: snap.highestModSeq, uids: [1...10]) == nil)
        let changes = try await a.changes(in: snap.id, sinceModSeq: snap.highestModSeq, knownUIDNext: snap.uidNext)
        #expect(changes.expunged == .unknown(currentUIDs: []))
    }
}
