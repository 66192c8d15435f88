/// LIST with the extended syntax (RFC 9051 §6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS,
/// RFC 6154 SPECIAL-USE) and LSUB (RFC 3501 §6.3.9).

public struct IMAPListCommand: Hashable, Sendable {
    /// Selection options (RFC 5258 §3.1, RFC 6154 §5.1).
    public var selectSubscribed = false
    public var selectRemote = false
    public var recursiveMatch = false
    public var selectSpecialUse = false
    public var reference: IMAPMailboxName
    /// One or more patterns (with `*` and `%` wildcards), as sent.
    public var patterns: [[UInt8]]
    /// Return options (RFC 5258 §3.2, RFC 5819, RFC 6154 §5.2).
    public var returnSubscribed = false
    public var returnChildren = false
    public var returnSpecialUse = false
    public var returnStatus: [IMAPStatusItem]?
    /// True when the extended syntax was used (selection options, several patterns or RETURN): the
    /// response then follows RFC 5258 (e.g. \NonExistent parents with RECURSIVEMATCH, CHILDINFO).
    public var isExtended = false

    public init(reference: IMAPMailboxName, patterns: [[UInt8]]) {
        self.reference = reference
        self.patterns = patterns
    }
}

extension IMAPCommandParser {
    /// RFC 9051 §9 (from RFC 5258 §5, RFC 5819 §6, RFC 6154 §6):
    /// ```
    /// list             = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
    /// list-select-opts = "(" [ (*(list-select-mod-opt SP) list-select-base-opt *(SP list-select-opt))
    ///                    / (list-select-independent-opt *(SP list-select-independent-opt)) ] ")"
    /// list-select-base-opt = "SUBSCRIBED" / "SPECIAL-USE" / option-extension
    /// list-select-mod-opt  = "RECURSIVEMATCH" / option-extension
    /// list-select-independent-opt = "REMOTE" / option-extension
    /// mbox-or-pat      = list-mailbox / patterns
    /// patterns         = "(" list-mailbox *(SP list-mailbox) ")"
    /// list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
    /// return-option    = "SUBSCRIBED" / "CHILDREN" / "SPECIAL-USE" / status-option / option-extension
    /// status-option    = "STATUS" SP "(" status-att *(SP status-att) ")"
    /// ```
    /// Unknown options are a syntax error; RECURSIVEMATCH needs a base option (RFC 5258 §3.1).
    static func parseList(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPCommand {
        try p.space()
        var command = IMAPListCommand(reference: IMAPMailboxName([]), patterns: [])
        if p.peek() == UInt8(ascii: "(") {
            command.isExtended = true
            _ = try p.parenthesizedList(allowEmpty: true) { (p: inout IMAPParser) throws(IMAPParseError) -> Int in
                let name = try p.taggedExtLabel()
                switch name {
                case "SUBSCRIBED": command.selectSubscribed = true
                case "REMOTE": command.selectRemote = true
                case "RECURSIVEMATCH": command.recursiveMatch = true
                case "SPECIAL-USE": command.selectSpecialUse = true
                default: throw IMAPParseError("Unknown LIST selection option \(name.prefix(30))")
                }
                return 0
            }
            if command.recursiveMatch, !command.selectSubscribed, !command.selectSpecialUse {
                throw IMAPParseError("RECURSIVEMATCH needs another selection option")
            }
            try p.space()
        }
        command.reference = try IMAPMailboxName.parse(&p)
        try p.space()
        if p.peek() == UInt8(ascii: "(") {
            command.isExtended = true
            command.patterns = try p.parenthesizedList(allowEmpty: false) { (p: inout IMAPParser) throws(IMAPParseError) in
                try parseListMailbox(&p)
            }
            guard command.patterns.count <= 100 else { throw IMAPParseError("Too many patterns") }
        } else {
            command.patterns = [try parseListMailbox(&p)]
        }
        if p.consume(0x20) {
            command.isExtended = true
            try p.expectKeyword("RETURN")
            try p.space()
            _ = try p.parenthesizedList(allowEmpty: true) { (p: inout IMAPParser) throws(IMAPParseError) -> Int in
                let name = try p.taggedExtLabel()
                switch name {
                case "SUBSCRIBED": command.returnSubscribed = true
                case "CHILDREN": command.returnChildren = true
                case "SPECIAL-USE": command.returnSpecialUse = true
                case "STATUS":
                    try p.space()
                    command.returnStatus = try IMAPStatusItem.parseList(&p)
                default: throw IMAPParseError("Unknown LIST return option \(name.prefix(30))")
                }
                return 0
            }
        }
        return .list(command)
    }

    /// RFC 9051 §9: `list-mailbox = 1*list-char / string`
    static func parseListMailbox(_ p: inout IMAPParser) throws(IMAPParseError) -> [UInt8] {
        if let b = p.peek(), b == UInt8(ascii: "\"") || b == UInt8(ascii: "{") {
            return try p.string()
        }
        let start = p.index
        while let b = p.peek(), IMAPParser.isListChar(b) { p.index += 1 }
        guard p.index > start else { throw IMAPParseError("Expected a mailbox pattern") }
        return Array(p.bytes[start..<p.index])
    }

    /// RFC 3501 §9: `lsub = "LSUB" SP mailbox SP list-mailbox`
    static func parseLsub(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPCommand {
        let reference = try parseMailboxArgument(&p)
        try p.space()
        return .lsub(reference: reference, pattern: try parseListMailbox(&p))
    }
}
