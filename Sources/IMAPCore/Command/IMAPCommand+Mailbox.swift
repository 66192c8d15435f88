/// Mailbox commands: SELECT/EXAMINE with CONDSTORE and QRESYNC parameters (RFC 9051 §6.3.2, RFC 7162
/// §3.1.8, §3.2.5), CREATE with USE (RFC 6154 §3), RENAME, STATUS with SIZE/DELETED (RFC 9051 §6.3.11),
/// HIGHESTMODSEQ (RFC 7162 §3.1.6) and APPENDLIMIT (RFC 7889 §4), GETQUOTA/GETQUOTAROOT/SETQUOTA (RFC 9208).

/// What SELECT/EXAMINE asked for beyond the mailbox name.
public struct IMAPSelectParameters: Hashable, Sendable {
    /// `(CONDSTORE)`: enables CONDSTORE for the session (RFC 7162 §3.1.8).
    public var condstore: Bool = false
    /// `(QRESYNC (…))` (RFC 7162 §3.2.5).
    public var qresync: IMAPQResyncParameters?

    public init(condstore: Bool = false, qresync: IMAPQResyncParameters? = nil) {
        self.condstore = condstore
        self.qresync = qresync
    }
}

/// RFC 7162 §7:
/// ```
/// select-param   =/ "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"
/// known-uids     = sequence-set     ; sequence of UIDs, "*" is not allowed
/// seq-match-data = "(" known-sequence-set SP known-uid-set ")"
/// ```
public struct IMAPQResyncParameters: Hashable, Sendable {
    public var uidValidity: UInt32
    public var modSeq: UInt64
    public var knownUIDs: IMAPSequenceSet?
    public var knownSequenceSet: IMAPSequenceSet?
    public var knownUIDSet: IMAPSequenceSet?
}

/// STATUS items (RFC 9051 §6.3.11 and extensions).
public enum IMAPStatusItem: String, Hashable, Sendable, CaseIterable {
    case messages = "MESSAGES"
    case uidNext = "UIDNEXT"
    case uidValidity = "UIDVALIDITY"
    case unseen = "UNSEEN"
    case deleted = "DELETED"
    case size = "SIZE"
    /// IMAP4rev1 (RFC 3501 §6.3.10): the messages no session has claimed as \Recent yet.
    case recent = "RECENT"
    /// RFC 7162 §3.1.6
    case highestModSeq = "HIGHESTMODSEQ"
    /// RFC 7889 §4
    case appendLimit = "APPENDLIMIT"

    /// `status-att` (RFC 9051 §9, RFC 3501 §9, RFC 7162 §7, RFC 7889 §4)
    static func parse(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPStatusItem {
        let name = try p.atom().uppercased()
        guard let item = IMAPStatusItem(rawValue: name) else { throw IMAPParseError("Unknown STATUS item \(name.prefix(30))") }
        return item
    }

    /// `"(" status-att *(SP status-att) ")"`
    static func parseList(_ p: inout IMAPParser) throws(IMAPParseError) -> [IMAPStatusItem] {
        try p.parenthesizedList(allowEmpty: false) { (p: inout IMAPParser) throws(IMAPParseError) in
            try IMAPStatusItem.parse(&p)
        }
    }
}

extension IMAPCommandParser {
    /// RFC 9051 §9, RFC 4466 §2.1, RFC 7162 §7:
    /// ```
    /// select        = "SELECT" SP mailbox [select-params]
    /// examine       = "EXAMINE" SP mailbox [select-params]
    /// select-params = SP "(" select-param *(SP select-param) ")"
    /// select-param  = select-param-name [SP select-param-value]
    /// select-param  =/ "CONDSTORE" / "QRESYNC" SP "(" … ")"
    /// ```
    /// Unknown parameters are a syntax error (RFC 4466 §2.1: the server MUST reject them).
    static func parseSelect(_ p: inout IMAPParser, examine: Bool) throws(IMAPParseError) -> IMAPCommand {
        let mailbox = try parseMailboxArgument(&p)
        var params = IMAPSelectParameters()
        if p.consume(0x20) {
            let names = try p.parenthesizedList(allowEmpty: false) { (p: inout IMAPParser) throws(IMAPParseError) -> String in
                let name = try p.taggedExtLabel()
                switch name {
                case "CONDSTORE":
                    params.condstore = true
                case "QRESYNC":
                    try p.space()
                    params.qresync = try parseQResync(&p)
                default:
                    throw IMAPParseError("Unknown SELECT parameter \(name.prefix(30))")
                }
                return name
            }
            _ = names
        }
        return examine ? .examine(mailbox, params) : .select(mailbox, params)
    }

    /// The parenthesised QRESYNC parameter (RFC 7162 §7).
    static func parseQResync(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPQResyncParameters {
        try p.expect(UInt8(ascii: "("), "(")
        let uidValidity = try p.nzNumber()
        try p.space()
        let modSeq = try p.nzNumber64()
        var result = IMAPQResyncParameters(uidValidity: uidValidity, modSeq: modSeq)
        if p.consume(0x20) {
            if p.peek() == UInt8(ascii: "(") {
                try parseSeqMatch(&p, into: &result)
            } else {
                result.knownUIDs = try IMAPSequenceSet.parse(&p)
                if p.consume(0x20) { try parseSeqMatch(&p, into: &result) }
            }
        }
        try p.expect(UInt8(ascii: ")"), ")")
        return result
    }

    /// RFC 7162 §7: `seq-match-data = "(" known-sequence-set SP known-uid-set ")"`
    static func parseSeqMatch(_ p: inout IMAPParser, into result: inout IMAPQResyncParameters) throws(IMAPParseError) {
        try p.expect(UInt8(ascii: "("), "(")
        result.knownSequenceSet = try IMAPSequenceSet.parse(&p)
        try p.space()
        result.knownUIDSet = try IMAPSequenceSet.parse(&p)
        try p.expect(UInt8(ascii: ")"), ")")
    }

    /// RFC 9051 §9, RFC 6154 §6:
    /// ```
    /// create        = "CREATE" SP mailbox [create-params]
    /// create-params = SP "(" create-param *( SP create-param) ")"
    /// create-param  =/ "USE" SP "(" [use-attr *(SP use-attr)] ")"
    /// use-attr      = "\All" / "\Archive" / "\Drafts" / "\Flagged" / "\Junk" / "\Sent" / "\Trash" / use-attr-ext
    /// ```
    static func parseCreate(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPCommand {
        let mailbox = try parseMailboxArgument(&p)
        var uses: [String] = []
        if p.consume(0x20) {
            _ = try p.parenthesizedList(allowEmpty: false) { (p: inout IMAPParser) throws(IMAPParseError) -> Int in
                let name = try p.taggedExtLabel()
                guard name == "USE" else { throw IMAPParseError("Unknown CREATE parameter \(name.prefix(30))") }
                try p.space()
                let attrs = try p.parenthesizedList(allowEmpty: true) { (p: inout IMAPParser) throws(IMAPParseError) -> String in
                    try p.expect(UInt8(ascii: "\\"), "a use attribute")
                    return "\\" + (try p.atom())
                }
                uses += attrs
                return 0
            }
        }
        return .create(mailbox, specialUse: uses)
    }

    /// RFC 9051 §9: `rename = "RENAME" SP mailbox SP mailbox`
    static func parseRename(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPCommand {
        let from = try parseMailboxArgument(&p)
        let to = try parseMailboxArgument(&p)
        return .rename(from, to)
    }

    /// RFC 9051 §9: `status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"`
    static func parseStatus(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPCommand {
        let mailbox = try parseMailboxArgument(&p)
        try p.space()
        return .status(mailbox, try IMAPStatusItem.parseList(&p))
    }

    /// RFC 9208 §9: `getquota = "GETQUOTA" SP quota-root-name`; `quota-root-name = astring`
    static func parseGetQuota(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPCommand {
        try p.space()
        return .getQuota(root: try p.astring())
    }

    /// RFC 9208 §9: `setquota = "SETQUOTA" SP quota-root-name SP setquota-list`
    /// `setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"`;
    /// `setquota-resource = resource-name SP resource-limit`
    static func parseSetQuota(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPCommand {
        try p.space()
        let root = try p.astring()
        try p.space()
        _ = try p.parenthesizedList(allowEmpty: true) { (p: inout IMAPParser) throws(IMAPParseError) -> UInt64 in
            _ = try p.atom()
            try p.space()
            return try p.number64()
        }
        return .setQuota(root: root)
    }
}
