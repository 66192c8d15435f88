/// The per-session view of the selected mailbox (RFC 9051 §2.3.1.2, §7.5.1): message sequence numbers,
/// and the untagged updates that keep the client's view in step with the store.
///
/// Sequence number n is `uids[n-1]`. The view changes only when the client is told: a message expunged by
/// anyone stays in the view (as "pending expunge") until an EXPUNGE (or VANISHED) response is sent for
/// it; a new message joins when EXISTS is sent. RFC 9051 §7.5.1: EXPUNGE "MUST NOT be sent when no command
/// is in progress, nor while responding to a FETCH, STORE, or SEARCH command" (the UID forms may) — the
/// session asks for updates with `allowExpunge` accordingly, and the tracker holds expunges back until it
/// may send them. Flag changes by other sessions become unsolicited FETCH (UID FLAGS [MODSEQ]); changes
/// this session already reported (its own STORE) are not repeated.
public struct IMAPSequenceTracker: Hashable, Sendable {
    /// The UIDs of the client's view, ascending; sequence number = index + 1.
    public private(set) var uids: [UInt32]
    /// UIDs expunged in the store but not yet reported (still in `uids`).
    public private(set) var pendingExpunges: Set<UInt32> = []
    /// The UIDNEXT the session knows (new messages have UIDs at or above it).
    public private(set) var uidNext: UInt32
    /// The HIGHESTMODSEQ the session knows.
    public private(set) var highestModSeq: UInt64
    /// The message count last reported with EXISTS (or at SELECT).
    public private(set) var reportedCount: Int
    /// Flag changes to report, by UID (the latest wins).
    var pendingFlags: [UInt32: IMAPFlagChange] = [:]
    /// MODSEQ already reported to the client per UID (own STORE, FETCH FLAGS) above `highestModSeq`, so
    /// the next poll does not send the same change twice; entries at or below `highestModSeq` are dropped
    /// (no poll reports them again), so a FETCH of every message's flags keeps nothing here.
    var reportedModSeq: [UInt32: UInt64] = [:]
    /// New UIDs that arrived out of order (below the last UID in the view): a store bug; counted, dropped.
    public private(set) var outOfOrderUIDs = 0

    public init(uids: [UInt32], uidNext: UInt32, highestModSeq: UInt64) {
        self.uids = uids
        self.uidNext = uidNext
        self.highestModSeq = highestModSeq
        self.reportedCount = uids.count
    }

    public var count: Int { uids.count }

    // MARK: - Lookups

    /// The UID at sequence number `seq` (1-based).
    public func uid(atSequence seq: UInt32) -> UInt32? {
        guard seq >= 1, Int(seq) <= uids.count else { return nil }
        return uids[Int(seq) - 1]
    }

    /// The sequence number of `uid`, when it is in the view.
    public func sequence(ofUID uid: UInt32) -> UInt32? {
        var lo = 0, hi = uids.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if uids[mid] < uid { lo = mid + 1 } else { hi = mid }
        }
        guard lo < uids.count, uids[lo] == uid else { return nil }
        return UInt32(lo + 1)
    }

    /// `sequence(ofUID:)` for UIDs met in ascending order: `hint` (the index after the previous one found)
    /// is tried before a search, and moved past the message found.
    public func sequence(ofUID uid: UInt32, hint: inout Int) -> UInt32? {
        if hint < uids.count, uids[hint] == uid {
            hint += 1
            return UInt32(hint)
        }
        guard let seq = sequence(ofUID: uid) else { return nil }
        hint = Int(seq)
        return seq
    }

    public func isPendingExpunge(_ uid: UInt32) -> Bool { pendingExpunges.contains(uid) }

    /// The largest UID in the view (`*` in a UID set), or nil when the view is empty.
    public var lastUID: UInt32? { uids.last }

    /// Why a sequence set cannot be resolved.
    public enum ResolveError: Error, Hashable, Sendable {
        /// A sequence number beyond the number of messages (RFC 9051 §9: answer BAD).
        case invalidSequenceNumber
    }

    /// The UIDs addressed by message sequence numbers (ascending, de-duplicated). `*` is the last message;
    /// with an empty view a set using `*` addresses nothing.
    public func uids(forSequenceSet ranges: [IMAPSequenceRange]) -> Result<[UInt32], ResolveError> {
        let n = UInt32(uids.count)
        var seqs: [ClosedRange<UInt32>] = []
        for r in ranges {
            if n == 0 {
                if r.first == .last || r.last == .last { continue }
                return .failure(.invalidSequenceNumber)
            }
            let range = r.resolved(last: n)
            guard range.upperBound <= n else { return .failure(.invalidSequenceNumber) }
            seqs.append(range)
        }
        var out: [UInt32] = []
        for range in IMAPSequenceSet.merged(seqs) {
            out.append(contentsOf: uids[(Int(range.lowerBound) - 1)..<Int(range.upperBound)])
        }
        return .success(out)
    }

    /// The UIDs of the view inside a UID set (ascending). `*` is the largest UID in the view, so `n:*`
    /// always includes the last message (RFC 9051 §6.4.8, §9).
    public func uids(forUIDSet ranges: [IMAPSequenceRange]) -> [UInt32] {
        guard let last = uids.last else { return [] }
        var out: [UInt32] = []
        for range in IMAPSequenceSet.merged(ranges.map { $0.resolved(last: last) }) {
            var i = firstIndex(atLeast: range.lowerBound)
            while i < uids.count, uids[i] <= range.upperBound {
                out.append(uids[i])
                i += 1
            }
        }
        return out
    }

    /// The index of the first UID ≥ `uid` (binary search).
    func firstIndex(atLeast uid: UInt32) -> Int {
        var lo = 0, hi = uids.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if uids[mid] < uid { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// The UIDs of messages `first...last` (sequence numbers clamped to the view).
    public func uids(inSequenceRange range: ClosedRange<UInt32>) -> ArraySlice<UInt32> {
        let lower = max(1, Int(range.lowerBound)), upper = min(uids.count, Int(range.upperBound))
        guard lower <= upper else { return [] }
        return uids[(lower - 1)..<upper]
    }

    /// UID ranges for a UID set (`*` as the largest UID in the view, or UIDNEXT-1 when empty), merged,
    /// for queries that must also cover UIDs no longer in the view (VANISHED).
    public func uidRanges(forUIDSet ranges: [IMAPSequenceRange]) -> [ClosedRange<UInt32>] {
        let last = uids.last ?? max(1, uidNext) - 1
        return IMAPSequenceSet.merged(ranges.map { $0.resolved(last: last) })
    }

    /// UIDs below UIDNEXT in `ranges` that are not in the view, at most `limit` of them (the VANISHED
    /// fallback when the store's tombstones do not reach back far enough).
    public func missingUIDs(in ranges: [ClosedRange<UInt32>], limit: Int = 100_000) -> [UInt32] {
        var out: [UInt32] = []
        for range in ranges {
            var n = range.lowerBound
            var i = firstIndex(atLeast: n)
            while n <= range.upperBound, n < uidNext, out.count < limit {
                if i < uids.count, uids[i] == n { i += 1 } else { out.append(n) }
                if n == UInt32.max { break }
                n += 1
            }
        }
        return out
    }

    // MARK: - Updates

    /// Takes in what the store reports changed since `highestModSeq`.
    public mutating func merge(_ changes: IMAPMailboxChanges) {
        switch changes.expunged {
        case .uids(let gone):
            for uid in gone where sequence(ofUID: uid) != nil { pendingExpunges.insert(uid) }
        case .unknown(let current):
            let present = Set(current)
            for uid in uids where uid < uidNext && !present.contains(uid) { pendingExpunges.insert(uid) }
        }
        for change in changes.flagChanges where sequence(ofUID: change.uid) != nil {
            if let reported = reportedModSeq[change.uid], change.modSeq <= reported { continue }
            pendingFlags[change.uid] = change
        }
        for uid in changes.newUIDs {
            if let last = uids.last, uid <= last {
                if sequence(ofUID: uid) == nil { outOfOrderUIDs += 1 }
                continue
            }
            uids.append(uid)
        }
        uidNext = max(uidNext, changes.uidNext, (uids.last ?? 0) &+ 1)
        highestModSeq = max(highestModSeq, changes.highestModSeq)
        if !reportedModSeq.isEmpty { reportedModSeq = reportedModSeq.filter { $0.value > highestModSeq } }
    }

    /// Records that the client was told the flags of `uid` at `modSeq` (this session's STORE or FETCH).
    ///
    /// `highestModSeq` is not raised here: it is the point from which the store is asked for changes, and
    /// another session's change may have a MODSEQ between it and this one; the next poll reports that
    /// change and skips this one.
    public mutating func noteReported(uid: UInt32, modSeq: UInt64) {
        if modSeq > highestModSeq { reportedModSeq[uid] = max(reportedModSeq[uid] ?? 0, modSeq) }
        if !pendingFlags.isEmpty, let pending = pendingFlags[uid], pending.modSeq <= modSeq { pendingFlags[uid] = nil }
    }

    /// Removes messages this session expunged itself (EXPUNGE, MOVE), returning their sequence numbers
    /// in the order EXPUNGE responses must be sent (each number valid when its response is sent).
    public mutating func removeExpunged(_ expunged: [UInt32]) -> [UInt32] {
        var indices: [Int] = []
        for uid in Set(expunged).sorted() {
            let i = firstIndex(atLeast: uid)
            if i < uids.count, uids[i] == uid { indices.append(i) }
        }
        guard !indices.isEmpty else { return [] }
        // The k-th removal (ascending) is reported at its original number minus the k removed before it.
        let numbers = indices.enumerated().map { UInt32($0.element - $0.offset + 1) }
        let removed = Set(indices.map { uids[$0] })
        uids.removeAll { removed.contains($0) }
        for uid in removed {
            pendingExpunges.remove(uid)
            pendingFlags[uid] = nil
            reportedModSeq[uid] = nil
        }
        reportedCount -= indices.filter { $0 < reportedCount }.count
        return numbers
    }

    /// The untagged responses that bring the client up to date: expunges (when allowed) as EXPUNGE, or as
    /// one VANISHED when QRESYNC is enabled (RFC 7162 §3.2.10); then EXISTS for new messages; then FETCH
    /// for flag changes (with UID, and MODSEQ when CONDSTORE is enabled).
    public mutating func drainUpdates(allowExpunge: Bool, qresync: Bool, condstore: Bool) -> [IMAPResponseData] {
        var out: [IMAPResponseData] = []
        if allowExpunge, !pendingExpunges.isEmpty {
            let gone = pendingExpunges.sorted()
            let numbers = removeExpunged(gone)
            if qresync {
                out.append(.vanished(earlier: false, .compact(gone)))
            } else {
                out += numbers.map { .expunge($0) }
            }
        }
        if uids.count > reportedCount {
            out.append(.exists(UInt32(uids.count)))
            reportedCount = uids.count
        }
        if !pendingFlags.isEmpty {
            for change in pendingFlags.values.sorted(by: { $0.uid < $1.uid }) {
                guard let seq = sequence(ofUID: change.uid), !pendingExpunges.contains(change.uid) else { continue }
                var values: [IMAPFetchValue] = [.uid(change.uid), .flags(change.flags)]
                if condstore { values.append(.modSeq(change.modSeq)) }
                out.append(.fetch(seq, values))
                pendingFlags[change.uid] = nil
                reportedModSeq[change.uid] = max(reportedModSeq[change.uid] ?? 0, change.modSeq)
            }
        }
        return out
    }
}
