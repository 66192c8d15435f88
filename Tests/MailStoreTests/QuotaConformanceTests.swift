/// Conformance for per-mailbox quota (SQLite "v9-quota", PostgreSQL migration 5), every backend: the
/// limits round-trip through `setQuota`/`mailbox`/`mailboxes`, the usage counts every delivery of the
/// mailbox (any folder) and follows deliveries and deletions, and the IMAP view reports it (GETQUOTA) and
/// refuses APPEND/COPY over it while MOVE stays allowed.
import Foundation
import IMAPCore
import MailCore
import MailStore
import Testing

@Suite struct QuotaConformanceTests {
    @Test(arguments: Backend.allCases)
    func limitsRoundTripAndUsageFollowsTheMail(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.addDomain("example.test")
        let a = try address("a@example.test")
        let box = try await s.addMailbox(a, passwordHash: nil, isAdmin: false)
        let other = try await s.addMailbox(try address("b@example.test"), passwordHash: nil, isAdmin: false)

        #expect(try await s.mailbox(a)?.quota == .unlimited)
        #expect(try await s.quotaStatus(mailboxID: box.id) == MailboxQuotaStatus(quota: .unlimited, usage: MailboxUsage(messages: 0, storage: 0)))
        #expect(try await s.quotaStatus(mailboxID: 999_999) == nil)

        let quota = MailboxQuota(storageLimit: 500 * 1024 * 1024, messageLimit: 3)
        try await s.setQuota(quota, for: try address("A@Example.TEST"))
        #expect(try await s.mailbox(a)?.quota == quota)
        #expect(try await s.mailbox(id: box.id)?.quota == quota)
        #expect(try await s.mailboxes(domain: nil).first { $0.id == box.id }?.quota == quota)
        #expect(try await s.mailbox(id: other.id)?.quota == .unlimited)
        await #expect(throws: StoreError.mailboxNotFound("ghost@example.test")) {
            try await s.setQuota(quota, for: try address("ghost@example.test"))
        }

        // One message to both, one to `a` only: usage is per mailbox, trace headers included.
        let m1 = message(to: [box.id, other.id], body: Array(repeating: UInt8(ascii: "x"), count: 1000), trace: Array("R: 1\r\n".utf8))
        let ids1 = try await s.deliver(m1)
        _ = try await s.deliver(message(to: [box.id], body: Array(repeating: UInt8(ascii: "y"), count: 2000), trace: []))
        var status = try #require(try await s.quotaStatus(mailboxID: box.id))
        #expect(status.quota == quota)
        #expect(status.usage == MailboxUsage(messages: 2, storage: 1006 + 2000))
        #expect(try await s.mailbox(a)?.totalSize == 3006)
        #expect(try await s.mailbox(a)?.messageCount == 2)
        #expect(try await s.quotaStatus(mailboxID: other.id)?.usage == MailboxUsage(messages: 1, storage: 1006))
        // Admission checks skip the sum for a mailbox without limits, not for one with limits.
        #expect(
            try await s.quotaStatus(mailboxID: other.id, usageOnlyIfLimited: true)
                == MailboxQuotaStatus(quota: .unlimited, usage: MailboxUsage(messages: 0, storage: 0)))
        #expect(try await s.quotaStatus(mailboxID: box.id, usageOnlyIfLimited: true)?.usage == MailboxUsage(messages: 2, storage: 1006 + 2000))

        try await s.deleteMessages(mailboxID: box.id, deliveryIDs: [ids1[0]])
        status = try #require(try await s.quotaStatus(mailboxID: box.id))
        #expect(status.usage == MailboxUsage(messages: 1, storage: 2000))

        // Lowering the limit below the usage keeps the mail; removing it makes the mailbox unlimited.
        try await s.setQuota(MailboxQuota(storageLimit: 10, messageLimit: nil), for: a)
        #expect(try await s.quotaStatus(mailboxID: box.id)?.usage.messages == 1)
        try await s.setQuota(.unlimited, for: a)
        #expect(try await s.mailbox(a)?.quota == .unlimited)
    }

    @Test func theRuleCountsBothLimitsAndAtLeastOneOctet() {
        let used = MailboxUsage(messages: 2, storage: 1000)
        #expect(MailboxQuota.unlimited.admits(used, adding: Int64.max))
        #expect(MailboxQuota(storageLimit: 1500).admits(used, adding: 500))
        #expect(!MailboxQuota(storageLimit: 1500).admits(used, adding: 501))
        // Exactly full: nothing more fits, not even a message of unknown (zero) size.
        #expect(!MailboxQuota(storageLimit: 1000).admits(used, adding: 0))
        #expect(MailboxQuota(storageLimit: 1001).admits(used, adding: 0))
        #expect(MailboxQuota(messageLimit: 3).admits(used, adding: 10))
        #expect(!MailboxQuota(messageLimit: 3).admits(used, adding: 10, messages: 2))
        #expect(!MailboxQuota(messageLimit: 2).admits(used, adding: 1))
        // Over the limit already (lowered by the administrator), and sums that would overflow.
        #expect(!MailboxQuota(storageLimit: 10).admits(used, adding: 1))
        #expect(!MailboxQuota(storageLimit: Int64.max).admits(MailboxUsage(messages: 1, storage: Int64.max - 1), adding: Int64.max))
        #expect(MailboxQuota(storageLimit: 1500, messageLimit: 5).isUnlimited == false)
    }

    @Test(arguments: IMAPBackend.allCases)
    func imapReportsTheQuotaAndRefusesAppendAndCopyOverIt(_ backend: IMAPBackend) async throws {
        let s = try await makeIMAPSubject(backend)
        defer { Task { await s.fixture.cleanup() } }
        let store = s.fixture.store
        let a = try address("u@example.test")
        #expect(try await s.access.quota() == [])

        let message = Array(repeating: UInt8(ascii: "m"), count: 1500)
        _ = try await s.deliver(message)
        try await store.setQuota(MailboxQuota(storageLimit: 4096, messageLimit: 3), for: a)
        // STORAGE in KiB, usage rounded up (1500 octets → 2), limit down.
        #expect(
            try await s.access.quota() == [
                IMAPQuotaResource("STORAGE", usage: 2, limit: 4), IMAPQuotaResource("MESSAGE", usage: 1, limit: 3)
            ])

        // APPEND to another folder counts for the same root.
        let appended = try await s.access.append(to: "Archive", IMAPAppendMessage(bytes: message, flags: [], internalDate: nil))
        #expect(appended.uid == 1)
        #expect(try await store.quotaStatus(mailboxID: s.mailboxID)?.usage == MailboxUsage(messages: 2, storage: 3000))
        await #expect(throws: IMAPBackendError.overQuota) {
            _ = try await s.access.append(to: "INBOX", IMAPAppendMessage(bytes: message, flags: [], internalDate: nil))
        }
        let inbox = try await s.access.select("INBOX")
        await #expect(throws: IMAPBackendError.overQuota) {
            _ = try await s.access.copy(from: inbox.id, uids: inbox.uids, to: "Trash")
        }
        // Nothing was added by the refused commands.
        #expect(try await store.quotaStatus(mailboxID: s.mailboxID)?.usage == MailboxUsage(messages: 2, storage: 3000))
        // MOVE changes no usage within the root: allowed even when full (the user makes room in Trash).
        try await store.setQuota(MailboxQuota(storageLimit: 3000, messageLimit: 2), for: a)
        let moved = try await s.access.move(from: inbox.id, uids: inbox.uids, to: "Trash")
        #expect(moved.destinationUIDs.count == 1)
        #expect(try await s.access.quota() == [IMAPQuotaResource("STORAGE", usage: 3, limit: 2), IMAPQuotaResource("MESSAGE", usage: 2, limit: 2)])

        // Room again after an expunge: the usage is read from the rows that exist.
        let trash = try await s.access.select("Trash")
        _ = try await s.access.store(in: trash.id, uids: trash.uids, .add([.deleted]), unchangedSince: nil)
        _ = try await s.access.expunge(in: trash.id, uids: nil)
        #expect(try await s.access.quota() == [IMAPQuotaResource("STORAGE", usage: 2, limit: 2), IMAPQuotaResource("MESSAGE", usage: 1, limit: 2)])
        _ = try await s.access.append(to: "INBOX", IMAPAppendMessage(bytes: Array(message.prefix(100)), flags: [], internalDate: nil))
        #expect(try await store.quotaStatus(mailboxID: s.mailboxID)?.usage == MailboxUsage(messages: 2, storage: 1600))
    }
}
