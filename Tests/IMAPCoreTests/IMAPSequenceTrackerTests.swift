import MailTestSupport
import Testing

@testable import IMAPCore

@Suite struct IMAPSequenceTrackerTests {
    @Test func lookupsAndSets() {
        let t = IMAPSequenceTracker(uids: [3, 5, 9, 10, 20], uidNext: 21, highestModSeq: 7)
        #expect(t.uid(atSequence: 1) == 3 && t.uid(atSequence: 5) == 20 && t.uid(atSequence: 6) == nil && t.uid(atSequence: 0) == nil)
        #expect(t.sequence(ofUID: 9) == 3 && t.sequence(ofUID: 4) == nil)
        #expect(t.uids(forSequenceSet: [IMAPSequenceRange(.number(2), .last)]) == .success([5, 9, 10, 20]))
        #expect(t.uids(forSequenceSet: [IMAPSequenceRange(6)]) == .failure(.invalidSequenceNumber))
        #expect(t.uids(forUIDSet: [IMAPSequenceRange(4...9), IMAPSequenceRange(.number(100), .last)]) == [5, 9, 20])
        let empty = IMAPSequenceTracker(uids: [], uidNext: 1, highestModSeq: 1)
        #expect(empty.uids(forSequenceSet: [IMAPSequenceRange(.number(1), .last)]) == .success([]))
        #expect(empty.uids(forSequenceSet: [IMAPSequenceRange(1)]) == .failure(.invalidSequenceNumber))
        #expect(empty.uids(forUIDSet: [IMAPSequenceRange(.number(1), .last)]) == [])
    }

    /// The hinted lookup gives the same numbers as the plain one, for UIDs in ascending order, out of order,
    /// missing, and with a hint past the end.
    @Test func hintedLookupsMatchThePlainOnes() {
        let t = IMAPSequenceTracker(uids: [3, 5, 9, 10, 20], uidNext: 21, highestModSeq: 7)
        for order in [[3, 5, 9, 10, 20], [20, 3, 4, 9, 10, 21, 5], [1, 2, 10, 9, 9, 20, 20]] as [[UInt32]] {
            var hint = 0
            for uid in order {
                #expect(t.sequence(ofUID: uid, hint: &hint) == t.sequence(ofUID: uid), "\(uid) in \(order)")
            }
        }
        var hint = 99
        #expect(t.sequence(ofUID: 5, hint: &hint) == 2 && hint == 2)
        #expect(t.sequence(ofUID: 9, hint: &hint) == 3 && hint == 3)
    }

    /// RFC 9051 §7.4.1's example: messages 3, 4, 7 and 11 expunged are reported as 3, 3, 5, 8.
    @Test func expungeNumbersFollowTheRFCExample() {
        var t = IMAPSequenceTracker(uids: Array(1...12), uidNext: 13, highestModSeq: 1)
        t.merge(IMAPMailboxChanges(uidValidity: 1, uidNext: 13, highestModSeq: 2, expunged: .uids([3, 4, 7, 11])))
        #expect(t.drainUpdates(allowExpunge: true, qresync: false, condstore: false) == [.expunge(3), .expunge(3), .expunge(5), .expunge(8)])
        #expect(t.uids == [1, 2, 5, 6, 8, 9, 10, 12])
    }

    @Test func expungesAreHeldBackUntilAllowed() {
        var t = IMAPSequenceTracker(uids: [1, 2, 3], uidNext: 4, highestModSeq: 1)
        t.merge(
            IMAPMailboxChanges(
                uidValidity: 1, uidNext: 5, highestModSeq: 3, newUIDs: [4],
                flagChanges: [IMAPFlagChange(uid: 1, flags: [.seen], modSeq: 3)], expunged: .uids([2])))
        // During FETCH/STORE/SEARCH: EXISTS and FETCH, but message 2 keeps its number.
        #expect(
            t.drainUpdates(allowExpunge: false, qresync: false, condstore: true)
                == [.exists(4), .fetch(1, [.uid(1), .flags([.seen]), .modSeq(3)])])
        #expect(t.uids == [1, 2, 3, 4] && t.isPendingExpunge(2))
        // Later, when allowed.
        #expect(t.drainUpdates(allowExpunge: true, qresync: false, condstore: true) == [.expunge(2)])
        #expect(t.uids == [1, 3, 4])
        #expect(t.drainUpdates(allowExpunge: true, qresync: false, condstore: true) == [])
    }

    @Test func vanishedWithQResyncAndOwnChangesNotRepeated() {
        var t = IMAPSequenceTracker(uids: [10, 11, 12, 13], uidNext: 14, highestModSeq: 5)
        t.noteReported(uid: 10, modSeq: 6)
        t.merge(
            IMAPMailboxChanges(
                uidValidity: 1, uidNext: 14, highestModSeq: 7,
                flagChanges: [
                    IMAPFlagChange(uid: 10, flags: [.flagged], modSeq: 6),
                    IMAPFlagChange(uid: 13, flags: [], modSeq: 7)
                ],
                expunged: .uids([11, 12])))
        #expect(
            t.drainUpdates(allowExpunge: true, qresync: true, condstore: false)
                == [.vanished(earlier: false, .compact([11, 12])), .fetch(2, [.uid(13), .flags([])])])
        #expect(t.highestModSeq == 7)
    }

    /// When tombstones are gone the store reports the current UIDs; what is missing was expunged.
    @Test func unknownExpungesFromCurrentUIDs() {
        var t = IMAPSequenceTracker(uids: [1, 2, 3, 4], uidNext: 5, highestModSeq: 1)
        t.merge(IMAPMailboxChanges(uidValidity: 1, uidNext: 6, highestModSeq: 9, newUIDs: [5], expunged: .unknown(currentUIDs: [1, 4])))
        #expect(t.drainUpdates(allowExpunge: true, qresync: false, condstore: false) == [.expunge(2), .expunge(2), .exists(3)])
        #expect(t.uids == [1, 4, 5])
    }

    @Test func outOfOrderNewUIDsAreDropped() {
        var t = IMAPSequenceTracker(uids: [1, 5], uidNext: 6, highestModSeq: 1)
        t.merge(IMAPMailboxChanges(uidValidity: 1, uidNext: 7, highestModSeq: 2, newUIDs: [3, 6]))
        #expect(t.uids == [1, 5, 6] && t.outOfOrderUIDs == 1)
    }

    /// A model check: random appends, expunges and flag changes by "other sessions", polled at random
    /// with EXPUNGE allowed or not. The client's view, rebuilt only from the responses, always equals
    /// the tracker's, never loses a message still in the store, and after an EXPUNGE-allowed poll equals
    /// the store exactly.
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func randomInterleavedChanges(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var store: [UInt32] = Array(1...20)
        var modSeq: UInt64 = 1
        var tombstones: [(uid: UInt32, modSeq: UInt64)] = []
        var flagModSeq: [UInt32: UInt64] = [:]
        var nextUID: UInt32 = 21
        var tracker = IMAPSequenceTracker(uids: store, uidNext: 21, highestModSeq: 1)
        var client = store
        for _ in 0..<3000 {
            switch rng.next() % 5 {
            case 0:
                modSeq += 1
                store.append(nextUID)
                flagModSeq[nextUID] = modSeq
                nextUID += 1
            case 1 where !store.isEmpty:
                modSeq += 1
                let uid = store.remove(at: Int(rng.next() % UInt64(store.count)))
                tombstones.append((uid, modSeq))
            case 2 where !store.isEmpty:
                modSeq += 1
                flagModSeq[store[Int(rng.next() % UInt64(store.count))]] = modSeq
            default:
                let since = tracker.highestModSeq, known = tracker.uidNext
                tracker.merge(
                    IMAPMailboxChanges(
                        uidValidity: 1, uidNext: nextUID, highestModSeq: modSeq,
                        newUIDs: store.filter { $0 >= known },
                        flagChanges: store.filter { $0 < known && (flagModSeq[$0] ?? 0) > since }
                            .map { IMAPFlagChange(uid: $0, flags: [], modSeq: flagModSeq[$0] ?? 0) },
                        expunged: .uids(tombstones.filter { $0.modSeq > since && $0.uid < known }.map(\.uid))))
                let allow = rng.next() % 2 == 0
                for update in tracker.drainUpdates(allowExpunge: allow, qresync: false, condstore: true) {
                    switch update {
                    case .expunge(let n):
                        #expect(allow)
                        client.remove(at: Int(n) - 1)
                    case .exists(let n):
                        while client.count < Int(n) { client.append(tracker.uids[client.count]) }
                    case .fetch(let seq, let values):
                        #expect(values.first == .uid(client[Int(seq) - 1]))
                    default:
                        Issue.record("unexpected \(update)")
                    }
                }
                #expect(client == tracker.uids)
                #expect(Set(store).isSubset(of: Set(client)))
                if allow { #expect(client == store) }
            }
        }
    }
}
