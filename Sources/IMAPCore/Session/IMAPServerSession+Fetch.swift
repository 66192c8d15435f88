/// FETCH and UID FETCH (RFC 9051 §6.4.5, §6.4.9) with CHANGEDSINCE and VANISHED (RFC 7162 §3.1.4,
/// §3.2.6): implicit \Seen first (one STORE), then the messages in batches (bounded memory for large
/// sets), each rendered by `IMAPFetchRenderer`.

extension IMAPServerSession {
    struct FetchJob: Sendable {
        enum Phase: Sendable { case vanished, markSeen, fetching }
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

    mutating func fetch(_ tag: String, _ sel: SelectedMailbox, _ set: IMAPSequenceSet, _ requested: [IMAPFetchAttribute],
                        _ modifiers: IMAPFetchModifiers, uid: Bool) -> [IMAPServerAction] {
        guard let uids = resolveUIDs(set, uid: uid, sel) else { return protocolError(tag: tag, "Invalid message sequence number") }
        if modifiers.vanished, !qresync { return protocolError(tag: tag, "VANISHED needs ENABLE QRESYNC") }
        var items = requested
        if modifiers.changedSince != nil || items.contains(.modSeq) { enabled.insert("CONDSTORE") }
        if uid, !items.contains(.uid) { items.append(.uid) }
        if modifiers.changedSince != nil, !items.contains(.modSeq) { items.append(.modSeq) }
        var vanishedRanges: [ClosedRange<UInt32>] = []
        if modifiers.vanished, case .ranges(let r) = set { vanishedRanges = sel.tracker.uidRanges(forUIDSet: r) }
        let setsSeen = !sel.readOnly && items.contains(where: \.setsSeen)
        var job = FetchJob(phase: .fetching, uid: uid, items: items, uids: uids,
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
        job.phase = .fetching
        return fetchNextBatch(tag, sel, job)
    }

    mutating func fetchNextBatch(_ tag: String, _ sel: SelectedMailbox, _ job: FetchJob) -> [IMAPServerAction] {
        var job = job
        guard job.next < job.uids.count else { return fetchFinish(tag, job) }
        let size = job.content == .none ? configuration.fetchBatchIndexOnly : configuration.fetchBatchWithContent
        let batch = Array(job.uids[job.next..<min(job.uids.count, job.next + max(1, size))])
        job.next += batch.count
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
                    sel.tracker.noteModSeq(m.modSeq)
                }
                selected = sel
            }
            job.phase = .fetching
            return fetchNextBatch(tag, sel, job)
        case .fetching:
            guard case .messages(let messages) = r else { return [no(tag, .serverBug, "Unexpected answer")] }
            if job.changedSince == nil, messages.count < job.lastBatch { job.missing = true }
            var out: [IMAPServerAction] = []
            if job.items.contains(.flags) || !job.seenChanged.isEmpty {
                out = announceKeywords(messages.flatMap(\.metadata.flags))
                sel = selected ?? sel
            }
            for message in messages.sorted(by: { $0.metadata.uid < $1.metadata.uid }) {
                guard let seq = sel.tracker.sequence(ofUID: message.metadata.uid) else { continue }
                let addFlags = job.seenChanged.contains(message.metadata.uid)
                let hasFlags = addFlags || job.items.contains(.flags)
                let rendered = IMAPFetchRenderer.render(message, items: job.items, addFlags: addFlags,
                                                        addModSeq: condstore && hasFlags)
                if rendered.unknownCTE { job.unknownCTE = true }
                if hasFlags { sel.tracker.noteReported(uid: message.metadata.uid, modSeq: message.metadata.modSeq) }
                out.append(send(.data(.fetch(seq, rendered.values))))
            }
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
