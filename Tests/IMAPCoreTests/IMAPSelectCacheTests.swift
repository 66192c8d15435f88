import Testing

@testable import IMAPCore

/// `IMAPSelectCache`: an entry answers only its exact folder state, small folders are not kept, and the
/// UIDs held stay under the bound (least recently used go first).
@Suite struct IMAPSelectCacheTests {
    func key(_ folder: Int64, modSeq: UInt64 = 5, uidNext: UInt32 = 100, validity: UInt32 = 1) -> IMAPSelectCache.Key {
        IMAPSelectCache.Key(folder: folder, uidValidity: validity, highestModSeq: modSeq, uidNext: uidNext)
    }

    func entry(_ count: Int) -> IMAPSelectCache.Entry {
        var index = IMAPFolderIndex()
        let list = index.addFlagList([.seen])
        for uid in 1...UInt32(count) {
            _ = index.append(uid: uid, flagList: list ?? 0, modSeq: 1, internalDate: IMAPDateTime(secondsSinceEpoch: 0), size: 10)
        }
        return IMAPSelectCache.Entry(index: index, keywords: [IMAPFlag("$Work")], firstUnseenUID: 3)
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
        // A kept folder that shrank below the minimum loses its older entry.
        cache.store(key(3), entry(6))
        #expect(cache.latest(folder: 3) != nil && cache.heldUIDs == 6)
        cache.store(key(3, modSeq: 6), entry(4))
        #expect(cache.latest(folder: 3) == nil && cache.heldUIDs == 0)
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

    /// `IMAPFolderIndex`: the messages asked, in the order asked, missing ones left out, CHANGEDSINCE
    /// applied; one flag list shared by the messages that have it; UIDs must ascend.
    @Test func theFolderIndexAnswersWhatWasAsked() {
        var index = IMAPFolderIndex()
        let none = index.addFlagList([])
        let seen = index.addFlagList([.seen, IMAPFlag("$Work")])
        #expect(none == 0 && seen == 1)
        let date = IMAPDateTime(secondsSinceEpoch: 1_700_000_000, zoneMinutes: -90)
        for (uid, list, modSeq) in [(UInt32(2), 0, UInt64(7)), (5, 1, 3), (9, 1, 12), (10, 0, 4)] {
            let appended = index.append(uid: uid, flagList: list, modSeq: modSeq, internalDate: date, size: UInt64(uid) * 100)
            #expect(appended)
        }
        let repeated = index.append(uid: 10, flagList: 0, modSeq: 1, internalDate: date, size: 1)
        let unknownList = index.append(uid: 11, flagList: 2, modSeq: 1, internalDate: date, size: 1)
        #expect(!repeated, "a UID not above the last")
        #expect(!unknownList, "an unknown flag list")
        #expect(index.uids == [2, 5, 9, 10])
        let asked = index.messages([9, 1, 2, 10, 11, 5])
        #expect(asked.map(\.metadata.uid) == [9, 2, 10, 5])
        #expect(asked[0].metadata == IMAPMessageMetadata(uid: 9, flags: [.seen, IMAPFlag("$Work")], internalDate: date, size: 900, modSeq: 12))
        #expect(asked[1].metadata == IMAPMessageMetadata(uid: 2, flags: [], internalDate: date, size: 200, modSeq: 7))
        #expect(asked.allSatisfy { $0.content == nil })
        #expect(index.messages([2, 5, 9, 10], changedSince: 4).map(\.metadata.uid) == [2, 9])
        #expect(index.messages([]).isEmpty && IMAPFolderIndex().messages([1]).isEmpty)
    }

    /// `applying` gives the index a full read of the changed folder would give: flag changes, new
    /// messages, expunges (also of a message changed in the same interval), lists no message uses dropped;
    /// and the SELECT summary follows.
    @Test func anIndexBroughtUpToDateEqualsOneReadAfresh() throws {
        let date = IMAPDateTime(secondsSinceEpoch: 1_700_000_000)
        func meta(_ uid: UInt32, _ flags: [IMAPFlag], _ modSeq: UInt64) -> IMAPMessageMetadata {
            IMAPMessageMetadata(uid: uid, flags: flags, internalDate: date, size: UInt64(uid), modSeq: modSeq)
        }
        func build(_ messages: [IMAPMessageMetadata]) -> IMAPFolderIndex {
            var index = IMAPFolderIndex()
            var lists: [[IMAPFlag]: Int] = [:]
            for m in messages {
                let n = lists[m.flags] ?? index.addFlagList(m.flags) ?? -1
                lists[m.flags] = n
                let appended = index.append(uid: m.uid, flagList: n, modSeq: m.modSeq, internalDate: date, size: m.size)
                #expect(appended)
            }
            return index
        }
        let work = IMAPFlag("$Work")
        let old = build([meta(1, [], 1), meta(2, [.seen], 2), meta(3, [work], 3), meta(4, [.seen], 4), meta(5, [], 5)])
        #expect(old.selectSummary.keywords == [work] && old.selectSummary.firstUnseenUID == 1)
        let changes = [meta(7, [IMAPFlag("$New")], 9), meta(1, [.seen], 7), meta(3, [.seen], 8), meta(6, [], 10), meta(4, [.flagged], 11)]
        let updated = try #require(old.applying(changes, expunged: [5, 6, 9]))
        let fresh = build([meta(1, [.seen], 7), meta(2, [.seen], 2), meta(3, [.seen], 8), meta(4, [.flagged], 11), meta(7, [IMAPFlag("$New")], 9)])
        #expect(updated.uids == fresh.uids)
        #expect(updated.messages(updated.uids) == fresh.messages(fresh.uids))
        #expect(updated.selectSummary.keywords == [IMAPFlag("$New")] && updated.selectSummary.firstUnseenUID == 4)
        #expect(updated == fresh, "the list no message uses any more ($Work, none) is dropped, numbered as afresh")
        #expect(old.applying([], expunged: []) == old)
        #expect(old.applying([meta(2, [], 3), meta(2, [.seen], 4)], expunged: []) == nil, "a UID twice")
    }

    /// The lookup for a folder's state: the entry itself, an older one that can be brought up to date
    /// (same UIDVALIDITY, state not older than the purged tombstones), or nothing; a refresh with more
    /// changes than the limit gives nothing and keeps nothing.
    @Test func anOlderEntryIsOfferedForARefreshOnlyWhenItsChangesCanBeRead() {
        let cache = IMAPSelectCache(maxUIDs: 1000, minimumCount: 1)
        cache.store(key(1, modSeq: 5), entry(8))
        if case .current(let e) = cache.lookup(key(1, modSeq: 5), purgedModSeq: 0) { #expect(e == entry(8)) } else { Issue.record("not current") }
        guard case .stale(let old, let since, let limit) = cache.lookup(key(1, modSeq: 9), purgedModSeq: 5) else {
            Issue.record("not stale")
            return
        }
        #expect(old == entry(8) && since == 5 && limit == 100)
        for (state, purged) in [(key(1, modSeq: 9), UInt64(6)), (key(1, modSeq: 9, validity: 2), 0), (key(1, modSeq: 4), 0), (key(2), 0)] {
            if case .none = cache.lookup(state, purgedModSeq: purged) {} else { Issue.record("\(state) purged \(purged) is usable") }
        }
        let date = IMAPDateTime(secondsSinceEpoch: 0)
        let change = IMAPMessageMetadata(uid: 3, flags: [.flagged], internalDate: date, size: 10, modSeq: 9)
        let refreshed = cache.refresh(old, to: key(1, modSeq: 9), changes: [change], expunged: [8], limit: 1)
        #expect(refreshed?.uids == Array(1...7) && refreshed?.firstUnseenUID == 3, "message 3 lost \\Seen")
        #expect(cache.latest(folder: 1)?.key == key(1, modSeq: 9) && cache.heldUIDs == 7)
        // A refresh that cannot be done (more changes than the limit) drops the entry: it is not offered again.
        let newer = key(1, modSeq: 12)
        guard case .stale(let current, _, _) = cache.lookup(newer, purgedModSeq: 0) else {
            Issue.record("not stale")
            return
        }
        #expect(cache.refresh(current, to: newer, changes: [change, change], expunged: [], limit: 1) == nil)
        #expect(cache.latest(folder: 1) == nil && cache.heldUIDs == 0)
        if case .none = cache.lookup(newer, purgedModSeq: 0) {} else { Issue.record("a dropped entry is offered") }
    }

    /// A folder whose messages carry more distinct flag lists, or longer ones, than an index keeps is not
    /// kept: `addFlagList` refuses, so what a client stores cannot make the cache hold more than its bound.
    @Test func flagListsAreBounded() {
        var many = IMAPFolderIndex()
        for n in 0..<IMAPFolderIndex.maxFlagLists {
            #expect(many.addFlagList([IMAPFlag("$k\(n)")]) == n)
        }
        #expect(many.addFlagList([.seen]) == nil)
        var long = IMAPFolderIndex()
        let keywords = (0..<100).map { IMAPFlag("$" + String(repeating: "x", count: 200) + "\($0)") }
        var added = 0
        while long.addFlagList(keywords) != nil { added += 1 }
        #expect(added > 0 && added * 100 * 216 <= IMAPFolderIndex.maxFlagListOctets)
        #expect(long.addFlagList([]) != nil, "an empty list takes no octets")
    }
}
