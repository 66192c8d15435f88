/// SEARCH evaluation (RFC 9051 §6.4.4) over stored messages: the resolved query the session hands to the
/// backend, and the pure matcher the default `IMAPMailboxAccess.search` uses.
///
/// The session resolves what depends on it before the backend sees the query: strings are decoded from
/// the command's CHARSET (`MIMESearchNeedle`), message sequence numbers and `$` become UID ranges.
import MailMIME

public enum IMAPDateComparison: Hashable, Sendable {
    case before, on, since

    func matches(_ day: IMAPDate, _ reference: IMAPDate) -> Bool {
        switch self {
        case .before: return day < reference
        case .on: return day == reference
        case .since: return day >= reference
        }
    }
}

public indirect enum IMAPSearchQuery: Hashable, Sendable {
    case all
    case none
    /// A flag is set (`true`) or not set (`false`): ANSWERED/UNANSWERED, …, KEYWORD/UNKEYWORD.
    case flag(IMAPFlag, Bool)
    /// A header field (FROM, TO, CC, BCC, SUBJECT, HEADER) whose decoded value contains the needle.
    case header(String, MIMESearchNeedle)
    case body(MIMESearchNeedle)
    case text(MIMESearchNeedle)
    /// BEFORE / ON / SINCE: the internal date's day in its own zone.
    case internalDate(IMAPDateComparison, IMAPDate)
    /// SENTBEFORE / SENTON / SENTSINCE: the Date: header's day (the internal date when it has none).
    case sentDate(IMAPDateComparison, IMAPDate)
    case larger(UInt64)
    case smaller(UInt64)
    /// UIDs in these ranges; the session hands them over merged (`IMAPSequenceSet.merged`).
    case uids([ClosedRange<UInt32>])
    /// MODSEQ ≥ value (RFC 7162 §3.1.5).
    case modSeq(UInt64)
    case not(IMAPSearchQuery)
    case or(IMAPSearchQuery, IMAPSearchQuery)
    case and([IMAPSearchQuery])

    /// What `fetch` must return for the evaluator.
    public var contentNeeded: IMAPFetchContent {
        switch self {
        case .all, .none, .flag, .internalDate, .larger, .smaller, .uids, .modSeq: return .none
        case .header, .sentDate: return .header
        case .body, .text: return .full
        case .not(let q): return q.contentNeeded
        case .or(let a, let b): return max(a.contentNeeded, b.contentNeeded)
        case .and(let qs): return qs.map(\.contentNeeded).max() ?? .none
        }
    }

    /// Whether the query uses MODSEQ (the SEARCH response then carries the highest MODSEQ, RFC 7162 §3.1.5).
    public var usesModSeq: Bool {
        switch self {
        case .modSeq: return true
        case .not(let q): return q.usesModSeq
        case .or(let a, let b): return a.usesModSeq || b.usesModSeq
        case .and(let qs): return qs.contains { $0.usesModSeq }
        default: return false
        }
    }
}

public enum IMAPSearchEvaluator {
    /// Whether `message` matches `query`. The message content is parsed once, only when a key needs it.
    public static func matches(_ query: IMAPSearchQuery, _ message: IMAPStoredMessage) -> Bool {
        var parsed: MIMEMessage? = nil
        return evaluate(query, message, &parsed)
    }

    static func evaluate(_ query: IMAPSearchQuery, _ message: IMAPStoredMessage, _ parsed: inout MIMEMessage?) -> Bool {
        let m = message.metadata
        func mime() -> MIMEMessage {
            if let parsed { return parsed }
            let p = MIMEMessage(message.content ?? [])
            parsed = p
            return p
        }
        switch query {
        case .all: return true
        case .none: return false
        case .flag(let flag, let set): return m.flags.contains(flag) == set
        case .header(let name, let needle): return mime().headerMatches(name, needle)
        case .body(let needle): return mime().bodyMatches(needle)
        case .text(let needle): return mime().textMatches(needle)
        case .internalDate(let cmp, let day): return cmp.matches(m.internalDate.localDate, day)
        case .sentDate(let cmp, let day):
            let msg = mime()
            if let value = msg.headerValue("Date"), let date = MIMEDate.parse(value) {
                return cmp.matches(IMAPDate(year: date.year, month: date.month, day: date.day), day)
            }
            return cmp.matches(m.internalDate.localDate, day)
        case .larger(let n): return m.size > n
        case .smaller(let n): return m.size < n
        case .uids(let ranges): return IMAPSequenceSet.contains(ranges, m.uid)
        case .modSeq(let v): return m.modSeq >= v
        case .not(let q): return !evaluate(q, message, &parsed)
        case .or(let a, let b): return evaluate(a, message, &parsed) || evaluate(b, message, &parsed)
        case .and(let qs):
            for q in qs where !evaluate(q, message, &parsed) { return false }
            return true
        }
    }
}
