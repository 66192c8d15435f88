/// One header field of a message (RFC 5322 §2.2) exactly as received: `raw` is the whole field from the
/// first octet of its name to the end of its last (folded) line, without the final CRLF; `range` is where it
/// sits in the message.
public struct HeaderField: Sendable, Equatable {
    public var raw: [UInt8]
    public var range: Range<Int>
    /// The field name as written (without trailing whitespace before the colon).
    public var name: String
    public var lowercasedName: String
    /// The octets after the colon (unfolded only by the caller).
    public var value: ArraySlice<UInt8>

    public init(raw: [UInt8], range: Range<Int>) {
        self.raw = raw
        self.range = range
        if let colon = raw.firstIndex(of: UInt8(ascii: ":")) {
            var nameEnd = colon
            while nameEnd > 0, raw[nameEnd - 1] == 0x20 || raw[nameEnd - 1] == 0x09 { nameEnd -= 1 }
            self.name = String(decoding: raw[..<nameEnd], as: UTF8.self)
            self.value = raw[(colon + 1)...]
        } else {
            self.name = ""
            self.value = raw[raw.endIndex...]
        }
        self.lowercasedName = name.lowercased()
    }

    /// The value unfolded (CRLFs removed), as text; leading and trailing whitespace removed.
    public var unfoldedValue: String {
        var out: [UInt8] = []
        out.reserveCapacity(value.count)
        for b in value where b != 0x0d && b != 0x0a { out.append(b) }
        return String(decoding: out, as: UTF8.self).trimmingWSP()
    }
}

/// The header section of a message: its fields in order and where the body starts.
public struct MessageHeader: Sendable, Equatable {
    public var fields: [HeaderField]
    /// Offset of the first body octet (after the empty line), or the message length when there is no body.
    public var bodyOffset: Int
    /// False when the header section did not end within the limit (the fields are then incomplete).
    public var isComplete: Bool

    /// The fields named `name` (case-insensitive), in message order.
    public func fields(named name: String) -> [HeaderField] {
        let n = name.lowercased()
        return fields.filter { $0.lowercasedName == n }
    }

    /// Parses the header section at the start of `bytes`: lines end with CRLF, a line starting with SP or
    /// HTAB continues the field before it, an empty line ends the section. Bare LF is accepted as a line end
    /// (files written by hand). At most `limit` octets are read.
    public static func parse(_ bytes: [UInt8], limit: Int = 1 << 20) -> MessageHeader {
        var fields: [HeaderField] = []
        let end = min(bytes.count, limit)
        var i = 0
        var fieldStart: Int? = nil
        var fieldEnd = 0
        func flush() {
            if let s = fieldStart, fieldEnd > s {
                fields.append(HeaderField(raw: Array(bytes[s..<fieldEnd]), range: s..<fieldEnd))
            }
            fieldStart = nil
        }
        while i < end {
            // Find this line's end.
            var j = i
            while j < end, bytes[j] != 0x0a { j += 1 }
            guard j < end else {
                // No line end within the limit: the rest is one last field (a message without a body).
                if bytes.count <= limit {
                    if i < end, bytes[i] == 0x20 || bytes[i] == 0x09, fieldStart != nil {
                        fieldEnd = end
                    } else {
                        flush()
                        fieldStart = i
                        fieldEnd = end
                    }
                    flush()
                    return MessageHeader(fields: fields, bodyOffset: bytes.count, isComplete: true)
                }
                flush()
                return MessageHeader(fields: fields, bodyOffset: end, isComplete: false)
            }
            let contentEnd = (j > i && bytes[j - 1] == 0x0d) ? j - 1 : j
            if contentEnd == i {
                // The empty line.
                flush()
                return MessageHeader(fields: fields, bodyOffset: j + 1, isComplete: true)
            }
            if bytes[i] == 0x20 || bytes[i] == 0x09, fieldStart != nil {
                fieldEnd = contentEnd
            } else {
                flush()
                fieldStart = i
                fieldEnd = contentEnd
            }
            i = j + 1
        }
        flush()
        return MessageHeader(fields: fields, bodyOffset: min(i, bytes.count), isComplete: bytes.count <= limit)
    }
}

extension String {
    /// Removes leading and trailing SP, HTAB, CR and LF.
    func trimmingWSP() -> String {
        let s = unicodeScalars
        guard let first = s.firstIndex(where: { !($0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n") }) else { return "" }
        guard let last = s.lastIndex(where: { !($0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n") }) else { return "" }
        return String(s[first...last])
    }
}
