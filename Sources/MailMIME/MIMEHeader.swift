/// The header section of one message or MIME part (RFC 5322 §2.2, §3.6; RFC 2045 §3), by byte ranges into
/// the message, so BODY[HEADER.FIELDS (…)] returns the fields exactly as stored.
///
/// Lenient like Dovecot's message-header-parser: CRLF or bare LF ends a line; a line starting with SP or
/// HTAB continues the field before it; an empty line ends the section; a line without a colon is kept
/// (it is part of the header bytes) but has no name; a section without an empty line runs to the end
/// of the part.

/// One header field: where it is and where its value starts.
public struct MIMEHeaderField: Sendable, Hashable {
    /// The name as written (trailing whitespace before the colon removed); empty for a line without a colon.
    public var name: String
    /// The whole field: from the first octet of the name to the end of its last line, line end included.
    public var range: Range<Int>
    /// The value: after the colon up to the end of the last line's content (line end excluded).
    public var valueRange: Range<Int>
}

public struct MIMEHeader: Sendable, Hashable {
    public var fields: [MIMEHeaderField]
    /// The header bytes, including the empty line that ends them when there is one.
    public var range: Range<Int>

    public init(fields: [MIMEHeaderField] = [], range: Range<Int>) {
        self.fields = fields
        self.range = range
    }

    /// Parses the header that starts at `start` and may not extend past `end`. The returned range ends
    /// after the empty line, or at `end` when there is none; the body starts at `range.upperBound`.
    public static func parse(_ bytes: [UInt8], from start: Int, to end: Int) -> MIMEHeader {
        var fields: [MIMEHeaderField] = []
        var i = start
        var current: (nameEnd: Int, colon: Int?, start: Int, contentEnd: Int, next: Int)? = nil

        func flush() {
            guard let c = current else { return }
            current = nil
            guard fields.count < MIMELimits.maxHeaderFields else { return }
            var name = ""
            var valueStart = c.contentEnd
            if let colon = c.colon {
                var nameEnd = colon
                while nameEnd > c.start, isWSP(bytes[nameEnd - 1]) { nameEnd -= 1 }
                name = String(decoding: bytes[c.start..<nameEnd], as: UTF8.self)
                valueStart = colon + 1
            }
            fields.append(
                MIMEHeaderField(
                    name: name, range: c.start..<c.next,
                    valueRange: min(valueStart, c.contentEnd)..<c.contentEnd))
        }

        while i < end {
            let (contentEnd, next) = bytes.lineBounds(from: i, limit: end)
            if contentEnd == i, next > i {
                // The empty line (CRLF or LF alone): the header ends after it.
                flush()
                return MIMEHeader(fields: fields, range: start..<next)
            }
            if isWSP(bytes[i]), current != nil {
                // A continuation line (RFC 5322 §2.2.3 folding).
                current?.contentEnd = contentEnd
                current?.next = next
            } else {
                flush()
                var colon: Int? = nil
                var j = i
                while j < contentEnd {
                    if bytes[j] == UInt8(ascii: ":") { colon = j; break }
                    j += 1
                }
                current = (colon ?? contentEnd, colon, i, contentEnd, next)
            }
            i = next
        }
        flush()
        return MIMEHeader(fields: fields, range: start..<end)
    }

    /// The fields named `name` (ASCII case-insensitive), in order.
    public func fields(named name: String) -> [MIMEHeaderField] {
        let lower = name.lowercased()
        return fields.filter { $0.name.count == lower.count && $0.name.lowercased() == lower }
    }

    /// The first field named `name`.
    public func first(_ name: String) -> MIMEHeaderField? {
        let lower = name.lowercased()
        return fields.first { $0.name.count == lower.count && $0.name.lowercased() == lower }
    }

    /// The value of the first field named `name`, unfolded (CR and LF removed) and trimmed; nil when
    /// absent. Raw octets: encoded words are not decoded.
    public func value(_ name: String, in bytes: [UInt8]) -> [UInt8]? {
        guard let field = first(name) else { return nil }
        return MIMEHeader.unfolded(bytes[field.valueRange])
    }

    /// Removes CR and LF (RFC 5322 §2.2.3 unfolding) and trims surrounding whitespace.
    public static func unfolded(_ value: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(value.count)
        for b in value where b != cr && b != lf { out.append(b) }
        return Array(trimmedWhitespace(out[...]))
    }
}
