/// STORE (RFC 9051 §6.4.6, UNCHANGEDSINCE from RFC 7162 §3.1.3), COPY (§6.4.7), MOVE (§6.4.8, RFC 6851)
/// and UID EXPUNGE (§6.4.9, RFC 4315).

/// `store-att-flags`: what to do with which flags.
public struct IMAPStoreFlags: Hashable, Sendable {
    public enum Operation: Hashable, Sendable {
        case replace
        case add
        case remove
    }

    public var operation: Operation
    /// `.SILENT`: no untagged FETCH for the change (RFC 9051 §6.4.6).
    public var silent: Bool
    public var flags: [IMAPFlag]

    public init(operation: Operation, silent: Bool = false, flags: [IMAPFlag]) {
        self.operation = operation
        self.silent = silent
        self.flags = flags
    }
}

public struct IMAPStoreModifiers: Hashable, Sendable {
    /// RFC 7162 §3.1.3: only messages whose MODSEQ is at most this are changed.
    public var unchangedSince: UInt64?

    public init(unchangedSince: UInt64? = nil) { self.unchangedSince = unchangedSince }
}

extension IMAPCommandParser {
    /// RFC 9051 §9, RFC 4466 §2.5, RFC 7162 §7:
    /// ```
    /// store           = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
    /// store-modifiers = SP "(" store-modifier *(SP store-modifier) ")"
    /// store-modifier  =/ "UNCHANGEDSINCE" SP mod-sequence-valzer
    /// store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
    /// ```
    static func parseStore(_ p: inout IMAPParser, uid: Bool) throws(IMAPParseError) -> IMAPCommand {
        try p.space()
        let set = try IMAPSequenceSet.parse(&p)
        try p.space()
        var modifiers = IMAPStoreModifiers()
        if p.peek() == UInt8(ascii: "(") {
            _ = try p.parenthesizedList(allowEmpty: false) { (p: inout IMAPParser) throws(IMAPParseError) -> Int in
                let name = try p.taggedExtLabel()
                guard name == "UNCHANGEDSINCE" else { throw IMAPParseError("Unknown STORE modifier \(name.prefix(30))") }
                try p.space()
                modifiers.unchangedSince = try p.number64()
                return 0
            }
            try p.space()
        }
        let operation: IMAPStoreFlags.Operation
        if p.consume(UInt8(ascii: "+")) {
            operation = .add
        } else if p.consume(UInt8(ascii: "-")) {
            operation = .remove
        } else {
            operation = .replace
        }
        let silent: Bool
        if p.keyword("FLAGS.SILENT") {
            silent = true
        } else if p.keyword("FLAGS") {
            silent = false
        } else {
            throw IMAPParseError("Expected FLAGS or FLAGS.SILENT")
        }
        try p.space()
        var flags: [IMAPFlag] = []
        if p.peek() == UInt8(ascii: "(") {
            flags = try IMAPFlag.parseList(&p)
        } else {
            repeat {
                flags.append(try IMAPFlag.parse(&p))
                guard flags.count <= 1000 else { throw IMAPParseError("Too many flags") }
            } while p.consume(0x20)
        }
        return .store(set, modifiers, IMAPStoreFlags(operation: operation, silent: silent, flags: flags), uid: uid)
    }

    /// RFC 9051 §9: `copy = "COPY" SP sequence-set SP mailbox`; `move = "MOVE" SP sequence-set SP mailbox`
    static func parseCopyMove(_ p: inout IMAPParser, uid: Bool, move: Bool) throws(IMAPParseError) -> IMAPCommand {
        try p.space()
        let set = try IMAPSequenceSet.parse(&p)
        let mailbox = try parseMailboxArgument(&p)
        return move ? .move(set, mailbox, uid: uid) : .copy(set, mailbox, uid: uid)
    }

    /// RFC 9051 §9: `uid-expunge = "UID" SP "EXPUNGE" SP sequence-set`
    static func parseUIDExpunge(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPCommand {
        try p.space()
        return .uidExpunge(try IMAPSequenceSet.parse(&p))
    }
}
