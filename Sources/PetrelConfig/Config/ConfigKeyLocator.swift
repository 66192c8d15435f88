/// A strict syntax check of the TOML text and the 1-based line of every table header and key
/// (TOMLKit's parsed tables carry no source positions). Implements the TOML v1.0.0 grammar
/// (https://toml.io/en/v1.0.0) minus what a Petrel configuration never needs: dates/times and
/// hexadecimal/octal/binary integers are rejected with a clear message.
///
/// Why the check comes first: toml++ 3.4 (inside TOMLKit 0.6.0) has internal assertions that malformed
/// input reaches (`[=]`, `[1, }`, odd date/number tokens, …), which abort debug builds and are undefined
/// behaviour in release builds. Only text that passed this check is handed to TOMLKit, which then does the
/// semantic work (duplicate keys, table redefinition) and builds the tables.
struct ConfigKeyLocator: Sendable {
    /// Line of each key path (first occurrence wins; paths cut to `maxRecordedDepth` components).
    private(set) var lines: [[String]: Int] = [:]
    /// The first syntax error, if any; scanning stops there.
    private(set) var syntaxError: SyntaxError?

    struct SyntaxError: Error, Equatable, Sendable {
        var line: Int
        var message: String
    }

    static let maxDepth = 128
    static let maxRecordedDepth = 4

    private let bytes: [UInt8]
    private var i = 0
    private var line = 1

    init(text: String) {
        bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 } // UTF-8 byte order mark
        do {
            try scanDocument()
        } catch let error as SyntaxError {
            syntaxError = error
        } catch {
            syntaxError = SyntaxError(line: line, message: "\(error)")
        }
    }

    /// The line of `path`, or of its longest recorded prefix (e.g. the section header or an inline table's key).
    func line(for path: [String]) -> Int? {
        var path = Array(path.prefix(Self.maxRecordedDepth))
        while !path.isEmpty {
            if let found = lines[path] { return found }
            path.removeLast()
        }
        return nil
    }

    /// The line of a dotted key such as "smtp.listen" (keys here never contain dots themselves).
    func line(for dottedKey: String) -> Int? {
        line(for: dottedKey.split(separator: ".", omittingEmptySubsequences: false).map(String.init))
    }

    // MARK: - Scanner primitives

    private var current: UInt8? { i < bytes.count ? bytes[i] : nil }
    private func peek(_ offset: Int) -> UInt8? { i + offset < bytes.count ? bytes[i + offset] : nil }
    private func fail(_ message: String) -> SyntaxError { SyntaxError(line: line, message: message) }

    /// How the current byte is shown in messages.
    private var shown: String {
        guard let c = current else { return "end of file" }
        if c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r") { return "end of line" }
        if c < 0x20 || c == 0x7F { return "control character 0x" + String(c, radix: 16) }
        if c >= 0x80 { return "a non-ASCII character" }
        return "\"" + String(UnicodeScalar(c)) + "\""
    }

    private mutating func record(_ path: [String], at line: Int) {
        let path = path.prefix(Self.maxRecordedDepth)
        guard !path.isEmpty else { return }
        for end in 1...path.count where lines[Array(path[..<end])] == nil {
            lines[Array(path[..<end])] = line
        }
    }

    private func isControl(_ c: UInt8) -> Bool { (c < 0x20 && c != UInt8(ascii: "\t")) || c == 0x7F }
    private func isDigit(_ c: UInt8?) -> Bool { c.map { (0x30...0x39).contains($0) } ?? false }

    /// unquoted-key = 1*( ALPHA / DIGIT / %x2D / %x5F ) ; A-Z / a-z / 0-9 / - / _
    private func isBareKeyByte(_ c: UInt8?) -> Bool {
        guard let c else { return false }
        return (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
    }

    /// ws = *( %x20 / %x09 )
    private mutating func skipSpaces() {
        while current == UInt8(ascii: " ") || current == UInt8(ascii: "\t") { i += 1 }
    }

    /// newline = %x0A / %x0D.0A — returns false when not at a newline.
    private mutating func consumeNewline() throws -> Bool {
        if current == UInt8(ascii: "\n") { i += 1; line += 1; return true }
        if current == UInt8(ascii: "\r") {
            guard peek(1) == UInt8(ascii: "\n") else { throw fail("carriage return without line feed") }
            i += 2
            line += 1
            return true
        }
        return false
    }

    /// comment = "#" *non-eol ; non-eol = %x09 / %x20-7F / non-ascii (no other control characters)
    private mutating func skipComment() throws {
        guard current == UInt8(ascii: "#") else { return }
        i += 1
        while let c = current, c != UInt8(ascii: "\n") {
            if c == UInt8(ascii: "\r"), peek(1) == UInt8(ascii: "\n") { return }
            if isControl(c) { throw fail("\(shown) in a comment") }
            i += 1
        }
    }

    /// ws-comment-newline = *( wschar / [ comment ] newline )
    private mutating func skipBlankLines() throws {
        while true {
            skipSpaces()
            try skipComment()
            if try !consumeNewline() { return }
        }
    }

    /// After a key/value pair or a header: ws [ comment ] ( newline / EOF )
    private mutating func expectEndOfLine(after what: String) throws {
        skipSpaces()
        try skipComment()
        guard current != nil else { return }
        if try !consumeNewline() { throw fail("expected the end of the line after \(what), saw \(shown)") }
    }

    // MARK: - Document

    /// toml = expression *( newline expression )
    /// expression = ws [ comment ] / ws keyval ws [ comment ] / ws table ws [ comment ]
    private mutating func scanDocument() throws {
        var table: [String] = []
        while true {
            try skipBlankLines()
            guard let c = current else { return }
            if c == UInt8(ascii: "[") {
                table = try scanHeader()
                try expectEndOfLine(after: "the table header")
            } else if isBareKeyByte(c) || c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                try scanKeyValue(prefix: table, depth: 0)
                try expectEndOfLine(after: "the value")
            } else {
                throw fail("expected a key, a [section] or a comment, saw \(shown)")
            }
        }
    }

    /// std-table = "[" ws key ws "]" ; array-table = "[[" ws key ws "]]"
    private mutating func scanHeader() throws -> [String] {
        let headerLine = line
        i += 1
        let isArray = current == UInt8(ascii: "[")
        if isArray { i += 1 }
        skipSpaces()
        guard isBareKeyByte(current) || current == UInt8(ascii: "\"") || current == UInt8(ascii: "'") else {
            throw fail("a table header must start with a key, e.g. [smtp]")
        }
        let key = try scanKey()
        guard current == UInt8(ascii: "]"), !isArray || peek(1) == UInt8(ascii: "]") else {
            throw fail("expected \"\(isArray ? "]]" : "]")\" to close the table header, saw \(shown)")
        }
        i += isArray ? 2 : 1
        record(key, at: headerLine)
        return key
    }

    /// keyval = key keyval-sep val ; keyval-sep = ws "=" ws
    private mutating func scanKeyValue(prefix: [String], depth: Int) throws {
        let keyLine = line
        let key = try scanKey()
        record(prefix + key, at: keyLine)
        guard current == UInt8(ascii: "=") else {
            throw fail("expected \"=\" after the key \"\(key.joined(separator: "."))\", saw \(shown)")
        }
        i += 1
        skipSpaces()
        try scanValue(prefix: prefix + key, depth: depth)
    }

    /// key = simple-key / dotted-key ; dotted-key = simple-key 1*( ws "." ws simple-key )
    /// Leaves the scanner after the trailing whitespace.
    private mutating func scanKey() throws -> [String] {
        var parts: [String] = []
        while true {
            skipSpaces()
            if isBareKeyByte(current) {
                let start = i
                while isBareKeyByte(current) { i += 1 }
                parts.append(String(decoding: bytes[start..<i], as: UTF8.self))
            } else if current == UInt8(ascii: "\"") {
                let start = i
                try scanBasicString()
                parts.append(Self.unquote(bytes[(start + 1)..<(i - 1)]))
            } else if current == UInt8(ascii: "'") {
                let start = i
                try scanLiteralString()
                parts.append(String(decoding: bytes[(start + 1)..<(i - 1)], as: UTF8.self))
            } else {
                throw fail("expected a key, saw \(shown)")
            }
            skipSpaces()
            guard current == UInt8(ascii: ".") else { return parts }
            i += 1
        }
    }

    /// Decodes \" and \\ in a quoted key (enough for lookups; other escapes are kept as written).
    private static func unquote(_ raw: ArraySlice<UInt8>) -> String {
        var out: [UInt8] = []
        var escaped = false
        for c in raw {
            if escaped || c != UInt8(ascii: "\\") { out.append(c); escaped = false } else { escaped = true }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Values

    /// val = string / boolean / array / inline-table / float / integer (date-time is not accepted)
    private mutating func scanValue(prefix: [String], depth: Int) throws {
        guard depth < Self.maxDepth else { throw fail("values are nested too deeply") }
        guard let c = current else { throw fail("expected a value, saw end of file") }
        switch c {
        case UInt8(ascii: "\""):
            if peek(1) == c && peek(2) == c { try scanMultiLineString(quote: c) } else { try scanBasicString() }
        case UInt8(ascii: "'"):
            if peek(1) == c && peek(2) == c { try scanMultiLineString(quote: c) } else { try scanLiteralString() }
        case UInt8(ascii: "["):
            try scanArray(prefix: prefix, depth: depth)
        case UInt8(ascii: "{"):
            try scanInlineTable(prefix: prefix, depth: depth)
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"), UInt8(ascii: "."):
            try scanScalar()
        default:
            throw fail("expected a value, saw \(shown)")
        }
    }

    /// boolean / integer (decimal) / float, as one token ended by whitespace, newline, "#", ",", "]" or "}".
    private mutating func scanScalar() throws {
        let start = i
        while let c = current, isBareKeyByte(c) || c == UInt8(ascii: "+") || c == UInt8(ascii: ".") || c == UInt8(ascii: ":") {
            i += 1
        }
        let token = Array(bytes[start..<i])
        let text = String(decoding: token, as: UTF8.self)
        if text == "true" || text == "false" || Self.isDecimalInteger(token[...]) || Self.isFloat(token) { return }
        if token.contains(UInt8(ascii: ":")) || (token.count >= 10 && token[4] == UInt8(ascii: "-") && isDigit(token.first)) {
            throw SyntaxError(line: line, message: "dates and times are not supported, saw \"\(text.prefix(40))\"")
        }
        if text.hasPrefix("0x") || text.hasPrefix("0o") || text.hasPrefix("0b") {
            throw SyntaxError(line: line, message: "only decimal integers are supported, saw \"\(text.prefix(40))\"")
        }
        throw SyntaxError(
            line: line,
            message: text.isEmpty
                ? "expected a value, saw \(shown)"
                : "invalid value \"\(text.prefix(40))\" (strings need quotes)")
    }

    /// dec-int = [ "-" / "+" ] ( DIGIT / digit1-9 1*( DIGIT / "_" DIGIT ) )
    static func isDecimalInteger(_ t: ArraySlice<UInt8>) -> Bool {
        var t = t
        if let first = t.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") { t = t.dropFirst() }
        guard let first = t.first, (0x30...0x39).contains(first) else { return false }
        if first == UInt8(ascii: "0") { return t.count == 1 }
        return isDigitRun(t)
    }

    /// DIGIT *( DIGIT / "_" DIGIT ) — underscores only between digits; leading zeros allowed.
    static func isDigitRun(_ t: ArraySlice<UInt8>) -> Bool {
        guard let first = t.first, let last = t.last, (0x30...0x39).contains(first), (0x30...0x39).contains(last) else { return false }
        var previousUnderscore = false
        for c in t {
            if c == UInt8(ascii: "_") {
                if previousUnderscore { return false }
                previousUnderscore = true
            } else if (0x30...0x39).contains(c) {
                previousUnderscore = false
            } else {
                return false
            }
        }
        return true
    }

    /// float = float-int-part ( exp / frac [ exp ] ) / special-float ; special-float = [ minus / plus ] ( inf / nan )
    static func isFloat(_ token: [UInt8]) -> Bool {
        var t = token[...]
        if let first = t.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") { t = t.dropFirst() }
        if t.elementsEqual("inf".utf8) || t.elementsEqual("nan".utf8) { return true }
        let expIndex = t.firstIndex { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
        let mantissa = t[..<(expIndex ?? t.endIndex)]
        let dot = mantissa.firstIndex(of: UInt8(ascii: "."))
        let intPart = mantissa[..<(dot ?? mantissa.endIndex)]
        guard isDecimalInteger(intPart), !(intPart.first == UInt8(ascii: "+") || intPart.first == UInt8(ascii: "-")) else { return false }
        if let dot {
            guard isDigitRun(mantissa[(dot + 1)...]) else { return false }
        } else if expIndex == nil {
            return false // an integer, not a float
        }
        if let expIndex {
            var exp = t[(expIndex + 1)...]
            if let sign = exp.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { exp = exp.dropFirst() }
            guard isDigitRun(exp) else { return false }
        }
        return true
    }

    /// basic-string = quotation-mark *basic-char quotation-mark (single line, escapes checked)
    private mutating func scanBasicString() throws {
        i += 1
        while true {
            guard let c = current else { throw fail("unterminated string") }
            if c == UInt8(ascii: "\"") { i += 1; return }
            if c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r") { throw fail("unterminated string (strings end on the same line)") }
            if c == UInt8(ascii: "\\") { try scanEscape(multiLine: false); continue }
            if isControl(c) { throw fail("\(shown) in a string (write it as an escape)") }
            i += 1
        }
    }

    /// literal-string = apostrophe *literal-char apostrophe (single line, no escapes)
    private mutating func scanLiteralString() throws {
        i += 1
        while true {
            guard let c = current else { throw fail("unterminated string") }
            if c == UInt8(ascii: "'") { i += 1; return }
            if c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r") { throw fail("unterminated string (strings end on the same line)") }
            if isControl(c) { throw fail("\(shown) in a string") }
            i += 1
        }
    }

    /// escaped = escape ( %x22 / %x5C / %x62 / %x66 / %x6E / %x72 / %x74 / %x75 4HEXDIG / %x55 8HEXDIG )
    /// In multi-line basic strings also a line-ending backslash: "\" ws newline *( wschar / newline ).
    private mutating func scanEscape(multiLine: Bool) throws {
        i += 1
        guard let c = current else { throw fail("unterminated string") }
        switch c {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"),
            UInt8(ascii: "r"), UInt8(ascii: "t"):
            i += 1
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let count = c == UInt8(ascii: "u") ? 4 : 8
            i += 1
            var value: UInt32 = 0
            for _ in 0..<count {
                guard let h = current, let digit = UInt32(String(UnicodeScalar(h)), radix: 16) else {
                    throw fail("\\\(String(UnicodeScalar(c))) needs \(count) hexadecimal digits")
                }
                value = value &* 16 &+ digit
                i += 1
            }
            guard UnicodeScalar(value) != nil else { throw fail("escape is not a Unicode scalar value") }
        default:
            if multiLine {
                let save = i
                skipSpaces()
                if try consumeNewline() {
                    while true {
                        skipSpaces()
                        if try !consumeNewline() { return }
                    }
                }
                i = save
            }
            throw fail("invalid escape \\\(shown)")
        }
    }

    /// ml-basic-string = """ [ newline ] ml-basic-body """ ; ml-literal-string = ''' [ newline ] ml-literal-body '''
    /// Up to two quotes may stand next to the closing delimiter.
    private mutating func scanMultiLineString(quote: UInt8) throws {
        i += 3
        _ = try consumeNewline()
        while true {
            guard let c = current else { throw fail("unterminated multi-line string") }
            if c == quote, peek(1) == quote, peek(2) == quote {
                var run = 0
                while current == quote { run += 1; i += 1 }
                guard run <= 5 else { throw fail("too many quotes closing a multi-line string") }
                return
            }
            if c == UInt8(ascii: "\\"), quote == UInt8(ascii: "\"") { try scanEscape(multiLine: true); continue }
            if try consumeNewline() { continue }
            if isControl(c) { throw fail("\(shown) in a string") }
            i += 1
        }
    }

    /// array = "[" ws-comment-newline [ val *( ws-comment-newline "," ws-comment-newline val ) [ "," ] ] ws-comment-newline "]"
    private mutating func scanArray(prefix: [String], depth: Int) throws {
        i += 1
        while true {
            try skipBlankLines()
            guard current != nil else { throw fail("unterminated array (missing \"]\")") }
            if current == UInt8(ascii: "]") { i += 1; return }
            try scanValue(prefix: prefix, depth: depth + 1)
            try skipBlankLines()
            if current == UInt8(ascii: ",") { i += 1; continue }
            if current == UInt8(ascii: "]") { i += 1; return }
            throw fail("expected \",\" or \"]\" in an array, saw \(shown)")
        }
    }

    /// inline-table = "{" ws [ keyval *( ws "," ws keyval ) ] ws "}" (one line, no trailing comma)
    private mutating func scanInlineTable(prefix: [String], depth: Int) throws {
        i += 1
        skipSpaces()
        if current == UInt8(ascii: "}") { i += 1; return }
        while true {
            try scanKeyValue(prefix: prefix, depth: depth + 1)
            skipSpaces()
            if current == UInt8(ascii: ",") { i += 1; skipSpaces(); continue }
            if current == UInt8(ascii: "}") { i += 1; return }
            throw fail("expected \",\" or \"}\" in an inline table, saw \(shown)")
        }
    }
}
