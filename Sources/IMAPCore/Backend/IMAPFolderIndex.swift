/// The index data of a folder's messages in UID order, kept compact (about 32 octets per message): what a
/// FETCH of index data (UID, FLAGS, MODSEQ, INTERNALDATE, RFC822.SIZE) needs, so a `UID FETCH 1:* (FLAGS)`
/// of a large folder whose state is known (`IMAPSelectCache`) is answered without reading the store's
/// rows, as Dovecot answers it from its index file. A flag list is kept once per distinct list (a folder
/// has a handful: none, \Seen, \Seen \Answered …) and shared by every message that has it.
public struct IMAPFolderIndex: Hashable, Sendable {
    public private(set) var uids: [UInt32] = []
    private var flagLists: [[IMAPFlag]] = []
    private var flagListOf: [UInt16] = []
    private var modSeqs: [UInt64] = []
    private var dates: [Int64] = []
    private var zones: [Int16] = []
    private var sizes: [UInt64] = []

    /// The octets the distinct flag lists take (names plus 16 per flag), bounded by `maxFlagListOctets`.
    private var flagListOctets = 0

    /// Distinct flag lists one index holds at most, and the octets they may take: a folder with more (a
    /// client can give every message keywords of its own) is not kept, so what an index holds beyond its
    /// 32 octets per message stays small.
    public static let maxFlagLists = 4096
    public static let maxFlagListOctets = 256 * 1024

    public init() {}

    public var count: Int { uids.count }

    /// Keeps `flags` as a distinct list and returns its number for `append`; nil when the index already
    /// holds `maxFlagLists` lists or the list would pass `maxFlagListOctets`. The caller keeps its own map
    /// from the stored form (a flags text) to the number, so each distinct list is decoded and added once.
    public mutating func addFlagList(_ flags: [IMAPFlag]) -> Int? {
        let octets = flags.reduce(0) { $0 + $1.name.utf8.count + 16 }
        guard flagLists.count < Self.maxFlagLists, flagListOctets + octets <= Self.maxFlagListOctets else { return nil }
        flagListOctets += octets
        flagLists.append(flags)
        return flagLists.count - 1
    }

    /// Appends a message; false (nothing appended) when `uid` is not above the last one or `flagList` is
    /// not a number `addFlagList` returned (the caller then does not keep the index).
    public mutating func append(uid: UInt32, flagList: Int, modSeq: UInt64, internalDate: IMAPDateTime, size: UInt64) -> Bool {
        guard uids.last.map({ $0 < uid }) ?? true, flagLists.indices.contains(flagList) else { return false }
        uids.append(uid)
        flagListOf.append(UInt16(truncatingIfNeeded: flagList))
        modSeqs.append(modSeq)
        dates.append(internalDate.secondsSinceEpoch)
        zones.append(Int16(clamping: internalDate.zoneMinutes))
        sizes.append(size)
        return true
    }

    /// Room for `n` messages.
    public mutating func reserve(_ n: Int) {
        uids.reserveCapacity(n)
        flagListOf.reserveCapacity(n)
        modSeqs.reserveCapacity(n)
        dates.reserveCapacity(n)
        zones.reserveCapacity(n)
        sizes.reserveCapacity(n)
    }

    func metadata(at i: Int) -> IMAPMessageMetadata {
        IMAPMessageMetadata(
            uid: uids[i], flags: flagLists[Int(flagListOf[i])],
            internalDate: IMAPDateTime(secondsSinceEpoch: dates[i], zoneMinutes: Int(zones[i])), size: sizes[i],
            modSeq: modSeqs[i])
    }

    /// The position of `uid`, if the folder holds it.
    func position(of uid: UInt32) -> Int? {
        var low = 0
        var high = uids.count
        while low < high {
            let mid = (low + high) / 2
            if uids[mid] < uid { low = mid + 1 } else { high = mid }
        }
        return low < uids.count && uids[low] == uid ? low : nil
    }

    /// The index data of those of `uids` the folder holds, in the order asked, as `fetch` returns it for
    /// `IMAPFetchContent.none`; with `changedSince`, only messages whose MODSEQ is greater.
    public func messages(_ uids: [UInt32], changedSince: UInt64? = nil) -> [IMAPStoredMessage] {
        var out: [IMAPStoredMessage] = []
        out.reserveCapacity(uids.count)
        // UIDs are usually asked in ascending runs (`1:*`): the next position is tried before a search.
        var next = 0
        for uid in uids {
            let i: Int
            if next < self.uids.count, self.uids[next] == uid {
                i = next
            } else if let found = position(of: uid) {
                i = found
            } else {
                continue
            }
            next = i + 1
            if let changedSince, modSeqs[i] <= changedSince { continue }
            out.append(IMAPStoredMessage(metadata: metadata(at: i), content: nil))
        }
        return out
    }
}

extension IMAPFolderIndex {
    /// The index after `changes` (messages whose MODSEQ rose since the index's state: new ones and flag
    /// changes, in any order, each UID once) and `expunged` (UIDs gone since then): what a store reads
    /// through its MODSEQ index and tombstones to bring a cached index up to date without reading every
    /// row. Flag lists no message uses any more are dropped. Nil when the result's flag lists pass what an
    /// index keeps (`maxFlagLists`, `maxFlagListOctets`), or a UID is given twice.
    public func applying(_ changes: [IMAPMessageMetadata], expunged: Set<UInt32>) -> IMAPFolderIndex? {
        let changes = changes.sorted { $0.uid < $1.uid }
        var out = IMAPFolderIndex()
        out.reserve(count + changes.count)
        // Old list number → new one, assigned on first use; new lists by value.
        var renumbered = [Int?](repeating: nil, count: flagLists.count)
        var byValue: [[IMAPFlag]: Int] = [:]
        func list(_ flags: [IMAPFlag], old: Int?) -> Int? {
            if let old, let known = renumbered[old] { return known }
            if let known = byValue[flags] {
                if let old { renumbered[old] = known }
                return known
            }
            guard let added = out.addFlagList(flags) else { return nil }
            byValue[flags] = added
            if let old { renumbered[old] = added }
            return added
        }
        var i = 0
        var j = 0
        while i < count || j < changes.count {
            if j < changes.count, i == count || changes[j].uid <= uids[i] {
                let c = changes[j]
                j += 1
                if i < count, uids[i] == c.uid { i += 1 }
                guard !expunged.contains(c.uid) else { continue }
                guard let n = list(c.flags, old: nil),
                    out.append(uid: c.uid, flagList: n, modSeq: c.modSeq, internalDate: c.internalDate, size: c.size)
                else { return nil }
            } else {
                defer { i += 1 }
                guard !expunged.contains(uids[i]) else { continue }
                let old = Int(flagListOf[i])
                guard let n = list(flagLists[old], old: old) else { return nil }
                out.uids.append(uids[i])
                out.flagListOf.append(UInt16(truncatingIfNeeded: n))
                out.modSeqs.append(modSeqs[i])
                out.dates.append(dates[i])
                out.zones.append(zones[i])
                out.sizes.append(sizes[i])
            }
        }
        return out
    }

    /// The keywords in use (ascending) and the first UID without \Seen: what SELECT reports, derived from
    /// the index (after `applying`).
    public var selectSummary: (keywords: [IMAPFlag], firstUnseenUID: UInt32?) {
        let unseen = flagLists.map { !$0.contains(.seen) }
        var used = [Bool](repeating: false, count: flagLists.count)
        var firstUnseen: UInt32?
        for (i, list) in flagListOf.enumerated() {
            let n = Int(list)
            used[n] = true
            if firstUnseen == nil, unseen[n] { firstUnseen = uids[i] }
        }
        var keywords = Set<IMAPFlag>()
        for (n, flags) in flagLists.enumerated() where used[n] {
            for flag in flags where !flag.isSystem { keywords.insert(flag) }
        }
        return (keywords.sorted(), firstUnseen)
    }
}
