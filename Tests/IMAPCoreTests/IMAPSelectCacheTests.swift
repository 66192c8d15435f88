import Testing

@testable import IMAPCore

/// `IMAPSelectCache`: an entry answers only its exact folder state, small folders are not kept, and the
/// UIDs held stay under the bound (least recently used go first).
@Suite struct IMAPSelectCacheTests {
    func key(_ folder: Int64, modSeq: UInt64 = 5, uidNext: UInt32 = 100, validity: UInt32 = 1) -> IMAPSelectCache.Key {
        IMAPSelectCache.Key(folder: folder, uidValidity: validity, highestModSeq: modSeq, uidNext: uidNext)
    }

    func entry(_ count: Int) -> IMAPSelectCache.Entry {
        IMAPSelectCache.Entry(uids: (1...UInt32(count)).map { $0 }, keywords: [IMAPFlag("$Work")], firstUnseenUID: 3)
    }

    @Test func anEntryAnswersOnlyItsFolderState() {
        let cache = IMAPSelectCache(maxUIDs: 100, minimumCount: 2)
        cache.store(key(1), entry(10))
        #expect(cache.lookup(key(1)) == entry(10))
        #expect(cache.lookup(key(1, modSeq: 6)) == nil)
        #expect(cache.lookup(key(1, uidNext: 101)) == nil)
        #expect(cache.lookup(key(1, validity: 2)) == nil)
        #expect(cache.lookup(key(2)) == nil)
        // A newer state of the same folder replaces the old one.
        cache.store(key(1, modSeq: 6), entry(12))
        #expect(cache.lookup(key(1)) == nil)
        #expect(cache.lookup(key(1, modSeq: 6)) == entry(12))
        #expect(cache.heldUIDs == 12)
    }

    @Test func smallFoldersAndOversizedOnesAreNotKept() {
        let cache = IMAPSelectCache(maxUIDs: 100, minimumCount: 5)
        cache.store(key(1), entry(4))
        cache.store(key(2), entry(101))
        #expect(cache.lookup(key(1)) == nil && cache.lookup(key(2)) == nil)
        #expect(cache.heldUIDs == 0)
        let off = IMAPSelectCache(maxUIDs: 0, minimumCount: 1)
        off.store(key(1), entry(1))
        #expect(off.lookup(key(1)) == nil)
    }

    @Test func theLeastRecentlyUsedGoFirst() {
        let cache = IMAPSelectCache(maxUIDs: 100, minimumCount: 1)
        cache.store(key(1), entry(40))
        cache.store(key(2), entry(40))
        _ = cache.lookup(key(1)) // folder 2 is now the least recently used
        cache.store(key(3), entry(40))
        #expect(cache.lookup(key(2)) == nil)
        #expect(cache.lookup(key(1)) != nil && cache.lookup(key(3)) != nil)
        #expect(cache.heldUIDs == 80)
        cache.store(key(4), entry(100))
        #expect(cache.heldUIDs == 100)
        #expect(cache.lookup(key(1)) == nil && cache.lookup(key(3)) == nil && cache.lookup(key(4)) != nil)
    }
}
