/// Text matching for IMAP SEARCH (RFC 9051 §6.4.4): "In all search keys that use strings, a message
/// matches the key if the string is a substring of the associated text. The matching is
/// case-insensitive." Header values are matched after RFC 2047 decoding, bodies after transfer and
/// charset decoding, so a search in UTF-8 finds text sent in any supported charset or encoding.
///
/// Case-insensitivity is Unicode lower-casing of both sides (close to the i;unicode-casemap comparator,
/// RFC 5051, without its decomposition step).

/// A search string prepared once for many messages.
public struct MIMESearchNeedle: Sendable, Hashable {
    public let text: String
    let folded: [UInt8]

    public init(_ text: String) {
        self.text = text
        self.folded = MIMESearchNeedle.fold(text)
    }

    public var isEmpty: Bool { folded.isEmpty }

    static func fold(_ text: String) -> [UInt8] { Array(text.lowercased().utf8) }

    /// Whether the folded `haystack` contains this needle.
    public func matches(_ haystack: String) -> Bool {
        if folded.isEmpty { return true }
        return MIMESearchNeedle.contains(MIMESearchNeedle.fold(haystack), folded)
    }

    static func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, hay.count >= needle.count else { return needle.isEmpty }
        let last = hay.count - needle.count
        var i = 0
        while i <= last {
            if hay[i] == first {
                var k = 1
                while k < needle.count, hay[i + k] == needle[k] { k += 1 }
                if k == needle.count { return true }
            }
            i += 1
        }
        return false
    }
}

extension MIMEMessage {
    /// The decoded (RFC 2047) unfolded value of every field named `name` in `header`.
    public func decodedValues(_ name: String, in header: MIMEHeader) -> [String] {
        header.fields(named: name).map { MIMEEncodedWord.decode(MIMEHeader.unfolded(bytes[$0.valueRange])) }
    }

    /// SEARCH HEADER / FROM / TO / CC / BCC / SUBJECT: a field named `name` in the top-level header whose
    /// decoded value contains `needle`. An empty needle matches any message that has the field.
    public func headerMatches(_ name: String, _ needle: MIMESearchNeedle) -> Bool {
        let fields = root.header.fields(named: name)
        if needle.isEmpty { return !fields.isEmpty }
        return fields.contains { needle.matches(MIMEEncodedWord.decode(MIMEHeader.unfolded(bytes[$0.valueRange]))) }
    }

    /// SEARCH BODY: the decoded text of the body's text parts (and of encapsulated messages, headers
    /// included) contains `needle`.
    public func bodyMatches(_ needle: MIMESearchNeedle) -> Bool {
        if needle.isEmpty { return true }
        return partTextMatches(root, needle, includeHeader: false)
    }

    /// SEARCH TEXT: the header or the body contains `needle`.
    public func textMatches(_ needle: MIMESearchNeedle) -> Bool {
        if needle.isEmpty { return true }
        return headerTextMatches(root.header, needle) || partTextMatches(root, needle, includeHeader: false)
    }

    func headerTextMatches(_ header: MIMEHeader, _ needle: MIMESearchNeedle) -> Bool {
        header.fields.contains { field in
            let decoded = MIMEEncodedWord.decode(MIMEHeader.unfolded(bytes[field.valueRange]))
            return needle.matches(field.name + ": " + decoded)
        }
    }

    func partTextMatches(_ part: MIMEPart, _ needle: MIMESearchNeedle, includeHeader: Bool) -> Bool {
        if includeHeader, headerTextMatches(part.header, needle) { return true }
        switch part.kind {
        case .multipart:
            return part.children.contains { partTextMatches($0, needle, includeHeader: false) }
        case .message:
            return part.children.contains { partTextMatches($0, needle, includeHeader: true) }
        case .leaf:
            guard part.contentType.isText else { return false }
            return needle.matches(decodedText(part))
        }
    }

    /// The text of a leaf part: transfer encoding removed (unknown encodings: raw), then its charset.
    public func decodedText(_ part: MIMEPart) -> String {
        let raw = slice(part.bodyRange)
        let decoded = MIMETransferDecoding.decode(raw, MIMETransferEncoding(transferEncodingValue(part))) ?? Array(raw)
        return MIMECharset.decode(decoded, charset: part.contentType.parameter("charset"))
    }
}
