/// Section addressing (RFC 9051 §6.4.5, FETCH BODY[section] and BINARY[section]) over a parsed message.
///
/// ```
/// section-spec    = section-msgtext / (section-part ["." section-text])
/// section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
/// section-part    = nz-number *("." nz-number)
/// section-text    = section-msgtext / "MIME"
/// ```
/// Part numbers: a message that is not multipart has only part 1 (its body); the parts of a multipart are
/// numbered from 1; the parts of an encapsulated message (message/rfc822) are addressed through the part
/// that holds it (`2.1` is part 1 of the message in part 2). HEADER, HEADER.FIELDS and TEXT after a part
/// number need that part to be message/rfc822; MIME is the part's own MIME header.

public enum MIMESectionText: Sendable, Hashable {
    case header
    /// HEADER.FIELDS: field names as the client sent them.
    case headerFields([String])
    /// HEADER.FIELDS.NOT
    case headerFieldsNot([String])
    case text
    case mime
}

public struct MIMESectionSpec: Sendable, Hashable {
    /// The part numbers (empty: the whole message).
    public var part: [Int]
    public var text: MIMESectionText?

    public init(part: [Int] = [], text: MIMESectionText? = nil) {
        self.part = part
        self.text = text
    }
}

/// Why BINARY[section] could not be answered.
public enum MIMEBinaryError: Error, Sendable, Hashable {
    /// The part's Content-Transfer-Encoding is not one the server decodes: `NO [UNKNOWN-CTE]` (RFC 3516 §4.3).
    case unknownTransferEncoding
    /// No such part.
    case noSuchPart
}

extension MIMEMessage {
    /// The part at `path` (RFC 9051 §6.4.5); `[]` is the root. Nil when the part does not exist.
    public func part(at path: [Int]) -> MIMEPart? {
        var context = root // the message whose body parts are being numbered
        var target = root
        for (index, number) in path.enumerated() {
            guard number >= 1 else { return nil }
            if context.isMultipart {
                guard number <= context.children.count else { return nil }
                target = context.children[number - 1]
            } else if number == 1 {
                target = context
            } else {
                return nil
            }
            if index == path.count - 1 { break }
            // Going deeper: into an encapsulated message, or into a nested multipart.
            if let inner = target.encapsulated {
                context = inner
            } else if target.isMultipart {
                context = target
            } else {
                return nil
            }
        }
        return target
    }

    /// The octets of a BODY[section] (before any <partial>); nil when the section does not exist.
    public func section(_ spec: MIMESectionSpec) -> [UInt8]? {
        if spec.part.isEmpty {
            switch spec.text {
            case nil: return bytes
            case .mime?: return nil
            case .some(let text): return messageText(root, text)
            }
        }
        guard let part = part(at: spec.part) else { return nil }
        switch spec.text {
        case nil:
            return Array(slice(part.bodyRange))
        case .mime?:
            return Array(slice(part.header.range))
        case .some(let text):
            guard let inner = part.encapsulated else { return nil }
            return messageText(inner, text)
        }
    }

    /// HEADER / HEADER.FIELDS / TEXT of the message whose root part is `message`.
    func messageText(_ message: MIMEPart, _ text: MIMESectionText) -> [UInt8] {
        switch text {
        case .header, .mime:
            return Array(slice(message.header.range))
        case .text:
            return Array(slice(message.bodyRange))
        case .headerFields(let names):
            return headerFields(message.header, names: names, not: false)
        case .headerFieldsNot(let names):
            return headerFields(message.header, names: names, not: true)
        }
    }

    /// The fields whose name is (or with `not`, is not) in `names`, in message order, then the empty line
    /// when the header has one: RFC 3501 §6.4.5 "the blank line is included in all header fetches, except
    /// in the case of a message which has no body and no blank line" (as BODY[HEADER] does).
    /// Lines without a colon are never returned by HEADER.FIELDS and always by HEADER.FIELDS.NOT.
    public func headerFields(_ header: MIMEHeader, names: [String], not: Bool) -> [UInt8] {
        let wanted = Set(names.map { $0.lowercased() })
        var out: [UInt8] = []
        for field in header.fields {
            let matches = !field.name.isEmpty && wanted.contains(field.name.lowercased())
            guard matches != not else { continue }
            out += slice(field.range)
            if out.last != lf { out += [cr, lf] }
        }
        if headerEndsWithEmptyLine(header) { out += [cr, lf] }
        return out
    }

    /// Whether the header's octets end with an empty line (CRLF or a bare LF on its own).
    func headerEndsWithEmptyLine(_ header: MIMEHeader) -> Bool {
        let r = header.range
        guard r.upperBound > r.lowerBound, bytes[r.upperBound - 1] == lf else { return false }
        var i = r.upperBound - 2
        if i >= r.lowerBound, bytes[i] == cr { i -= 1 }
        return i < r.lowerBound || bytes[i] == lf
    }

    /// BINARY[part] (RFC 3516 §4, RFC 9051 §6.4.5): the part's body with its transfer encoding removed.
    /// `[]` is the whole message as stored. Multipart and message parts are returned as they are.
    public func binary(_ path: [Int]) -> Result<[UInt8], MIMEBinaryError> {
        if path.isEmpty { return .success(bytes) }
        guard let part = part(at: path) else { return .failure(.noSuchPart) }
        let body = slice(part.bodyRange)
        if part.kind != .leaf { return .success(Array(body)) }
        let encoding = MIMETransferEncoding(transferEncodingValue(part))
        guard let decoded = MIMETransferDecoding.decode(body, encoding) else {
            return .failure(.unknownTransferEncoding)
        }
        return .success(decoded)
    }

    /// The raw Content-Transfer-Encoding value of a part, as text.
    public func transferEncodingValue(_ part: MIMEPart) -> String? {
        part.header.value("Content-Transfer-Encoding", in: bytes).map { String(decoding: $0, as: UTF8.self) }
    }
}
