/// Mailbox commands: LIST (RFC 9051 §6.3.9, LIST-EXTENDED, LIST-STATUS, SPECIAL-USE), LSUB (RFC 3501
/// §6.3.9), CREATE (§6.3.4, RFC 6154 USE), DELETE (§6.3.5), RENAME (§6.3.6), SUBSCRIBE/UNSUBSCRIBE
/// (§6.3.7–8), STATUS (§6.3.11), APPEND (§6.3.12, RFC 4315 APPENDUID), GETQUOTA/GETQUOTAROOT (RFC 9208).

extension IMAPServerSession {
    struct ListJob: Sendable {
        var command: IMAPListCommand
        var patterns: [String]
        var lsub: Bool
    }

    /// The longest LIST/LSUB pattern(s), in characters, reference included.
    static let maxPatternLength = 1024

    static let specialUses: Set<String> = ["\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"]

    /// A name a mailbox may be created or renamed to: not empty, no control characters, no empty
    /// hierarchy level; one trailing `/` is dropped (RFC 9051 §6.3.4).
    static func validNewName(_ name: String) -> String? {
        var n = name
        if n.hasSuffix("/") { n.removeLast() }
        guard !n.isEmpty, n.utf8.count <= 1000, !n.hasPrefix("/"), !n.contains("//"),
            !n.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }),
            !n.contains("*"), !n.contains("%")
        else { return nil }
        return IMAPMailboxName.canonical(n)
    }

    // MARK: - LIST / LSUB

    mutating func list(_ tag: String, _ command: IMAPListCommand) -> [IMAPServerAction] {
        guard let reference = decode(command.reference) else { return [no(tag, .cannot, "Invalid reference name")] }
        var patterns: [String] = []
        for p in command.patterns {
            guard let decoded = IMAPMailboxName(p).decoded(utf8: utf8Mode) ?? String(validating: p, as: UTF8.self) else {
                return [no(tag, .cannot, "Invalid mailbox pattern")]
            }
            if decoded.isEmpty, command.patterns.count == 1, !command.isExtended {
                // RFC 9051 §6.3.9: an empty pattern asks for the hierarchy delimiter and the root.
                return [send(.data(.list(IMAPListItem(attributes: ["\\Noselect"], name: "")))), ok(tag, "LIST completed")]
            }
            patterns.append(IMAPListMatcher.fullPattern(reference: reference, pattern: decoded))
        }
        // Matching costs pattern length × name length per mailbox: bound the patterns.
        guard patterns.reduce(0, { $0 + $1.unicodeScalars.count }) <= IMAPServerSession.maxPatternLength else {
            return [no(tag, .limit, "Mailbox pattern too long")]
        }
        if command.returnStatus?.contains(.highestModSeq) == true { enabled.insert("CONDSTORE") }
        pending = .backend(tag: tag, .list(ListJob(command: command, patterns: patterns, lsub: false)))
        return [.backend(.listMailboxes)]
    }

    mutating func lsub(_ tag: String, _ reference: IMAPMailboxName, _ pattern: [UInt8]) -> [IMAPServerAction] {
        guard let ref = decode(reference), let pat = IMAPMailboxName(pattern).decoded(utf8: utf8Mode) else {
            return [no(tag, .cannot, "Invalid mailbox name")]
        }
        var command = IMAPListCommand(reference: reference, patterns: [pattern])
        command.selectSubscribed = true
        let full = IMAPListMatcher.fullPattern(reference: ref, pattern: pat)
        guard full.unicodeScalars.count <= IMAPServerSession.maxPatternLength else {
            return [no(tag, .limit, "Mailbox pattern too long")]
        }
        pending = .backend(tag: tag, .list(ListJob(command: command, patterns: [full], lsub: true)))
        return [.backend(.listMailboxes)]
    }

    mutating func listAnswered(_ tag: String, _ job: ListJob, _ r: IMAPBackendResponse) -> [IMAPServerAction] {
        guard case .mailboxes(let mailboxes) = r else {
            if case .failed(let e) = r { return backendFailure(tag, e) }
            return [no(tag, .serverBug, "Unexpected answer")]
        }
        let entries = IMAPListMatcher.entries(mailboxes)
        if job.lsub {
            // LSUB: subscribed names; a parent of a subscribed name that matches "%" is \Noselect.
            var out: [IMAPServerAction] = []
            for e in entries where job.patterns.contains(where: { IMAPListMatcher.matches(e.name, pattern: $0) }) {
                if e.subscribed {
                    out.append(send(.data(.lsub(IMAPListItem(attributes: e.exists ? [] : ["\\Noselect"], name: e.name)))))
                } else if e.childSubscribed, job.patterns.contains(where: { $0.contains("%") }) {
                    out.append(send(.data(.lsub(IMAPListItem(attributes: ["\\Noselect"], name: e.name)))))
                }
            }
            return out + finish(tag, text: "LSUB completed", allowExpunge: true)
        }
        let items = IMAPListMatcher.list(entries, patterns: job.patterns, command: job.command, rev2: rev2)
        if let statusItems = job.command.returnStatus, !statusItems.isEmpty {
            let names = items.filter { !$0.attributes.contains("\\NonExistent") && !$0.attributes.contains("\\Noselect") }.map(\.name)
            if !names.isEmpty {
                pending = .backend(tag: tag, .listStatus(job, items))
                return [.backend(.statusMany(names))]
            }
        }
        return items.map { send(.data(.list($0))) } + finish(tag, text: "LIST completed", allowExpunge: true)
    }

    /// RFC 5819 §2: each LIST reply is followed by the STATUS of that mailbox.
    mutating func listStatusAnswered(_ tag: String, _ job: ListJob, _ items: [IMAPListItem], _ r: IMAPBackendResponse) -> [IMAPServerAction] {
        var statuses: [IMAPMailboxStatus?] = []
        if case .statuses(let s) = r { statuses = s }
        var out: [IMAPServerAction] = []
        var index = 0
        for item in items {
            out.append(send(.data(.list(item))))
            if item.attributes.contains("\\NonExistent") || item.attributes.contains("\\Noselect") { continue }
            if index < statuses.count, let status = statuses[index], let wanted = job.command.returnStatus {
                out.append(send(.data(.status(mailbox: item.name, statusValues(status, wanted)))))
            }
            index += 1
        }
        return out + finish(tag, text: "LIST completed", allowExpunge: true)
    }

    // MARK: - CREATE, DELETE, RENAME, SUBSCRIBE

    mutating func create(_ tag: String, _ name: IMAPMailboxName, _ uses: [String]) -> [IMAPServerAction] {
        guard let decoded = decode(name), let valid = IMAPServerSession.validNewName(decoded) else {
            return [no(tag, .cannot, "Invalid mailbox name")]
        }
        if valid == "INBOX" { return [no(tag, .alreadyExists, "INBOX always exists")] }
        let canonicalUses = uses.map { u in IMAPServerSession.specialUses.first { $0.lowercased() == u.lowercased() } ?? u }
        guard canonicalUses.allSatisfy(IMAPServerSession.specialUses.contains) else {
            return [no(tag, .useAttr, "Unsupported special-use attribute")]
        }
        pending = .backend(tag: tag, .simple("CREATE completed", tryCreate: false))
        return [.backend(.create(valid, specialUse: canonicalUses))]
    }

    mutating func delete(_ tag: String, _ name: IMAPMailboxName) -> [IMAPServerAction] {
        guard let decoded = decode(name) else { return [no(tag, .cannot, "Invalid mailbox name")] }
        if decoded == "INBOX" { return [no(tag, .cannot, "INBOX cannot be deleted")] }
        pending = .backend(tag: tag, .simple("DELETE completed", tryCreate: false))
        return [.backend(.delete(decoded))]
    }

    mutating func rename(_ tag: String, _ from: IMAPMailboxName, _ to: IMAPMailboxName) -> [IMAPServerAction] {
        guard let source = decode(from), let target = decode(to).flatMap(IMAPServerSession.validNewName) else {
            return [no(tag, .cannot, "Invalid mailbox name")]
        }
        if target == "INBOX" { return [no(tag, .alreadyExists, "INBOX always exists")] }
        if source == target { return [no(tag, .alreadyExists, "Mailbox already exists")] }
        if let sel = selected, sel.name == source { selected?.name = target }
        pending = .backend(tag: tag, .simple("RENAME completed", tryCreate: false))
        return [.backend(.rename(source, to: target))]
    }

    mutating func subscribe(_ tag: String, _ name: IMAPMailboxName, _ on: Bool) -> [IMAPServerAction] {
        guard let decoded = decode(name) else { return [no(tag, .cannot, "Invalid mailbox name")] }
        pending = .backend(tag: tag, .simple(on ? "SUBSCRIBE completed" : "UNSUBSCRIBE completed", tryCreate: false))
        return [.backend(.setSubscribed(decoded, on))]
    }

    // MARK: - STATUS

    mutating func status(_ tag: String, _ name: IMAPMailboxName, _ items: [IMAPStatusItem]) -> [IMAPServerAction] {
        guard let decoded = decode(name) else { return [no(tag, .cannot, "Invalid mailbox name")] }
        if items.contains(.highestModSeq) { enabled.insert("CONDSTORE") }
        pending = .backend(tag: tag, .status(decoded, items))
        return [.backend(.status(decoded))]
    }

    mutating func statusAnswered(_ tag: String, _ name: String, _ items: [IMAPStatusItem], _ r: IMAPBackendResponse) -> [IMAPServerAction] {
        guard case .status(let s) = r else {
            if case .failed(let e) = r { return backendFailure(tag, e) }
            return [no(tag, .serverBug, "Unexpected answer")]
        }
        return [send(.data(.status(mailbox: name, statusValues(s, items))))]
            + finish(tag, text: "STATUS completed", allowExpunge: true)
    }

    func statusValues(_ s: IMAPMailboxStatus, _ items: [IMAPStatusItem]) -> [IMAPStatusValue] {
        var seen = Set<IMAPStatusItem>()
        return items.compactMap { item in
            guard seen.insert(item).inserted else { return nil }
            switch item {
            case .messages: return IMAPStatusValue(item, UInt64(s.messages))
            case .uidNext: return IMAPStatusValue(item, UInt64(s.uidNext))
            case .uidValidity: return IMAPStatusValue(item, UInt64(s.uidValidity))
            case .unseen: return IMAPStatusValue(item, UInt64(s.unseen))
            case .deleted: return IMAPStatusValue(item, UInt64(s.deleted))
            case .size: return IMAPStatusValue(item, s.size)
            case .recent: return IMAPStatusValue(item, UInt64(s.recent))
            case .highestModSeq: return IMAPStatusValue(item, s.highestModSeq)
            case .appendLimit: return IMAPStatusValue(item, UInt64(configuration.limits.maxAppendSize))
            }
        }
    }

    // MARK: - APPEND

    mutating func append(_ tag: String, _ a: IMAPAppendCommand) -> [IMAPServerAction] {
        guard let decoded = decode(a.mailbox) else { return [no(tag, .cannot, "Invalid mailbox name")] }
        if a.isUTF8, !utf8Mode { return protocolError(tag: tag, "UTF8 APPEND needs ENABLE UTF8=ACCEPT") }
        guard !a.message.isEmpty else { return [no(tag, .cannot, "Empty message")] }
        let flags = Array(Set(a.flags.filter { $0 != .recent })).sorted()
        pending = .backend(tag: tag, .append(decoded))
        return [.backend(.append(decoded, IMAPAppendMessage(bytes: a.message, flags: flags, internalDate: a.date)))]
    }

    mutating func appendAnswered(_ tag: String, _ name: String, _ r: IMAPBackendResponse) -> [IMAPServerAction] {
        guard case .appended(let result) = r else {
            if case .failed(let e) = r { return backendFailure(tag, e, tryCreate: true) }
            return [no(tag, .serverBug, "Unexpected answer")]
        }
        return finish(
            tag, .ok, .appendUID(uidValidity: result.uidValidity, uids: .compact([result.uid])),
            text: "APPEND completed", allowExpunge: true)
    }

    // MARK: - Quota (RFC 9208)

    mutating func getQuota(_ tag: String, _ root: [UInt8]) -> [IMAPServerAction] {
        guard root.isEmpty else { return [no(tag, .nonexistent, "No such quota root")] }
        pending = .backend(tag: tag, .quota(mailbox: nil))
        return [.backend(.quota)]
    }

    mutating func getQuotaRoot(_ tag: String, _ name: IMAPMailboxName) -> [IMAPServerAction] {
        guard let decoded = decode(name) else { return [no(tag, .cannot, "Invalid mailbox name")] }
        pending = .backend(tag: tag, .quota(mailbox: decoded))
        return [.backend(.quota)]
    }

    mutating func quotaAnswered(_ tag: String, _ mailbox: String?, _ r: IMAPBackendResponse) -> [IMAPServerAction] {
        guard case .quota(let resources) = r else {
            if case .failed(let e) = r { return backendFailure(tag, e) }
            return [no(tag, .serverBug, "Unexpected answer")]
        }
        if let mailbox {
            var out = [send(.data(.quotaRoot(mailbox: mailbox, roots: resources.isEmpty ? [] : [""])))]
            if !resources.isEmpty { out.append(send(.data(.quota(root: "", resources)))) }
            return out + finish(tag, text: "GETQUOTAROOT completed", allowExpunge: true)
        }
        guard !resources.isEmpty else { return [no(tag, .nonexistent, "No quota")] }
        return [send(.data(.quota(root: "", resources)))] + finish(tag, text: "GETQUOTA completed", allowExpunge: true)
    }
}
