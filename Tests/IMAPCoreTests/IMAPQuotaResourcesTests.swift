/// `IMAPStoredFolders.quotaResources`: the quota root "" as the SQLite and PostgreSQL stores report it
/// (RFC 9208 §5.1: STORAGE in units of 1024 octets, usage rounded up and limit down; MESSAGE as counts).
import IMAPCore
import Testing

@Suite struct IMAPQuotaResourcesTests {
    @Test func unlimitedHasNoResources() {
        #expect(IMAPStoredFolders.quotaResources(storageLimit: nil, messageLimit: nil, usedOctets: 123, usedMessages: 4).isEmpty)
    }

    @Test func storageIsInKiBRoundedSoAFullMailboxNeverShowsRoom() {
        let r = IMAPStoredFolders.quotaResources(storageLimit: 10 * 1024 + 1023, messageLimit: nil, usedOctets: 10 * 1024 + 1, usedMessages: 7)
        #expect(r == [IMAPQuotaResource("STORAGE", usage: 11, limit: 10)])
        #expect(
            IMAPStoredFolders.quotaResources(storageLimit: 2048, messageLimit: nil, usedOctets: 0, usedMessages: 0)
                == [IMAPQuotaResource("STORAGE", usage: 0, limit: 2)])
        #expect(
            IMAPStoredFolders.quotaResources(storageLimit: 2048, messageLimit: nil, usedOctets: 1024, usedMessages: 1)
                == [IMAPQuotaResource("STORAGE", usage: 1, limit: 2)])
    }

    @Test func bothResourcesInRFCOrder() {
        #expect(
            IMAPStoredFolders.quotaResources(storageLimit: 1 << 30, messageLimit: 100, usedOctets: 1, usedMessages: 1)
                == [IMAPQuotaResource("STORAGE", usage: 1, limit: 1_048_576), IMAPQuotaResource("MESSAGE", usage: 1, limit: 100)])
        #expect(
            IMAPStoredFolders.quotaResources(storageLimit: nil, messageLimit: 5, usedOctets: 99_999, usedMessages: 9)
                == [IMAPQuotaResource("MESSAGE", usage: 9, limit: 5)])
    }
}
