/// STORE (RFC 9051 §6.4.6, UNCHANGEDSINCE: RFC 7162 §3.1.3), COPY (§6.4.7, RFC 4315 COPYUID), MOVE
/// (§6.4.8, RFC 6851) and SEARCH (§6.4.4, ESEARCH/RFC 4731, SEARCHRES/RFC 5182, MODSEQ/RFC 7162 §3.1.5).
import MailMIME

extension IMAPServerSession {
    struct StoreJob: Sendable {
        var uid: Bool
        var silent: Bool
    }

    struct CopyJob: Sendable {
        var move: Bool
        var uid: Bool
        var requested: Int
    }

    struct SearchJob: Sendable {
        var uid: Bool
        var returnOptions: IMAPSearchReturnOptions?
        var usesModSeq: Bool
        /// Set while the MODSEQ of the matches is being fetched.
        var matches: [UInt32]?
    }

    // MARK: - STORE

    mutating func store(
        _ tag: String, _ sel: SelectedMailbox, _ set: IMAPSequenceSet, _ modifiers: IMAPStoreModifiers,
        _ flags: IMAPStoreFlags, uid: Bool
    ) -> [IMAPServerAction] {
        guard let uids = resolveUIDs(set, uid: uid, sel) else { return protocolError(tag: tag, "Invalid message sequence number") }
        guard !sel.readOnly else { return [no(tag, .readOnly, "Mailbox is read-only")] }
        if modifiers.unchangedSince != nil { enabled.insert("CONDSTORE") }
        // \Recent cannot be changed by a client (RFC 3501 §2.3.2); it is ignored.
        let list = Array(Set(flags.flags.filter { $0 != .recent })).sorted()
        guard !uids.isEmpty else {
            return finish(tag, text: uid ? "UID STORE completed" : "STORE completed", allowExpunge: uid)
        }
        let op: IMAPFlagOperation
        switch flags.operation {
        case .add: op = .add(list)
        case .remove: op = .remove(list)
        case .replace: op = .replace(list)
        }
        pending = .backend(tag: tag, .store(StoreJob(uid: uid, silent: flags.silent)))
        return [.backend(.store(sel.id, uids: uids, op, unchangedSince: modifiers.unchangedSince))]
    }

    mutating func storeAnswered(_ tag: String, _ job: StoreJob, _ r: IMAPBackendResponse) -> [IMAPServerAction] {
        guard case .stored(let result) = r, var sel = selected else {
            if case .failed(let e) = r { return backendFailure(tag, e) }
            return [no(tag, .serverBug, "Unexpected answer")]
        }
        let changed = Set(result.changed)
        var out: [IMAPServerAction] = announceKeywords(result.messages.flatMap(\.flags))
        sel = selected ?? sel
        for m in result.messages.sorted(by: { $0.uid < $1.uid }) {
            guard let seq = sel.tracker.sequence(ofUID: m.uid) else { continue }
            var values: [IMAPFetchValue] = []
            if !job.silent {
                values.append(.flags(sel.flags(m.flags, uid: m.uid)))
                if job.uid { values.append(.uid(m.uid)) }
                if condstore { values.append(.modSeq(m.modSeq)) }
            } else if condstore, changed.contains(m.uid) {
                // RFC 7162 §3.1.3: even with .SILENT, the new MODSEQ of a changed message is sent.
                if job.uid { values.append(.uid(m.uid)) }
                values.append(.modSeq(m.modSeq))
            }
            if !values.isEmpty { out.append(send(.data(.fetch(seq, values)))) }
            sel.tracker.noteReported(uid: m.uid, modSeq: m.modSeq)
        }
        selected = sel
        var code: IMAPResponseCode? = nil
        if !result.failed.isEmpty {
            let numbers = job.uid ? result.failed : result.failed.compactMap { sel.tracker.sequence(ofUID: $0) }
            code = .modified(.compact(numbers))
        }
        let text = code == nil ? (job.uid ? "UID STORE completed" : "STORE completed") : "Conditional STORE failed"
        return out + finish(tag, .ok, code, text: text, allowExpunge: job.uid)
    }

    // MARK: - COPY / MOVE

    mutating func copyOrMove(
        _ tag: String, _ sel: SelectedMailbox, _ set: IMAPSequenceSet, _ name: IMAPMailboxName,
        uid: Bool, move: Bool
    ) -> [IMAPServerAction] {
        guard let uids = resolveUIDs(set, uid: uid, sel) else { return protocolError(tag: tag, "Invalid message sequence number") }
        guard let target = decode(name) else { return [no(tag, .cannot, "Invalid mailbox name")] }
        if move, sel.readOnly { return [no(tag, .readOnly, "Mailbox is read-only")] }
        let verb = (uid ? "UID " : "") + (move ? "MOVE" : "COPY")
        guard !uids.isEmpty else { return finish(tag, text: verb + " completed", allowExpunge: true) }
        pending = .backend(tag: tag, .copy(CopyJob(move: move, uid: uid, requested: uids.count)))
        return [.backend(move ? .move(sel.id, uids: uids, to: target) : .copy(sel.id, uids: uids, to: target))]
    }

    mutating func copyAnswered(_ tag: String, _ job: CopyJob, _ r: IMAPBackendResponse) -> [IMAPServerAction] {
        guard case .copied(let result) = r else {
            if case .failed(let e) = r { return backendFailure(tag, e, tryCreate: true) }
            return [no(tag, .serverBug, "Unexpected answer")]
        }
        let verb = (job.uid ? "UID " : "") + (job.move ? "MOVE" : "COPY")
        if result.sourceUIDs.isEmpty {
            return finish(tag, .no, .expungeIssued, text: "The messages were expunged", allowExpunge: true)
        }
        let code = IMAPResponseCode.copyUID(
            uidValidity: result.uidValidity, source: .compact(result.sourceUIDs),
            destination: .compact(result.destinationUIDs))
        if job.move {
            // RFC 6851 §4.3: COPYUID in an untagged OK before the expunges.
            let out = [send(.untagged(.ok, code, "Moved"))] + reportOwnExpunges(result.sourceUIDs)
            return out + finish(tag, text: verb + " completed", allowExpunge: true)
        }
        return finish(tag, .ok, code, text: verb + " completed", allowExpunge: true)
    }

    // MARK: - SEARCH

    static let searchCharsets = ["UTF-8", "US-ASCII"]

    mutating func search(_ tag: String, _ sel: SelectedMailbox, _ command: IMAPSearchCommand, uid: Bool) -> [IMAPServerAction] {
        let charset = command.charset
        if let charset, !MIMECharset.isKnown(charset) {
            return [no(tag, .badCharset(IMAPServerSession.searchCharsets), "Unsupported charset")]
        }
        let query = resolveQuery(command.key, charset: charset, sel)
        if query.usesModSeq { enabled.insert("CONDSTORE") }
        let job = SearchJob(uid: uid, returnOptions: command.returnOptions, usesModSeq: query.usesModSeq)
        pending = .backend(tag: tag, .search(job))
        return [.backend(.search(sel.id, query, uids: sel.tracker.uids))]
    }

    /// Turns the client's key into the store's query: strings decoded from the CHARSET, sequence numbers
    /// and `$` into UID ranges (a number beyond the last message matches nothing).
    func resolveQuery(_ key: IMAPSearchKey, charset: String?, _ sel: SelectedMailbox) -> IMAPSearchQuery {
        func needle(_ b: [UInt8]) -> MIMESearchNeedle { MIMESearchNeedle(MIMECharset.decode(b, charset: charset)) }
        func r(_ k: IMAPSearchKey) -> IMAPSearchQuery { resolveQuery(k, charset: charset, sel) }
        switch key {
        case .all: return .all
        case .answered: return .flag(.answered, true)
        case .deleted: return .flag(.deleted, true)
        case .draft: return .flag(.draft, true)
        case .flagged: return .flag(.flagged, true)
        case .seen: return .flag(.seen, true)
        case .unanswered: return .flag(.answered, false)
        case .undeleted: return .flag(.deleted, false)
        case .undraft: return .flag(.draft, false)
        case .unflagged: return .flag(.flagged, false)
        case .unseen: return .flag(.seen, false)
        // RFC 3501 §6.4.4, from the \Recent this session claimed: RECENT, NEW = RECENT UNSEEN, OLD = NOT RECENT.
        case .recent: return recentQuery(sel)
        case .new: return .and([recentQuery(sel), .flag(.seen, false)])
        case .old: return .not(recentQuery(sel))
        case .keyword(let f): return .flag(f, true)
        case .unkeyword(let f): return .flag(f, false)
        case .bcc(let s): return .header("Bcc", needle(s))
        case .cc(let s): return .header("Cc", needle(s))
        case .from(let s): return .header("From", needle(s))
        case .to(let s): return .header("To", needle(s))
        case .subject(let s): return .header("Subject", needle(s))
        case .header(let name, let s): return .header(name, needle(s))
        case .body(let s): return .body(needle(s))
        case .text(let s): return .text(needle(s))
        case .before(let d): return .internalDate(.before, d)
        case .on(let d): return .internalDate(.on, d)
        case .since(let d): return .internalDate(.since, d)
        case .sentBefore(let d): return .sentDate(.before, d)
        case .sentOn(let d): return .sentDate(.on, d)
        case .sentSince(let d): return .sentDate(.since, d)
        case .larger(let n): return .larger(n)
        case .smaller(let n): return .smaller(n)
        case .modSeq(let n): return .modSeq(n)
        case .not(let k): return .not(r(k))
        case .or(let a, let b): return .or(r(a), r(b))
        case .and(let ks): return .and(ks.map(r))
        case .uid(.lastCommand), .sequenceSet(.lastCommand):
            return .uids(IMAPSequenceSet.compactRanges(savedSearch))
        case .uid(.ranges(let ranges)):
            return .uids(sel.tracker.uidRanges(forUIDSet: ranges))
        case .sequenceSet(.ranges(let ranges)):
            let n = UInt32(sel.tracker.count)
            guard n > 0 else { return .none }
            var uids: [UInt32] = []
            for range in IMAPSequenceSet.merged(ranges.map { $0.resolved(last: n) }) {
                uids.append(contentsOf: sel.tracker.uids(inSequenceRange: range))
            }
            return .uids(IMAPSequenceSet.compactRanges(uids))
        }
    }

    /// The UIDs recent in this session (RFC 3501 §2.3.2), as a query.
    func recentQuery(_ sel: SelectedMailbox) -> IMAPSearchQuery {
        let ranges = sel.recent.compactMap { $0.isEmpty ? nil : $0.lowerBound...($0.upperBound - 1) }
        return ranges.isEmpty ? .none : .uids(ranges)
    }

    mutating func searchAnswered(_ tag: String, _ job: SearchJob, _ r: IMAPBackendResponse) -> [IMAPServerAction] {
        guard let sel = selected else { return [no(tag, .serverBug, "No mailbox")] }
        var job = job
        switch r {
        case .searched(let uids):
            if job.usesModSeq, !uids.isEmpty {
                job.matches = uids
                pending = .backend(tag: tag, .search(job))
                return [.backend(.fetch(sel.id, uids: uids, content: .none, changedSince: nil))]
            }
            return searchRespond(tag, job, uids, modSeq: nil)
        case .messages(let messages):
            return searchRespond(tag, job, job.matches ?? [], modSeq: messages.map(\.metadata.modSeq).max())
        case .failed(let e):
            return backendFailure(tag, e)
        default:
            return [no(tag, .serverBug, "Unexpected answer")]
        }
    }

    mutating func searchRespond(_ tag: String, _ job: SearchJob, _ uids: [UInt32], modSeq: UInt64?) -> [IMAPServerAction] {
        guard let sel = selected else { return [no(tag, .serverBug, "No mailbox")] }
        let sortedUIDs = uids.sorted()
        let numbers = job.uid ? sortedUIDs : sortedUIDs.compactMap { sel.tracker.sequence(ofUID: $0) }
        var out: [IMAPServerAction] = []
        if let options = job.returnOptions {
            if options.save {
                // RFC 5182 §2.1: with MIN and/or MAX only those are saved.
                if options.min || options.max, !options.all, !options.count {
                    var saved: [UInt32] = []
                    if options.min, let v = sortedUIDs.first { saved.append(v) }
                    if options.max, let v = sortedUIDs.last { saved.append(v) }
                    savedSearch = Array(Set(saved)).sorted()
                } else {
                    savedSearch = sortedUIDs
                }
            }
            if options.min || options.max || options.all || options.count {
                var e = IMAPESearch(tag: tag, uid: job.uid, modSeq: modSeq)
                if options.min { e.min = numbers.first }
                if options.max { e.max = numbers.last }
                if options.all, !numbers.isEmpty { e.all = .compact(numbers) }
                if options.count { e.count = numbers.count }
                out.append(send(.data(.esearch(e))))
            }
        } else if rev2 {
            // RFC 9051 §6.4.4: a SEARCH without RETURN is answered as RETURN (ALL), with ESEARCH.
            out.append(
                send(
                    .data(
                        .esearch(
                            IMAPESearch(
                                tag: tag, uid: job.uid, all: numbers.isEmpty ? nil : .compact(numbers),
                                modSeq: modSeq)))))
        } else {
            out.append(send(.data(.search(numbers, modSeq: modSeq))))
        }
        return out + finish(tag, text: job.uid ? "UID SEARCH completed" : "SEARCH completed", allowExpunge: job.uid)
    }
}
