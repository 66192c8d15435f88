/// SELECT/EXAMINE with CONDSTORE and QRESYNC (RFC 9051 §6.3.2–6.3.3, RFC 7162 §3.1.8, §3.2.5), CLOSE,
/// UNSELECT, EXPUNGE, UID EXPUNGE (§6.4.1–6.4.3, §6.4.9), IDLE (RFC 2177), and the closing poll of every
/// command: the store's changes become EXISTS/EXPUNGE/VANISHED/FETCH (RFC 9051 §7.5.1).

extension IMAPServerSession {
    /// What to do with a backend answer.
    enum Operation: Sendable {
        case poll(Final)
        /// A simple command: OK with this text, or NO from the error.
        case simple(String, tryCreate: Bool)
        case select(SelectJob)
        case qresyncVanished(SelectJob, IMAPQResyncParameters)
        case qresyncFetch(SelectJob)
        case close
        case expunge(String)
        case list(ListJob)
        case listStatus(ListJob, [IMAPListItem])
        case status(String, [IMAPStatusItem])
        case append(String)
        case quota(mailbox: String?)
        case fetch(FetchJob)
        case store(StoreJob)
        case search(SearchJob)
        case copy(CopyJob)
    }

    struct SelectJob: Sendable {
        var name: String
        var readOnly: Bool
        var params: IMAPSelectParameters
    }

    mutating func backendAnswered(_ response: IMAPBackendResponse) -> [IMAPServerAction] {
        switch pending {
        case .idle(let tag, true):
            pending = .idle(tag: tag, polling: false)
            return idlePollAnswered(response)
        case .backend(let tag, let operation):
            pending = .none
            return continueOperation(tag, operation, response)
        default:
            return []
        }
    }

    mutating func continueOperation(_ tag: String, _ op: Operation, _ r: IMAPBackendResponse) -> [IMAPServerAction] {
        switch op {
        case .poll(let final): return pollAnswered(tag, final, r)
        case .simple(let text, let tryCreate):
            if case .failed(let e) = r { return backendFailure(tag, e, tryCreate: tryCreate) }
            return finish(tag, text: text, allowExpunge: true)
        case .select(let job): return selectAnswered(tag, job, r)
        case .qresyncVanished(let job, let params): return qresyncVanishedAnswered(tag, job, params, r)
        case .qresyncFetch(let job): return qresyncFetchAnswered(tag, job, r)
        case .close:
            selected = nil
            state = .authenticated
            return [ok(tag, "CLOSE completed")]
        case .expunge(let text): return expungeAnswered(tag, text, r)
        case .list(let job): return listAnswered(tag, job, r)
        case .listStatus(let job, let items): return listStatusAnswered(tag, job, items, r)
        case .status(let name, let items): return statusAnswered(tag, name, items, r)
        case .append(let name): return appendAnswered(tag, name, r)
        case .quota(let mailbox): return quotaAnswered(tag, mailbox, r)
        case .fetch(let job): return fetchAnswered(tag, job, r)
        case .store(let job): return storeAnswered(tag, job, r)
        case .search(let job): return searchAnswered(tag, job, r)
        case .copy(let job): return copyAnswered(tag, job, r)
        }
    }

    // MARK: - Finishing a command

    /// Sends the final response; in the selected state, after asking the store what changed and sending
    /// the updates (expunges only when `allowExpunge`).
    mutating func finish(
        _ tag: String, _ condition: IMAPCondition = .ok, _ code: IMAPResponseCode? = nil,
        text: String, allowExpunge: Bool
    ) -> [IMAPServerAction] {
        let final = Final(condition: condition, code: code, text: text, allowExpunge: allowExpunge)
        guard let sel = selected else { return [send(.tagged(tag: tag, condition, code, text))] }
        pending = .backend(tag: tag, .poll(final))
        return [pollRequest(sel)]
    }

    func pollRequest(_ sel: SelectedMailbox) -> IMAPServerAction {
        .backend(.changes(sel.id, sinceModSeq: sel.tracker.highestModSeq, knownUIDNext: sel.tracker.uidNext, claimRecent: claimsRecent(sel)))
    }

    /// Whether this session keeps \Recent: an IMAP4rev1 session that SELECTed (RFC 3501 §2.3.2; EXAMINE
    /// does not claim, and RFC 9051 dropped \Recent).
    func claimsRecent(_ sel: SelectedMailbox) -> Bool { !sel.readOnly && !rev2 }

    /// Applies a `.changes` answer and returns the untagged updates to send; nil when the mailbox went
    /// away (the session is closed then, with `closing` holding the BYE).
    mutating func applyChanges(_ r: IMAPBackendResponse, allowExpunge: Bool, closing: inout [IMAPServerAction]) -> [IMAPServerAction]? {
        guard var sel = selected else { return [] }
        switch r {
        case .changes(let changes):
            guard changes.uidValidity == sel.uidValidity else {
                closing = close(sending: .untagged(.bye, nil, "Mailbox UIDVALIDITY changed, closing connection"))
                return nil
            }
            sel.tracker.merge(changes)
            sel.addRecent(changes.recent)
            var updates: [IMAPResponseData] = []
            for update in sel.tracker.drainUpdates(allowExpunge: allowExpunge, qresync: qresync, condstore: condstore) {
                switch update {
                case .exists where claimsRecent(sel):
                    updates += [update, .recent(sel.recentCount)]
                case .fetch(let seq, var values) where !sel.recent.isEmpty:
                    // The tracker's flag updates carry the UID first.
                    if case .uid(let uid)? = values.first, sel.isRecent(uid) {
                        for i in values.indices { if case .flags(let f) = values[i] { values[i] = .flags(f + [.recent]) } }
                    }
                    updates.append(.fetch(seq, values))
                default:
                    updates.append(update)
                }
            }
            selected = sel
            var flags: [IMAPFlag] = []
            for case .fetch(_, let values) in updates { for case .flags(let f) in values { flags += f } }
            return announceKeywords(flags) + updates.map { send(.data($0)) }
        case .failed(.mailboxGone):
            closing = close(sending: .untagged(.bye, nil, "Selected mailbox was deleted, closing connection"))
            return nil
        default:
            return [] // a failed poll is not the command's failure: the next one catches up
        }
    }

    mutating func pollAnswered(_ tag: String, _ final: Final, _ r: IMAPBackendResponse) -> [IMAPServerAction] {
        var closing: [IMAPServerAction] = []
        guard let updates = applyChanges(r, allowExpunge: final.allowExpunge, closing: &closing) else { return closing }
        return updates + [send(.tagged(tag: tag, final.condition, final.code, final.text))]
    }

    // MARK: - SELECT / EXAMINE

    /// Decodes a mailbox name in the mode in force.
    func decode(_ name: IMAPMailboxName) -> String? { name.decoded(utf8: utf8Mode) }

    mutating func select(_ tag: String, _ name: IMAPMailboxName, _ params: IMAPSelectParameters, readOnly: Bool) -> [IMAPServerAction] {
        var actions: [IMAPServerAction] = []
        if selected != nil {
            // RFC 9051 §6.3.2: the current mailbox is closed first (without expunge), [CLOSED] says so.
            selected = nil
            state = .authenticated
            actions.append(send(.untagged(.ok, .closed, "Previous mailbox closed")))
        }
        guard let decoded = decode(name) else { return actions + [no(tag, .cannot, "Invalid mailbox name")] }
        if params.qresync != nil, !qresync { return actions + protocolError(tag: tag, "QRESYNC is not enabled") }
        if params.condstore { enabled.insert("CONDSTORE") }
        pending = .backend(tag: tag, .select(SelectJob(name: decoded, readOnly: readOnly, params: params)))
        return actions + [.backend(.select(decoded, claimRecent: !readOnly && !rev2))]
    }

    mutating func selectAnswered(_ tag: String, _ job: SelectJob, _ r: IMAPBackendResponse) -> [IMAPServerAction] {
        guard case .selected(let snap) = r else {
            if case .failed(let e) = r { return backendFailure(tag, e) }
            return [no(tag, .serverBug, "Unexpected answer")]
        }
        selected = SelectedMailbox(
            id: snap.id, name: snap.name, readOnly: job.readOnly, uidValidity: snap.uidValidity,
            tracker: IMAPSequenceTracker(
                uids: snap.uids, uidNext: snap.uidNext,
                highestModSeq: snap.highestModSeq),
            keywords: Set(snap.keywords.filter { !$0.isSystem }))
        selected?.addRecent(snap.recent)
        state = .selected
        savedSearch = []
        let flags = IMAPFlag.system + snap.keywords.filter { !$0.isSystem }.sorted()
        var out: [IMAPServerAction] = [send(.data(.exists(UInt32(snap.uids.count))))]
        if !rev2 {
            out.append(send(.data(.recent(selected?.recentCount ?? 0))))
            if let unseen = snap.firstUnseenUID, let seq = selected?.tracker.sequence(ofUID: unseen) {
                out.append(send(.untagged(.ok, .unseen(seq), "First unseen")))
            }
        }
        out.append(send(.untagged(.ok, .uidValidity(snap.uidValidity), "UIDs valid")))
        out.append(send(.untagged(.ok, .uidNext(snap.uidNext), "Predicted next UID")))
        out.append(send(.data(.flags(flags))))
        if job.readOnly {
            out.append(send(.untagged(.ok, .permanentFlags([], allowsNewKeywords: false), "No permanent flags permitted")))
        } else {
            out.append(send(.untagged(.ok, .permanentFlags(flags, allowsNewKeywords: true), "Flags permitted")))
        }
        out.append(send(.untagged(.ok, .highestModSeq(snap.highestModSeq), "Highest")))
        if rev2 { out.append(send(.data(.list(IMAPListItem(attributes: [], name: snap.name))))) }
        if let q = job.params.qresync, q.uidValidity == snap.uidValidity, let sel = selected {
            // RFC 7162 §3.2.5.1: VANISHED (EARLIER) for what went away, FETCH for what changed.
            let ranges: [ClosedRange<UInt32>]
            if case .ranges(let r)? = q.knownUIDs {
                ranges = sel.tracker.uidRanges(forUIDSet: r)
            } else {
                ranges = [1...max(1, snap.uidNext)]
            }
            pending = .backend(tag: tag, .qresyncVanished(job, q))
            return out + [.backend(.vanished(sel.id, sinceModSeq: q.modSeq, uids: ranges))]
        }
        return out + [selectCompleted(tag, job)]
    }

    func selectCompleted(_ tag: String, _ job: SelectJob) -> IMAPServerAction {
        ok(tag, job.readOnly ? "EXAMINE completed" : "SELECT completed", job.readOnly ? .readOnly : .readWrite)
    }

    mutating func qresyncVanishedAnswered(
        _ tag: String, _ job: SelectJob, _ q: IMAPQResyncParameters,
        _ r: IMAPBackendResponse
    ) -> [IMAPServerAction] {
        guard let sel = selected else { return [selectCompleted(tag, job)] }
        var out: [IMAPServerAction] = []
        var gone: [UInt32] = []
        if case .vanished(let uids?) = r {
            gone = uids
        } else if case .ranges(let known)? = q.knownUIDs {
            // Tombstones no longer reach back: every known UID not in the mailbox now (RFC 7162 §3.2.5.1
            // allows reporting UIDs that never existed).
            gone = sel.tracker.missingUIDs(in: sel.tracker.uidRanges(forUIDSet: known))
        }
        if !gone.isEmpty { out.append(send(.data(.vanished(earlier: true, .compact(gone))))) }
        pending = .backend(tag: tag, .qresyncFetch(job))
        return out + [.backend(.fetch(sel.id, uids: sel.tracker.uids, content: .none, changedSince: q.modSeq))]
    }

    mutating func qresyncFetchAnswered(_ tag: String, _ job: SelectJob, _ r: IMAPBackendResponse) -> [IMAPServerAction] {
        guard let sel = selected else { return [selectCompleted(tag, job)] }
        var out: [IMAPServerAction] = []
        if case .messages(let messages) = r {
            for m in messages.sorted(by: { $0.metadata.uid < $1.metadata.uid }) {
                guard let seq = sel.tracker.sequence(ofUID: m.metadata.uid) else { continue }
                out.append(send(.data(.fetch(seq, [.uid(m.metadata.uid), .flags(m.metadata.flags), .modSeq(m.metadata.modSeq)]))))
            }
        }
        return out + [selectCompleted(tag, job)]
    }

    // MARK: - CLOSE, UNSELECT, EXPUNGE

    /// RFC 9051 §6.4.1: expunge silently (when read-write), then back to the authenticated state.
    mutating func closeMailbox(_ tag: String, _ sel: SelectedMailbox) -> [IMAPServerAction] {
        if sel.readOnly {
            selected = nil
            state = .authenticated
            return [ok(tag, "CLOSE completed")]
        }
        pending = .backend(tag: tag, .close)
        return [.backend(.expunge(sel.id, uids: nil))]
    }

    /// RFC 9051 §6.4.2: back to the authenticated state without expunging.
    mutating func unselect(_ tag: String) -> [IMAPServerAction] {
        selected = nil
        state = .authenticated
        return [ok(tag, "UNSELECT completed")]
    }

    mutating func expunge(_ tag: String, _ sel: SelectedMailbox, uids: [UInt32]?) -> [IMAPServerAction] {
        guard !sel.readOnly else { return [no(tag, .readOnly, "Mailbox is read-only")] }
        pending = .backend(tag: tag, .expunge(uids == nil ? "EXPUNGE completed" : "UID EXPUNGE completed"))
        return [.backend(.expunge(sel.id, uids: uids))]
    }

    mutating func uidExpunge(_ tag: String, _ sel: SelectedMailbox, _ set: IMAPSequenceSet) -> [IMAPServerAction] {
        guard case .ranges(let ranges) = resolveSaved(set, uid: true) else { return protocolError(tag: tag, "Invalid UID set") }
        let uids = sel.tracker.uids(forUIDSet: ranges)
        guard !uids.isEmpty else {
            return sel.readOnly
                ? [no(tag, .readOnly, "Mailbox is read-only")]
                : finish(tag, text: "UID EXPUNGE completed", allowExpunge: true)
        }
        return expunge(tag, sel, uids: uids)
    }

    mutating func expungeAnswered(_ tag: String, _ text: String, _ r: IMAPBackendResponse) -> [IMAPServerAction] {
        guard case .expunged(let uids) = r else {
            if case .failed(let e) = r { return backendFailure(tag, e) }
            return [no(tag, .serverBug, "Unexpected answer")]
        }
        return reportOwnExpunges(uids) + finish(tag, text: text, allowExpunge: true)
    }

    /// EXPUNGE (or one VANISHED with QRESYNC) for messages this session removed.
    mutating func reportOwnExpunges(_ uids: [UInt32]) -> [IMAPServerAction] {
        guard var sel = selected, !uids.isEmpty else { return [] }
        let numbers = sel.tracker.removeExpunged(uids)
        selected = sel
        if qresync { return [send(.data(.vanished(earlier: false, .compact(uids))))] }
        return numbers.map { send(.data(.expunge($0))) }
    }

    /// FLAGS and PERMANENTFLAGS again when `flags` hold keywords the client has not been told about
    /// (RFC 9051 §7.3.5, as Dovecot does), before the FETCH that shows them.
    mutating func announceKeywords(_ flags: [IMAPFlag]) -> [IMAPServerAction] {
        guard var sel = selected else { return [] }
        let new = Set(flags.filter { !$0.isSystem && $0 != .recent }).subtracting(sel.keywords)
        guard !new.isEmpty else { return [] }
        sel.keywords.formUnion(new)
        selected = sel
        let all = IMAPFlag.system + sel.keywords.sorted()
        var out = [send(.data(.flags(all)))]
        if !sel.readOnly {
            out.append(send(.untagged(.ok, .permanentFlags(all, allowsNewKeywords: true), "Flags permitted")))
        }
        return out
    }

    /// `$` replaced by the saved search result (as UIDs; for sequence-number use, mapped back).
    func resolveSaved(_ set: IMAPSequenceSet, uid: Bool) -> IMAPSequenceSet {
        guard case .lastCommand = set else { return set }
        if uid { return .compact(savedSearch) }
        let seqs = savedSearch.compactMap { selected?.tracker.sequence(ofUID: $0) }
        return .compact(seqs)
    }

    // MARK: - IDLE (RFC 2177)

    mutating func idle(_ tag: String) -> [IMAPServerAction] {
        idleChangedWhilePolling = false
        var actions = [send(.continuation("idling")), .startWatching(selected?.id)]
        if let sel = selected {
            // Report anything that changed since the last command right away.
            pending = .idle(tag: tag, polling: true)
            actions.append(pollRequest(sel))
        } else {
            pending = .idle(tag: tag, polling: false)
        }
        return actions
    }

    mutating func idleLine(_ tag: String, _ line: [UInt8]) -> [IMAPServerAction] {
        pending = .none
        if line.count == 4, String(decoding: line, as: UTF8.self).uppercased() == "DONE" {
            return [.stopWatching] + finish(tag, text: "IDLE terminated", allowExpunge: true)
        }
        return [.stopWatching] + protocolError(tag: tag, "Expected DONE")
    }

    mutating func idlePollAnswered(_ r: IMAPBackendResponse) -> [IMAPServerAction] {
        var closing: [IMAPServerAction] = []
        guard let updates = applyChanges(r, allowExpunge: true, closing: &closing) else { return closing }
        // A notification that came while this poll ran may describe a change the poll did not see.
        if idleChangedWhilePolling, case .idle(let tag, false) = pending, let sel = selected {
            idleChangedWhilePolling = false
            pending = .idle(tag: tag, polling: true)
            return updates + [pollRequest(sel)]
        }
        return updates
    }
}
