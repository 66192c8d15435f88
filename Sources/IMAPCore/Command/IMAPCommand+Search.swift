/// SEARCH (RFC 9051 §6.4.4) with ESEARCH return options (RFC 9051, RFC 4731), SAVE (RFC 5182), the
/// IMAP4rev1 keys NEW/OLD/RECENT (RFC 3501 §6.4.4) and MODSEQ (RFC 7162 §3.1.5).

/// A search key as sent; strings are raw octets in the command's CHARSET.
public indirect enum IMAPSearchKey: Hashable, Sendable {
    case all
    case answered, deleted, draft, flagged, seen
    case unanswered, undeleted, undraft, unflagged, unseen
    /// IMAP4rev1 (RFC 3501 §6.4.4): the messages this session claimed as \Recent; NEW is RECENT UNSEEN,
    /// OLD is NOT RECENT (the session resolves them to UIDs).
    case new, old, recent
    case keyword(IMAPFlag), unkeyword(IMAPFlag)
    case bcc([UInt8]), body([UInt8]), cc([UInt8]), from([UInt8]), subject([UInt8]), text([UInt8]), to([UInt8])
    case header(String, [UInt8])
    /// Internal date (day only, in the date's own zone).
    case before(IMAPDate), on(IMAPDate), since(IMAPDate)
    /// The Date: header (day only).
    case sentBefore(IMAPDate), sentOn(IMAPDate), sentSince(IMAPDate)
    case larger(UInt64), smaller(UInt64)
    case uid(IMAPSequenceSet)
    case sequenceSet(IMAPSequenceSet)
    case not(IMAPSearchKey)
    case or(IMAPSearchKey, IMAPSearchKey)
    /// A parenthesised list, or the top-level list of keys: all must match.
    case and([IMAPSearchKey])
    /// RFC 7162 §3.1.5: MODSEQ at least this (the optional entry name and type are accepted and ignored:
    /// Petrel keeps one MODSEQ per message).
    case modSeq(UInt64)
}

/// ESEARCH return options (RFC 9051 §6.4.4, RFC 4731 §3.1, RFC 5182 §2.1).
public struct IMAPSearchReturnOptions: Hashable, Sendable {
    public var min = false
    public var max = false
    public var all = false
    public var count = false
    public var save = false

    public init(min: Bool = false, max: Bool = false, all: Bool = false, count: Bool = false, save: Bool = false) {
        self.min = min
        self.max = max
        self.all = all
        self.count = count
        self.save = save
    }

    /// `RETURN ()` means `RETURN (ALL)` (RFC 4731 §3.1).
    var normalized: IMAPSearchReturnOptions {
        var n = self
        if !n.min, !n.max, !n.all, !n.count, !n.save { n.all = true }
        return n
    }
}

public struct IMAPSearchCommand: Hashable, Sendable {
    /// nil: plain SEARCH (answered with `* SEARCH`, or ESEARCH ALL once IMAP4rev2 is enabled).
    public var returnOptions: IMAPSearchReturnOptions?
    /// The CHARSET name, nil when absent (US-ASCII / UTF-8).
    public var charset: String?
    public var key: IMAPSearchKey

    public init(returnOptions: IMAPSearchReturnOptions? = nil, charset: String? = nil, key: IMAPSearchKey) {
        self.returnOptions = returnOptions
        self.charset = charset
        self.key = key
    }
}

extension IMAPCommandParser {
    /// RFC 9051 §9:
    /// ```
    /// search             = "SEARCH" [search-return-opts] SP search-program
    /// search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
    /// search-return-opt  = "MIN" / "MAX" / "ALL" / "COUNT" / "SAVE" / search-ret-opt-ext
    /// search-program     = ["CHARSET" SP charset SP] search-key *(SP search-key)
    /// charset            = atom / quoted
    /// ```
    static func parseSearch(_ p: inout IMAPParser, uid: Bool) throws(IMAPParseError) -> IMAPCommand {
        try p.space()
        var returnOptions: IMAPSearchReturnOptions? = nil
        if p.keyword("RETURN") {
            try p.space()
            var options = IMAPSearchReturnOptions()
            _ = try p.parenthesizedList(allowEmpty: true) { (p: inout IMAPParser) throws(IMAPParseError) -> Int in
                let name = try p.taggedExtLabel()
                switch name {
                case "MIN": options.min = true
                case "MAX": options.max = true
                case "ALL": options.all = true
                case "COUNT": options.count = true
                case "SAVE": options.save = true
                default: throw IMAPParseError("Unknown SEARCH return option \(name.prefix(30))")
                }
                return 0
            }
            returnOptions = options.normalized
            try p.space()
        }
        var charset: String? = nil
        if p.keyword("CHARSET") {
            try p.space()
            let name = p.peek() == UInt8(ascii: "\"") ? try p.quoted() : Array(try p.atom().utf8)
            charset = String(decoding: name, as: UTF8.self)
            try p.space()
        }
        var keys: [IMAPSearchKey] = []
        repeat {
            keys.append(try parseSearchKey(&p))
            guard keys.count <= 1000 else { throw IMAPParseError("Too many search keys") }
        } while p.consume(0x20)
        let key = keys.count == 1 ? keys[0] : .and(keys)
        return .search(IMAPSearchCommand(returnOptions: returnOptions, charset: charset, key: key), uid: uid)
    }

    /// RFC 9051 §9 (and RFC 3501 §9, RFC 7162 §7):
    /// ```
    /// search-key = "ALL" / "ANSWERED" / "BCC" SP astring / "BEFORE" SP date / "BODY" SP astring /
    ///              "CC" SP astring / "DELETED" / "FLAGGED" / "FROM" SP astring / "KEYWORD" SP flag-keyword /
    ///              "ON" SP date / "SEEN" / "SINCE" SP date / "SUBJECT" SP astring / "TEXT" SP astring /
    ///              "TO" SP astring / "UNANSWERED" / "UNDELETED" / "UNFLAGGED" / "UNKEYWORD" SP flag-keyword /
    ///              "UNSEEN" / "DRAFT" / "HEADER" SP header-fld-name SP astring / "LARGER" SP number64 /
    ///              "NOT" SP search-key / "OR" SP search-key SP search-key / "SENTBEFORE" SP date /
    ///              "SENTON" SP date / "SENTSINCE" SP date / "SMALLER" SP number64 / "UID" SP sequence-set /
    ///              "UNDRAFT" / sequence-set / "(" search-key *(SP search-key) ")"
    /// search-key =/ "NEW" / "OLD" / "RECENT"                                   ; RFC 3501
    /// search-key =/ "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer         ; RFC 7162
    /// search-modseq-ext = SP entry-name SP entry-type-req
    /// ```
    static func parseSearchKey(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPSearchKey {
        try p.enter()
        defer { p.leave() }
        if p.peek() == UInt8(ascii: "(") {
            let keys = try p.parenthesizedList(allowEmpty: false) { (p: inout IMAPParser) throws(IMAPParseError) in
                try parseSearchKey(&p)
            }
            return keys.count == 1 ? keys[0] : .and(keys)
        }
        if let b = p.peek(), (b >= 0x30 && b <= 0x39) || b == UInt8(ascii: "*") || b == UInt8(ascii: "$") {
            return .sequenceSet(try IMAPSequenceSet.parse(&p))
        }
        let name = try p.atom().uppercased()
        func string(_ p: inout IMAPParser) throws(IMAPParseError) -> [UInt8] {
            try p.space()
            return try p.astring()
        }
        func date(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPDate {
            try p.space()
            return try IMAPDate.parse(&p)
        }
        switch name {
        case "ALL": return .all
        case "ANSWERED": return .answered
        case "DELETED": return .deleted
        case "DRAFT": return .draft
        case "FLAGGED": return .flagged
        case "SEEN": return .seen
        case "UNANSWERED": return .unanswered
        case "UNDELETED": return .undeleted
        case "UNDRAFT": return .undraft
        case "UNFLAGGED": return .unflagged
        case "UNSEEN": return .unseen
        case "NEW": return .new
        case "OLD": return .old
        case "RECENT": return .recent
        case "BCC": return .bcc(try string(&p))
        case "BODY": return .body(try string(&p))
        case "CC": return .cc(try string(&p))
        case "FROM": return .from(try string(&p))
        case "SUBJECT": return .subject(try string(&p))
        case "TEXT": return .text(try string(&p))
        case "TO": return .to(try string(&p))
        case "HEADER":
            let field = try string(&p)
            guard !field.isEmpty, field.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }) else {
                throw IMAPParseError("Invalid header field name")
            }
            return .header(String(decoding: field, as: UTF8.self), try string(&p))
        case "KEYWORD", "UNKEYWORD":
            try p.space()
            let flag = IMAPFlag(try p.atom())
            return name == "KEYWORD" ? .keyword(flag) : .unkeyword(flag)
        case "BEFORE": return .before(try date(&p))
        case "ON": return .on(try date(&p))
        case "SINCE": return .since(try date(&p))
        case "SENTBEFORE": return .sentBefore(try date(&p))
        case "SENTON": return .sentOn(try date(&p))
        case "SENTSINCE": return .sentSince(try date(&p))
        case "LARGER", "SMALLER":
            try p.space()
            let n = try p.number64()
            return name == "LARGER" ? .larger(n) : .smaller(n)
        case "UID":
            try p.space()
            return .uid(try IMAPSequenceSet.parse(&p))
        case "NOT":
            try p.space()
            return .not(try parseSearchKey(&p))
        case "OR":
            try p.space()
            let a = try parseSearchKey(&p)
            try p.space()
            return .or(a, try parseSearchKey(&p))
        case "MODSEQ":
            try p.space()
            if p.peek() == UInt8(ascii: "\"") {
                // entry-name SP entry-type-req
                _ = try p.quoted()
                try p.space()
                let type = try p.atom().lowercased()
                guard type == "priv" || type == "shared" || type == "all" else { throw IMAPParseError("Invalid entry type") }
                try p.space()
            }
            return .modSeq(try p.number64())
        default:
            throw IMAPParseError("Unknown search key \(name.prefix(30))")
        }
    }
}
