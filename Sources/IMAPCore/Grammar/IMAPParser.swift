/// The grammar primitives of RFC 9051 §9 (with RFC 3501 §9 and the extension grammars where noted): a
/// cursor over the octets of one framed command (`IMAPCommandFramer` has already checked that every
/// literal is complete, so "need more bytes" never reaches the parser; everything here is either a value
/// or `IMAPParseError`).
///
/// Strictness: a parse function consumes exactly its rule; keywords are ASCII case-insensitive (RFC 9051
/// §9: "all alphabetic characters are case-insensitive"); nested structures are bounded by
/// `IMAPParser.maxDepth`.

/// Why a command was rejected; `description` is safe to send after `BAD`.
public struct IMAPParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public struct IMAPParser {
    /// Nesting bound for search keys and extension values (parenthesised lists, NOT/OR chains).
    public static let maxDepth = 64

    let bytes: [UInt8]
    var index: Int
    var depth = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.index = 0
    }

    // MARK: - Cursor

    var atEnd: Bool { index >= bytes.count }

    func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    func peek(_ offset: Int) -> UInt8? {
        let i = index + offset
        return i >= 0 && i < bytes.count ? bytes[i] : nil
    }

    mutating func expect(_ byte: UInt8, _ what: @autoclosure () -> String) throws(IMAPParseError) {
        guard peek() == byte else { throw IMAPParseError("Expected \(what())") }
        index += 1
    }

    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }

    /// `SP`
    mutating func space() throws(IMAPParseError) {
        try expect(0x20, "a space")
    }

    /// The end of the command (the framer removed the final CRLF).
    mutating func end() throws(IMAPParseError) {
        guard atEnd else { throw IMAPParseError("Unexpected characters at the end of the command") }
    }

    mutating func enter() throws(IMAPParseError) {
        depth += 1
        guard depth <= IMAPParser.maxDepth else { throw IMAPParseError("Too deeply nested") }
    }

    mutating func leave() { depth -= 1 }

    /// Consumes `keyword` (ASCII case-insensitive) when it comes next and is not followed by another
    /// atom character (so `FLAGS` does not match the start of `FLAGS.SILENT`).
    mutating func keyword(_ keyword: String) -> Bool {
        let k = Array(keyword.utf8)
        guard index + k.count <= bytes.count else { return false }
        for j in 0..<k.count where IMAPParser.upper(bytes[index + j]) != IMAPParser.upper(k[j]) { return false }
        if index + k.count < bytes.count, IMAPParser.isAtomChar(bytes[index + k.count]),
            bytes[index + k.count] != UInt8(ascii: "["), bytes[index + k.count] != UInt8(ascii: "<")
        {
            return false
        }
        index += k.count
        return true
    }

    /// Consumes `text` (ASCII case-insensitive) when it comes next, whatever follows it.
    mutating func prefix(_ text: String) -> Bool {
        let k = Array(text.utf8)
        guard index + k.count <= bytes.count else { return false }
        for j in 0..<k.count where IMAPParser.upper(bytes[index + j]) != IMAPParser.upper(k[j]) { return false }
        index += k.count
        return true
    }

    mutating func expectKeyword(_ k: String) throws(IMAPParseError) {
        guard keyword(k) else { throw IMAPParseError("Expected \(k)") }
    }

    static func upper(_ b: UInt8) -> UInt8 { (b >= 0x61 && b <= 0x7A) ? b - 0x20 : b }

    // MARK: - Character classes (RFC 9051 §9)

    /// `atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials`
    static func isAtomChar(_ b: UInt8) -> Bool {
        switch b {
        case 0x00...0x20, 0x7F: return false
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "{"), UInt8(ascii: "%"), UInt8(ascii: "*"),
            UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "]"):
            return false
        case 0x80...0xFF: return false
        default: return true
        }
    }

    /// `ASTRING-CHAR = ATOM-CHAR / resp-specials`
    static func isAStringChar(_ b: UInt8) -> Bool { isAtomChar(b) || b == UInt8(ascii: "]") }

    /// `list-char = ATOM-CHAR / list-wildcards / resp-specials`
    static func isListChar(_ b: UInt8) -> Bool {
        isAStringChar(b) || b == UInt8(ascii: "%") || b == UInt8(ascii: "*")
    }

    // MARK: - Atoms and strings

    /// `atom = 1*ATOM-CHAR`
    mutating func atom() throws(IMAPParseError) -> String {
        let start = index
        while let b = peek(), IMAPParser.isAtomChar(b) { index += 1 }
        guard index > start else { throw IMAPParseError("Expected an atom") }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// `tag = 1*<any ASTRING-CHAR except "+">`
    mutating func tag() throws(IMAPParseError) -> String {
        let start = index
        while let b = peek(), IMAPParser.isAStringChar(b), b != UInt8(ascii: "+") { index += 1 }
        guard index > start else { throw IMAPParseError("Missing tag") }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// `astring = 1*ASTRING-CHAR / string`
    mutating func astring() throws(IMAPParseError) -> [UInt8] {
        if let b = peek(), b == UInt8(ascii: "\"") || b == UInt8(ascii: "{") || b == UInt8(ascii: "~") {
            if b == UInt8(ascii: "~"), peek(1) != UInt8(ascii: "{") { return try astringAtom() }
            return try string()
        }
        return try astringAtom()
    }

    mutating func astringAtom() throws(IMAPParseError) -> [UInt8] {
        let start = index
        while let b = peek(), IMAPParser.isAStringChar(b) { index += 1 }
        guard index > start else { throw IMAPParseError("Expected a string") }
        return Array(bytes[start..<index])
    }

    /// `string = quoted / literal`
    mutating func string() throws(IMAPParseError) -> [UInt8] {
        switch peek() {
        case UInt8(ascii: "\"")?: return try quoted()
        case UInt8(ascii: "{")?: return try literal(allowNUL: false)
        default: throw IMAPParseError("Expected a quoted string or a literal")
        }
    }

    /// `nstring = string / nil`
    mutating func nstring() throws(IMAPParseError) -> [UInt8]? {
        if keyword("NIL") { return nil }
        return try string()
    }

    /// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`
    /// `QUOTED-CHAR = <any TEXT-CHAR except quoted-specials> / "\" quoted-specials / UTF8-2 / UTF8-3 / UTF8-4`
    /// (RFC 9051 allows UTF-8 in quoted strings; RFC 3501 did not, but 8-bit octets are accepted here
    /// and checked where a name must be valid).
    mutating func quoted() throws(IMAPParseError) -> [UInt8] {
        try expect(UInt8(ascii: "\""), "a quoted string")
        var out: [UInt8] = []
        while let b = peek() {
            index += 1
            switch b {
            case UInt8(ascii: "\""):
                return out
            case UInt8(ascii: "\\"):
                guard let next = peek(), next == UInt8(ascii: "\"") || next == UInt8(ascii: "\\") else {
                    throw IMAPParseError("Invalid escape in quoted string")
                }
                out.append(next)
                index += 1
            case 0x00, 0x0A, 0x0D:
                throw IMAPParseError("Invalid character in quoted string")
            default:
                out.append(b)
            }
        }
        throw IMAPParseError("Unterminated quoted string")
    }

    /// `literal = "{" number64 ["+"] "}" CRLF *CHAR8` (RFC 9051; "+" from RFC 7888 LITERAL+/LITERAL-)
    /// `literal8 = "~{" number64 ["+"] "}" CRLF *OCTET` (RFC 3516, RFC 7888) — only where `literal8` is
    /// allowed; `CHAR8 = %x01-ff` (no NUL) unless `allowNUL`.
    mutating func literal(allowNUL: Bool, allowLiteral8: Bool = false) throws(IMAPParseError) -> [UInt8] {
        var isLiteral8 = false
        if peek() == UInt8(ascii: "~") {
            guard allowLiteral8 else { throw IMAPParseError("literal8 not allowed here") }
            isLiteral8 = true
            index += 1
        }
        try expect(UInt8(ascii: "{"), "a literal")
        let count = try number64()
        _ = consume(UInt8(ascii: "+"))
        try expect(UInt8(ascii: "}"), "}")
        if peek() == 0x0D { index += 1 }
        try expect(0x0A, "CRLF after a literal size")
        guard count <= UInt64(bytes.count - index) else { throw IMAPParseError("Literal shorter than announced") }
        let n = Int(count)
        let content = Array(bytes[index..<(index + n)])
        index += n
        if !allowNUL, !isLiteral8, content.contains(0) {
            throw IMAPParseError("NUL octet in a literal")
        }
        return content
    }

    // MARK: - Numbers

    /// `number = 1*DIGIT` ; unsigned 32-bit integer (RFC 9051 §9)
    mutating func number() throws(IMAPParseError) -> UInt32 {
        let v = try number64()
        guard v <= UInt64(UInt32.max) else { throw IMAPParseError("Number too large") }
        return UInt32(v)
    }

    /// `nz-number = digit-nz *DIGIT` ; non-zero unsigned 32-bit integer
    mutating func nzNumber() throws(IMAPParseError) -> UInt32 {
        let v = try number()
        guard v != 0 else { throw IMAPParseError("Zero is not allowed here") }
        return v
    }

    /// `number64 = 1*DIGIT` ; unsigned 63-bit integer (RFC 9051 §9)
    mutating func number64() throws(IMAPParseError) -> UInt64 {
        let start = index
        var value: UInt64 = 0
        while let b = peek(), b >= 0x30, b <= 0x39 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(b - 0x30))
            guard !o1, !o2, a <= UInt64(Int64.max) else { throw IMAPParseError("Number too large") }
            value = a
            index += 1
        }
        guard index > start else { throw IMAPParseError("Expected a number") }
        return value
    }

    /// `nz-number64 = digit-nz *DIGIT`
    mutating func nzNumber64() throws(IMAPParseError) -> UInt64 {
        let v = try number64()
        guard v != 0 else { throw IMAPParseError("Zero is not allowed here") }
        return v
    }

    // MARK: - Lists

    /// `"(" item *(SP item) ")"`, or `"(" ")"` when `allowEmpty`.
    mutating func parenthesizedList<T>(
        allowEmpty: Bool,
        _ item: (inout IMAPParser) throws(IMAPParseError) -> T
    ) throws(IMAPParseError) -> [T] {
        try expect(UInt8(ascii: "("), "(")
        try enter()
        defer { leave() }
        var items: [T] = []
        if consume(UInt8(ascii: ")")) {
            guard allowEmpty else { throw IMAPParseError("Empty list") }
            return items
        }
        repeat {
            items.append(try item(&self))
        } while consume(0x20)
        try expect(UInt8(ascii: ")"), ")")
        return items
    }

    /// `tagged-ext-label = tagged-label-fchar *tagged-label-char` (RFC 4466 §2.1)
    mutating func taggedExtLabel() throws(IMAPParseError) -> String {
        let start = index
        while let b = peek() {
            let isF =
                (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "-")
                || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
            let isC = isF || (b >= 0x30 && b <= 0x39) || b == UInt8(ascii: ":")
            if index == start ? !isF : !isC { break }
            index += 1
        }
        guard index > start else { throw IMAPParseError("Expected a parameter name") }
        return String(decoding: bytes[start..<index], as: UTF8.self).uppercased()
    }

    /// `tagged-ext-val = tagged-ext-simple / "(" [tagged-ext-comp] ")"` (RFC 4466 §2.1): skipped over
    /// and returned as raw octets, for parameters this server does not interpret.
    mutating func taggedExtValue() throws(IMAPParseError) -> [UInt8] {
        let start = index
        if peek() == UInt8(ascii: "(") {
            try skipParenthesized()
        } else {
            while let b = peek(), b != 0x20, b != UInt8(ascii: ")") { index += 1 }
            guard index > start else { throw IMAPParseError("Expected a parameter value") }
        }
        return Array(bytes[start..<index])
    }

    /// Skips a balanced parenthesised group (strings and literals inside are skipped whole).
    mutating func skipParenthesized() throws(IMAPParseError) {
        try expect(UInt8(ascii: "("), "(")
        try enter()
        defer { leave() }
        while let b = peek() {
            switch b {
            case UInt8(ascii: ")"): index += 1; return
            case UInt8(ascii: "("): try skipParenthesized()
            case UInt8(ascii: "\""): _ = try quoted()
            case UInt8(ascii: "{"): _ = try literal(allowNUL: true)
            default: index += 1
            }
        }
        throw IMAPParseError("Unbalanced parentheses")
    }
}
