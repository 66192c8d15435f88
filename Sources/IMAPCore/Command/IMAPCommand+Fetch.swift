/// FETCH (RFC 9051 §6.4.5) with the IMAP4rev1 RFC822 items (RFC 3501 §6.4.5), BINARY (RFC 3516),
/// MODSEQ and the CHANGEDSINCE / VANISHED modifiers (RFC 7162 §3.1.4, §3.2.6).
import MailMIME

/// `partial = "<" number64 "." nz-number64 ">"`: the octets `offset ..< offset + length` of the section.
public struct IMAPPartial: Hashable, Sendable {
    public var offset: UInt64
    public var length: UInt64

    public init(offset: UInt64, length: UInt64) {
        self.offset = offset
        self.length = length
    }

    /// The requested slice of `bytes` (empty when the offset is past the end).
    public func apply(_ bytes: [UInt8]) -> [UInt8] {
        guard offset < UInt64(bytes.count) else { return [] }
        let start = Int(offset)
        let end = Int(min(UInt64(bytes.count), offset &+ min(length, UInt64(Int.max) - offset)))
        return Array(bytes[start..<end])
    }
}

public enum IMAPFetchAttribute: Hashable, Sendable {
    case envelope
    case flags
    case internalDate
    case rfc822Size
    case uid
    /// `BODY` alone: BODYSTRUCTURE without extension data.
    case body
    case bodyStructure
    /// RFC 7162 §3.1.4
    case modSeq
    /// IMAP4rev1: `RFC822` is `BODY[]`, `RFC822.HEADER` is `BODY.PEEK[HEADER]`, `RFC822.TEXT` is `BODY[TEXT]`,
    /// each reported under its own name.
    case rfc822
    case rfc822Header
    case rfc822Text
    /// `BODY[section]<partial>` / `BODY.PEEK[…]`
    case bodySection(MIMESectionSpec, partial: IMAPPartial?, peek: Bool)
    /// `BINARY[part]<partial>` / `BINARY.PEEK[…]` (RFC 3516 §4.1)
    case binary(part: [Int], partial: IMAPPartial?, peek: Bool)
    /// `BINARY.SIZE[part]`
    case binarySize(part: [Int])

    /// Whether fetching this item sets \Seen (RFC 9051 §6.4.5: BODY[…] and BINARY[…] without .PEEK,
    /// RFC822 and RFC822.TEXT).
    public var setsSeen: Bool {
        switch self {
        case .bodySection(_, _, let peek), .binary(_, _, let peek): return !peek
        case .rfc822, .rfc822Text: return true
        default: return false
        }
    }

    /// Whether the message content is needed (beyond the index data: flags, dates, size, UID, MODSEQ).
    public var needsContent: Bool {
        switch self {
        case .flags, .internalDate, .rfc822Size, .uid, .modSeq: return false
        default: return true
        }
    }

    /// Whether the header alone is enough (ENVELOPE, HEADER sections).
    public var needsHeaderOnly: Bool {
        switch self {
        case .envelope, .rfc822Header: return true
        case .bodySection(let spec, _, _):
            guard spec.part.isEmpty else { return false }
            switch spec.text {
            case .header?, .headerFields?, .headerFieldsNot?: return true
            default: return false
            }
        default: return false
        }
    }
}

/// `fetch-modifier` values (RFC 7162 §3.1.4, §3.2.6).
public struct IMAPFetchModifiers: Hashable, Sendable {
    public var changedSince: UInt64?
    public var vanished: Bool

    public init(changedSince: UInt64? = nil, vanished: Bool = false) {
        self.changedSince = changedSince
        self.vanished = vanished
    }
}

extension IMAPCommandParser {
    /// RFC 9051 §9, RFC 7162 §7:
    /// ```
    /// fetch           = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
    ///                   "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
    /// fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
    /// fetch-modifier  =/ chgsince-fetch-mod / "VANISHED"
    /// chgsince-fetch-mod = "CHANGEDSINCE" SP mod-sequence-value
    /// ```
    /// VANISHED without CHANGEDSINCE is a syntax error (RFC 7162 §3.2.6).
    static func parseFetch(_ p: inout IMAPParser, uid: Bool) throws(IMAPParseError) -> IMAPCommand {
        try p.space()
        let set = try IMAPSequenceSet.parse(&p)
        try p.space()
        var items: [IMAPFetchAttribute]
        if p.keyword("ALL") {
            items = [.flags, .internalDate, .rfc822Size, .envelope]
        } else if p.keyword("FAST") {
            items = [.flags, .internalDate, .rfc822Size]
        } else if p.keyword("FULL") {
            items = [.flags, .internalDate, .rfc822Size, .envelope, .body]
        } else if p.peek() == UInt8(ascii: "(") {
            items = try p.parenthesizedList(allowEmpty: false) { (p: inout IMAPParser) throws(IMAPParseError) in
                try parseFetchAttribute(&p)
            }
            guard items.count <= 500 else { throw IMAPParseError("Too many FETCH items") }
        } else {
            items = [try parseFetchAttribute(&p)]
        }
        var modifiers = IMAPFetchModifiers()
        if p.consume(0x20) {
            _ = try p.parenthesizedList(allowEmpty: false) { (p: inout IMAPParser) throws(IMAPParseError) -> Int in
                let name = try p.taggedExtLabel()
                switch name {
                case "CHANGEDSINCE":
                    try p.space()
                    modifiers.changedSince = try p.number64()
                case "VANISHED":
                    modifiers.vanished = true
                default:
                    throw IMAPParseError("Unknown FETCH modifier \(name.prefix(30))")
                }
                return 0
            }
            if modifiers.vanished, modifiers.changedSince == nil || !uid {
                throw IMAPParseError("VANISHED needs UID FETCH with CHANGEDSINCE")
            }
        }
        return .fetch(set, items, modifiers, uid: uid)
    }

    /// RFC 9051 §9, RFC 3501 §9, RFC 3516 §6, RFC 7162 §7:
    /// ```
    /// fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822.SIZE" / "BODY" ["STRUCTURE"] / "UID" /
    ///             "BODY" section [partial] / "BODY.PEEK" section [partial] /
    ///             "BINARY" [".PEEK"] section-binary [partial] / "BINARY.SIZE" section-binary /
    ///             "RFC822" [".HEADER" / ".TEXT"] / "MODSEQ"
    /// partial   = "<" number64 "." nz-number64 ">"
    /// ```
    static func parseFetchAttribute(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPFetchAttribute {
        let start = p.index
        while let b = p.peek(),
            (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
                || b == UInt8(ascii: ".")
        { p.index += 1 }
        let name = String(decoding: p.bytes[start..<p.index], as: UTF8.self).uppercased()
        switch name {
        case "ENVELOPE": return .envelope
        case "FLAGS": return .flags
        case "INTERNALDATE": return .internalDate
        case "RFC822.SIZE": return .rfc822Size
        case "UID": return .uid
        case "BODYSTRUCTURE": return .bodyStructure
        case "MODSEQ": return .modSeq
        case "RFC822": return .rfc822
        case "RFC822.HEADER": return .rfc822Header
        case "RFC822.TEXT": return .rfc822Text
        case "BODY", "BODY.PEEK":
            guard p.peek() == UInt8(ascii: "[") else {
                if name == "BODY" { return .body }
                throw IMAPParseError("BODY.PEEK needs a section")
            }
            let section = try parseSection(&p)
            return .bodySection(section, partial: try parsePartial(&p), peek: name == "BODY.PEEK")
        case "BINARY", "BINARY.PEEK":
            let part = try parseSectionBinary(&p)
            return .binary(part: part, partial: try parsePartial(&p), peek: name == "BINARY.PEEK")
        case "BINARY.SIZE":
            return .binarySize(part: try parseSectionBinary(&p))
        default:
            throw IMAPParseError("Unknown FETCH item \(name.prefix(30))")
        }
    }

    /// ```
    /// section         = "[" [section-spec] "]"
    /// section-spec    = section-msgtext / (section-part ["." section-text])
    /// section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
    /// section-part    = nz-number *("." nz-number)
    /// section-text    = section-msgtext / "MIME"
    /// header-list     = "(" header-fld-name *(SP header-fld-name) ")"
    /// header-fld-name = astring
    /// ```
    static func parseSection(_ p: inout IMAPParser) throws(IMAPParseError) -> MIMESectionSpec {
        try p.expect(UInt8(ascii: "["), "[")
        var spec = MIMESectionSpec()
        if p.consume(UInt8(ascii: "]")) { return spec }
        if let b = p.peek(), b >= 0x31, b <= 0x39 {
            spec.part = try parseSectionPart(&p)
            if p.consume(UInt8(ascii: "]")) { return spec }
            try p.expect(UInt8(ascii: "."), ". or ]")
            if p.prefix("MIME") {
                spec.text = .mime
                try p.expect(UInt8(ascii: "]"), "]")
                return spec
            }
        }
        spec.text = try parseSectionMsgtext(&p)
        try p.expect(UInt8(ascii: "]"), "]")
        return spec
    }

    /// `section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"` (RFC 9051 §9)
    static func parseSectionMsgtext(_ p: inout IMAPParser) throws(IMAPParseError) -> MIMESectionText {
        if p.prefix("HEADER.FIELDS.NOT") {
            try p.space()
            return .headerFieldsNot(try parseHeaderList(&p))
        }
        if p.prefix("HEADER.FIELDS") {
            try p.space()
            return .headerFields(try parseHeaderList(&p))
        }
        if p.prefix("HEADER") { return .header }
        if p.prefix("TEXT") { return .text }
        throw IMAPParseError("Invalid section")
    }

    /// `header-list = "(" header-fld-name *(SP header-fld-name) ")"`; `header-fld-name = astring` (RFC 9051 §9)
    static func parseHeaderList(_ p: inout IMAPParser) throws(IMAPParseError) -> [String] {
        let names = try p.parenthesizedList(allowEmpty: false) { (p: inout IMAPParser) throws(IMAPParseError) -> String in
            let name = try p.astring()
            // RFC 5322 §3.6.8 field names: printable US-ASCII except ":".
            guard !name.isEmpty, name.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }) else {
                throw IMAPParseError("Invalid header field name")
            }
            return String(decoding: name, as: UTF8.self)
        }
        guard names.count <= 1000 else { throw IMAPParseError("Too many header fields") }
        return names
    }

    /// `section-part = nz-number *("." nz-number)` — a "." followed by a letter ends it (section-text).
    static func parseSectionPart(_ p: inout IMAPParser) throws(IMAPParseError) -> [Int] {
        var parts: [Int] = [Int(try p.nzNumber())]
        while p.peek() == UInt8(ascii: "."), let next = p.peek(1), next >= 0x30, next <= 0x39 {
            p.index += 1
            parts.append(Int(try p.nzNumber()))
            guard parts.count <= 100 else { throw IMAPParseError("Section part too deep") }
        }
        return parts
    }

    /// `section-binary = "[" [section-part] "]"` (RFC 3516 §6)
    static func parseSectionBinary(_ p: inout IMAPParser) throws(IMAPParseError) -> [Int] {
        try p.expect(UInt8(ascii: "["), "[")
        if p.consume(UInt8(ascii: "]")) { return [] }
        let part = try parseSectionPart(&p)
        try p.expect(UInt8(ascii: "]"), "]")
        return part
    }

    /// `partial = "<" number64 "." nz-number64 ">"`
    static func parsePartial(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPPartial? {
        guard p.consume(UInt8(ascii: "<")) else { return nil }
        let offset = try p.number64()
        try p.expect(UInt8(ascii: "."), ".")
        let length = try p.nzNumber64()
        try p.expect(UInt8(ascii: ">"), ">")
        return IMAPPartial(offset: offset, length: length)
    }
}
