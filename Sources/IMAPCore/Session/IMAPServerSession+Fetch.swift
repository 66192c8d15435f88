/// FETCH and UID FETCH (RFC 9051 §6.4.5, §6.4.9) with CHANGEDSINCE and VANISHED (RFC 7162 §3.1.4,
/// §3.2.6): implicit \Seen first (one STORE); when whole messages are needed, their sizes (index data
/// only); then the messages in batches bounded by count and octets, each rendered by `IMAPFetchRenderer`.

extension IMAPServerSession {
    struct FetchJob: Sendable {
        enum Phase: Sendable { case vanished, markSeen, sizes, fetching }
        var phase: Phase
        var uid: Bool
        var items: [IMAPFetchAttribute]
        var uids: [UInt32]
        var next = 0
        var lastBatch = 0
        var content: IMAPFetchContent
        var changedSince: UInt64?
        var vanishedRanges: [ClosedRange<UInt32>]
        var setsSeen: Bool
        var seenChanged: Set<UInt32> = []
        /// Message sizes, known before whole messages are fetched, so a batch stays under
        /// `fetchBatchBytes` (one large message is a batch of its own).
        var sizes: [UInt32: UInt64] = [:]
        var missing = false
        var unknownCTE = false
    }

    /// The UIDs a set addresses in the session's view; nil for a sequence number beyond the last message.
    func resolveUIDs(_ set: IMAPSequenceSet, uid: Bool, _ sel: SelectedMailbox) -> [UInt32]? {
        switch set {
        case .lastCommand:
            return savedSearch.filter { sel.tracker.sequence(ofUID: $0) != nil }
        case .ranges(let ranges):
            if uid { return sel.tracker.uids(forUIDSet: ranges) }
            switch sel.tracker.uids(forSequenceSet: ranges) {
            case .success(let uids): return uids
            case .failure: return nil
            }
        }
    }

    mutating func fetch(
        _ tag: String, _ sel: SelectedMailbox, _ set: IMAPSequenceSet, _ requested: [IMAPFetchAttribute],
        _ modifiers: IMAPFetchModifiers, uid: Bool
    ) -> [IMAPServerAction] {
        guard let uids = resolveUIDs(set, uid: uid, sel) else { return protocolError(tag: tag, "Invalid message sequence number") }
        if modifiers.vanished, !qresync { return protocolError(tag: tag, "VANISHED needs ENABLE QRESYNC") }
        var items = IMAPFetchRenderer.unique(requested)
        if modifiers.changedSince != nil || items.contains(.modSeq) { enabled.insert("CONDSTORE") }
        if uid, !items.contains(.uid) { items.append(.uid) }
        if modifiers.changedSince != nil, !items.contains(.modSeq) { items.append(.modSeq) }
        var vanishedRanges: [ClosedRange<UInt32>] = []
        if modifiers.vanished, case .ranges(let r) = set { vanishedRanges = sel.tracker.uidRanges(forUIDSet: r) }
        let setsSeen = !sel.readOnly && items.contains(where: \.setsSeen)
        var job = FetchJob(
            phase: .fetching, uid: uid, items: items, uids: uids,
            content: IMAPFetchRenderer.contentNeeded(items), changedSince: modifiers.changedSince,
            vanishedRanges: vanishedRanges, setsSeen: setsSeen)
        if modifiers.vanished, let since = modifiers.changedSince {
            job.phase = .vanished
            pending = .backend(tag: tag, .fetch(job))
            return [.backend(.vanished(sel.id, sinceModSeq: since, uids: vanishedRanges))]
        }
        return fetchStart(tag, sel, job)
    }

    /// After VANISHED: the implicit \Seen, or the first batch.
    mutating func fetchStart(_ tag: String, _ sel: SelectedMailbox, _ job: FetchJob) -> [IMAPServerAction] {
        var job = job
        if job.uids.isEmpty { return fetchFinish(tag, job) }
        if job.setsSeen {
            job.phase = .markSeen
            pending = .backend(tag: tag, .fetch(job))
            return [.backend(.store(sel.id, uids: job.uids, .add([.seen]), unchangedSince: nil))]
        }
        return fetchSizes(tag, sel, job)
    }

    /// Before whole messages: their sizes, so batches can be bounded by octets.
    mutating func fetchSizes(_ tag: String, _ sel: SelectedMailbox, _ job: FetchJob) -> [IMAPServerAction] {
        var job = job
        guard job.content == .full, job.uids.count > 1 else {
            job.phase = .fetching
            return fetchNextBatch(tag, sel, job)
        }
        job.phase = .sizes
        pending = .backend(tag: tag, .fetch(job))
        return [.backend(.fetch(sel.id, uids: job.uids, content: .none, changedSince: job.changedSince))]
    }

    mutating func fetchNextBatch(_ tag: String, _ sel: SelectedMailbox, _ job: FetchJob) -> [IMAPServerAction] {
        var job = job
        guard job.next < job.uids.count else { return fetchFinish(tag, job) }
        var cap = max(1, job.content == .none ? configuration.fetchBatchIndexOnly : configuration.fetchBatchWithContent)
        // CHANGEDSINCE of index data (a phone's resync): the store answers only what changed, so a batch may
        // name ten times as many UIDs (an answer of everything, CHANGEDSINCE 0, is still bounded).
        if job.content == .none, job.changedSince != nil { cap = min(cap, Int.max / 10) * 10 }
        var end = job.next
        var octets: UInt64 = 0
        while end < job.uids.count, end - job.next < cap {
            let size = job.sizes[job.uids[end]] ?? 0
            if end > job.next, octets &+ size > UInt64(configuration.fetchBatchBytes) { break }
            octets &+= size
            end += 1
        }
        let batch = Array(job.uids[job.next..<end])
        job.next = end
        job.lastBatch = batch.count
        pending = .backend(tag: tag, .fetch(job))
        return [.backend(.fetch(sel.id, uids: batch, content: job.content, changedSince: job.changedSince))]
    }

    mutating func fetchAnswered(_ tag: String, _ job: FetchJob, _ r: IMAPBackendResponse) -> [IMAPServerAction] {
        guard var sel = selected else { return [no(tag, .serverBug, "No mailbox")] }
        var job = job
        if case .failed(let e) = r, job.phase == .fetching || e == .mailboxGone { return backendFailure(tag, e) }
        switch job.phase {
        case .vanished:
            var gone: [UInt32] = []
            if case .vanished(let uids?) = r {
                gone = uids
            } else {
                gone = sel.tracker.missingUIDs(in: job.vanishedRanges)
            }
            let out = gone.isEmpty ? [] : [send(.data(.vanished(earlier: true, .compact(gone))))]
            return out + fetchStart(tag, sel, job)
        case .markSeen:
            if case .stored(let result) = r {
                job.seenChanged = Set(result.changed)
                for m in result.messages where job.seenChanged.contains(m.uid) {
                    sel.tracker.noteReported(uid: m.uid, modSeq: m.modSeq)
                }
                selected = sel
            }
            return fetchSizes(tag, sel, job)
        case .sizes:
            guard case .messages(let index) = r else {
                if case .failed(let e) = r { return backendFailure(tag, e) }
                return [no(tag, .serverBug, "Unexpected answer")]
            }
            for m in index { job.sizes[m.metadata.uid] = m.metadata.size }
            if job.changedSince == nil, index.count < job.uids.count { job.missing = true }
            // Only what exists (and, with CHANGEDSINCE, what changed) is fetched.
            job.uids = job.uids.filter { job.sizes[$0] != nil }
            job.phase = .fetching
            return fetchNextBatch(tag, sel, job)
        case .fetching:
            guard case .messages(let messages) = r else { return [no(tag, .serverBug, "Unexpected answer")] }
            if job.changedSince == nil, messages.count < job.lastBatch { job.missing = true }
            var out: [IMAPServerAction] = []
            let wantsFlags = job.items.contains(.flags)
            if wantsFlags || !job.seenChanged.isEmpty {
                // A run of messages with the same flag list is looked at once (a batch has a handful of lists).
                var flags: [IMAPFlag] = []
                var previous: [IMAPFlag] = []
                for m in messages where !m.metadata.flags.isEmpty && m.metadata.flags != previous {
                    previous = m.metadata.flags
                    flags += previous
                }
                out = announceKeywords(flags)
                sel = selected ?? sel
            }
            // The session's copy is the only one while the batch is rendered: the tracker is changed in
            // place, not copied once per batch.
            selected = nil
            // The batch's FETCH responses go out as one write.
            var wire = IMAPWireWriter(utf8: utf8Mode)
            // Room for the small bodies; a large one is sent as its own piece (`IMAPWireWriter.ownPieceLength`).
            wire.reserve(
                messages.reduce(0) { total, m in
                    let n = m.content?.count ?? 0
                    return total + (n < IMAPWireWriter.ownPieceLength ? n : 0) + 128
                })
            let ascending = zip(messages, messages.dropFirst()).allSatisfy { $0.metadata.uid < $1.metadata.uid }
            let modSeqWithFlags = condstore
            var hint = 0
            for var message in ascending ? messages : messages.sorted(by: { $0.metadata.uid < $1.metadata.uid }) {
                guard let seq = sel.tracker.sequence(ofUID: message.metadata.uid, hint: &hint) else { continue }
                if !sel.recent.isEmpty { message.metadata.flags = sel.flags(message.metadata.flags, uid: message.metadata.uid) }
                let addFlags = !job.seenChanged.isEmpty && job.seenChanged.contains(message.metadata.uid)
                let hasFlags = addFlags || wantsFlags
                var unknownCTE = false
                IMAPResponse.encodeFetch(seq, into: &wire) { emit in
                    unknownCTE = IMAPFetchRenderer.render(
                        message, uniqueItems: job.items, addFlags: addFlags, addModSeq: modSeqWithFlags && hasFlags, emit: emit)
                }
                if unknownCTE { job.unknownCTE = true }
                if hasFlags { sel.tracker.noteReported(uid: message.metadata.uid, modSeq: message.metadata.modSeq) }
            }
            for piece in wire.pieces { out.append(.send(piece)) }
            selected = sel
            return out + fetchNextBatch(tag, sel, job)
        }
    }

    mutating func fetchFinish(_ tag: String, _ job: FetchJob) -> [IMAPServerAction] {
        if job.unknownCTE {
            return finish(tag, .no, .unknownCTE, text: "Unknown Content-Transfer-Encoding", allowExpunge: job.uid)
        }
        if job.missing, !job.uid {
            return finish(tag, .no, .expungeIssued, text: "Some of the requested messages no longer exist", allowExpunge: false)
        }
        return finish(tag, text: job.uid ? "UID FETCH completed" : "FETCH completed", allowExpunge: job.uid)
    }
}
