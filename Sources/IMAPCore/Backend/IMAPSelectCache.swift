import Synchronization

/// SELECT's answer for a large folder (its UIDs, keywords and first unseen UID) and the index data of its
/// messages (`IMAPFolderIndex`: flags, MODSEQ, INTERNALDATE, size), kept for the next SELECT and for FETCH
/// of index data in the same folder state, so re-opening a 100,000-message folder or fetching the flags
/// of all its messages does not read 100,000 rows again (Dovecot keeps the same in its index files).
///
/// The state is the folder's (UIDVALIDITY, HIGHESTMODSEQ, UIDNEXT), read in the same transaction as the
/// rows: every change to a folder's messages — a delivery, APPEND, COPY or MOVE in, a flag change, an
/// expunge, a POP3 deletion — raises its HIGHESTMODSEQ in the store, so an entry whose key still matches
/// describes the folder as it is, whichever process or node made the change. A re-created folder has a
/// new UIDVALIDITY. Bounded: at most `maxUIDs` messages over all entries (about 32 octets each; least
/// recently used go first), and only folders of at least `minimumCount` messages are kept (smaller ones
/// are read quickly anyway).
public final class IMAPSelectCache: Sendable {
    public struct Key: Hashable, Sendable {
        public var folder: Int64
        public var uidValidity: UInt32
        public var highestModSeq: UInt64
        public var uidNext: UInt32

        public init(folder: Int64, uidValidity: UInt32, highestModSeq: UInt64, uidNext: UInt32) {
            self.folder = folder
            self.uidValidity = uidValidity
            self.highestModSeq = highestModSeq
            self.uidNext = uidNext
        }
    }

    public struct Entry: Hashable, Sendable {
        /// Every message's index data, in UID order.
        public var index: IMAPFolderIndex
        public var keywords: [IMAPFlag]
        public var firstUnseenUID: UInt32?
        public var uids: [UInt32] { index.uids }

        public init(index: IMAPFolderIndex, keywords: [IMAPFlag], firstUnseenUID: UInt32?) {
            self.index = index
            self.keywords = keywords
            self.firstUnseenUID = firstUnseenUID
        }
    }

    private struct Slot {
        var key: Key
        var entry: Entry
        var lastUse: UInt64
    }

    private struct State {
        var slots: [Int64: Slot] = [:]
        var heldUIDs = 0
        var tick: UInt64 = 0
    }

    private let state = Mutex(State())
    /// Most messages held over all entries (about 32 octets each); zero turns the cache off.
    public let maxUIDs: Int
    /// Folders with fewer messages are not kept.
    public let minimumCount: Int

    public init(maxUIDs: Int = 1_000_000, minimumCount: Int = 1000) {
        self.maxUIDs = max(0, maxUIDs)
        self.minimumCount = max(1, minimumCount)
    }

    /// The entry for `key`, when the folder is still in that state.
    public func lookup(_ key: Key) -> Entry? {
        state.withLock { s in
            guard var slot = s.slots[key.folder], slot.key == key else { return nil }
            s.tick &+= 1
            slot.lastUse = s.tick
            s.slots[key.folder] = slot
            return slot.entry
        }
    }

    /// The folder's entry whatever state it describes (a store brings an older one up to date with
    /// `IMAPFolderIndex.applying` rather than reading every row again).
    public func latest(folder: Int64) -> (key: Key, entry: Entry)? {
        state.withLock { s in s.slots[folder].map { ($0.key, $0.entry) } }
    }

    /// Keeps `entry` as the folder's state `key` (replacing an older state of the same folder; a folder
    /// now too small or too large to keep loses its older entry too).
    public func store(_ key: Key, _ entry: Entry) {
        let count = entry.uids.count
        let keep = count >= minimumCount && count <= maxUIDs
        state.withLock { s in
            if let old = s.slots.removeValue(forKey: key.folder) { s.heldUIDs -= old.entry.uids.count }
            guard keep else { return }
            while s.heldUIDs + count > maxUIDs, let oldest = s.slots.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                s.slots[oldest.key] = nil
                s.heldUIDs -= oldest.value.entry.uids.count
            }
            s.tick &+= 1
            s.slots[key.folder] = Slot(key: key, entry: entry, lastUse: s.tick)
            s.heldUIDs += count
        }
    }

    /// Drops the folder's entry (it cannot be brought up to date, or the folder can no longer be kept), so
    /// later requests read the store at once rather than try the old entry again.
    public func forget(folder: Int64) {
        state.withLock { s in
            if let old = s.slots.removeValue(forKey: folder) { s.heldUIDs -= old.entry.uids.count }
        }
    }

    /// How many messages the entries hold (for tests and the status page).
    public var heldUIDs: Int { state.withLock { $0.heldUIDs } }
}

extension IMAPSelectCache {
    /// What a store can answer from the cache in a folder's state.
    public enum Lookup: Sendable {
        /// The entry for that state.
        case current(Entry)
        /// An older entry of the folder that can be brought up to date: read the rows whose MODSEQ is above
        /// `since` and the UIDs expunged after it (at most `limit` of each, else reading every row is as
        /// cheap), then `refresh`.
        case stale(Entry, since: UInt64, limit: Int)
        /// Nothing usable: another UIDVALIDITY, tombstones purged past the entry's state, or no entry.
        case none
    }

    /// The entry for `key`, or an older one of the folder whose changes since can still be read (its
    /// MODSEQ is at least `purgedModSeq`: the tombstones of what was expunged after it are all there).
    public func lookup(_ key: Key, purgedModSeq: UInt64) -> Lookup {
        if let known = lookup(key) { return .current(known) }
        guard let (oldKey, old) = latest(folder: key.folder), oldKey.uidValidity == key.uidValidity,
            oldKey.highestModSeq < key.highestModSeq, oldKey.highestModSeq >= purgedModSeq
        else { return .none }
        return .stale(old, since: oldKey.highestModSeq, limit: max(old.uids.count / 4, 100))
    }

    /// `old` brought to `key`'s state with what the store read for `.stale` (`IMAPFolderIndex.applying`),
    /// and kept; nil when it cannot be (more than `limit` changes or expunges, too many flag lists), and
    /// then the old entry is dropped: the next SELECT reads the folder afresh, and no request reads the
    /// changes again only to fall back.
    public func refresh(_ old: Entry, to key: Key, changes: [IMAPMessageMetadata], expunged: [UInt32], limit: Int) -> Entry? {
        guard changes.count <= limit, expunged.count <= limit, let index = old.index.applying(changes, expunged: Set(expunged))
        else {
            forget(folder: key.folder)
            return nil
        }
        let summary = index.selectSummary
        let entry = Entry(index: index, keywords: summary.keywords, firstUnseenUID: summary.firstUnseenUID)
        store(key, entry)
        return entry
    }
}
