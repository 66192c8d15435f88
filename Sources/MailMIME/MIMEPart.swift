/// The MIME structure of a message (RFC 2045, RFC 2046 §5), by byte ranges into the message octets.
///
/// Multipart bodies are split at their boundary delimiter lines (RFC 2046 §5.1.1: `"--" boundary` at the
/// start of a line, optionally followed by `--` for the close delimiter and transport padding). The CRLF
/// before a delimiter belongs to the delimiter, so a part's body ends before it. As in Dovecot:
/// - a delimiter of an enclosing multipart also ends an inner one that was never closed;
/// - a multipart without a boundary parameter, or without any delimiter line, has no children and is
///   reported as a leaf (its body is the preamble);
/// - message/rfc822 and message/global bodies are parsed as messages whatever their transfer encoding;
/// - past `MIMELimits.maxDepth` levels or `MIMELimits.maxParts` parts, content is a leaf.

/// One part: its header, its body, and its sub-parts.
public struct MIMEPart: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// A leaf (text, image, application, a multipart that could not be split, …).
        case leaf
        /// multipart/*: `children` are the body parts, in order.
        case multipart
        /// message/rfc822 or message/global: `children[0]` is the encapsulated message, whose header is
        /// the message header and whose body is addressed as that message's part 1 (or its parts).
        case message
    }

    public var kind: Kind
    public var header: MIMEHeader
    public var contentType: MIMEContentType
    /// The body: after the header's empty line up to the end of the part.
    public var bodyRange: Range<Int>
    /// Lines in the body (LF count, plus one for an unterminated last line), for text/* and message/*.
    public var bodyLines: Int
    public var children: [MIMEPart]

    /// The whole part: header and body.
    public var range: Range<Int> { header.range.lowerBound..<bodyRange.upperBound }
    public var isMultipart: Bool { kind == .multipart }
    public var isMessage: Bool { kind == .message }
    /// The encapsulated message of a message/rfc822 part.
    public var encapsulated: MIMEPart? { kind == .message ? children.first : nil }
}

/// A parsed message: the octets and the root part (whose header is the message header).
public struct MIMEMessage: Sendable {
    public let bytes: [UInt8]
    public let root: MIMEPart

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        var parser = MIMEParser(bytes: bytes)
        self.root = parser.parsePart(start: 0, end: bytes.count, depth: 0, inDigest: false, boundaries: [])
    }

    /// The octets of a range (clamped to the message).
    public func slice(_ range: Range<Int>) -> ArraySlice<UInt8> {
        let lower = max(0, min(range.lowerBound, bytes.count))
        let upper = max(lower, min(range.upperBound, bytes.count))
        return bytes[lower..<upper]
    }

    public var header: MIMEHeader { root.header }

    /// The unfolded raw value of a top-level header field.
    public func headerValue(_ name: String) -> [UInt8]? { root.header.value(name, in: bytes) }
}

struct MIMEParser {
    let bytes: [UInt8]
    var partCount = 0

    /// Parses the part in `start..<end`: header, then the body according to the Content-Type.
    /// `boundaries` are the delimiters of enclosing multiparts.
    mutating func parsePart(start: Int, end: Int, depth: Int, inDigest: Bool, boundaries: Set<[UInt8]>) -> MIMEPart {
        partCount += 1
        let header = MIMEHeader.parse(bytes, from: start, to: end)
        let contentType =
            header.value("Content-Type", in: bytes).flatMap(MIMEContentType.parse)
            ?? MIMEContentType.defaultType(inDigest: inDigest)
        let bodyRange = header.range.upperBound..<end
        var part = MIMEPart(
            kind: .leaf, header: header, contentType: contentType, bodyRange: bodyRange,
            bodyLines: 0, children: [])
        let canNest = depth < MIMELimits.maxDepth && partCount < MIMELimits.maxParts
        if contentType.isMultipart, canNest, let boundary = contentType.parameter("boundary"), !boundary.isEmpty,
            boundary.utf8.count <= 200
        {
            let children = parseMultipart(
                body: bodyRange, boundary: Array(boundary.utf8), depth: depth,
                digest: contentType.lowercasedSubtype == "digest", outer: boundaries)
            if !children.isEmpty {
                part.kind = .multipart
                part.children = children
            }
        } else if contentType.isMessage, canNest {
            part.kind = .message
            part.children = [
                parsePart(
                    start: bodyRange.lowerBound, end: bodyRange.upperBound, depth: depth + 1,
                    inDigest: false, boundaries: boundaries)
            ]
        }
        if part.kind != .multipart {
            part.bodyLines = countLines(bodyRange)
        }
        return part
    }

    /// Splits a multipart body at its delimiter lines; an enclosing delimiter ends it.
    mutating func parseMultipart(
        body: Range<Int>, boundary: [UInt8], depth: Int, digest: Bool,
        outer: Set<[UInt8]>
    ) -> [MIMEPart] {
        var children: [MIMEPart] = []
        var partStart: Int? = nil
        var i = body.lowerBound
        var nested = outer
        nested.insert(boundary)
        while i < body.upperBound {
            let (contentEnd, next) = bytes.lineBounds(from: i, limit: body.upperBound)
            if contentEnd - i >= 2, bytes[i] == UInt8(ascii: "-"), bytes[i + 1] == UInt8(ascii: "-") {
                let candidates = delimiterCandidates(lineStart: i, contentEnd: contentEnd)
                let isOwn = candidates.plain == boundary ? false : (candidates.close == boundary ? true : nil)
                if let isClose = isOwn {
                    // The CRLF before the delimiter line belongs to the delimiter (RFC 2046 §5.1.1).
                    if let s = partStart, partCount < MIMELimits.maxParts {
                        children.append(
                            parsePart(
                                start: s, end: bodyEnd(before: i, floor: s), depth: depth + 1,
                                inDigest: digest, boundaries: nested))
                    }
                    if isClose { return children }
                    partStart = next
                    i = next
                    continue
                }
                // An enclosing multipart's delimiter ends this one.
                if outer.contains(candidates.plain) || candidates.close.map(outer.contains) == true {
                    if let s = partStart {
                        children.append(
                            parsePart(
                                start: s, end: bodyEnd(before: i, floor: s), depth: depth + 1,
                                inDigest: digest, boundaries: nested))
                    }
                    return children
                }
            }
            i = next
        }
        if let s = partStart {
            children.append(parsePart(start: s, end: body.upperBound, depth: depth + 1, inDigest: digest, boundaries: nested))
        }
        return children
    }

    /// For a line `--X` (trailing whitespace, the transport padding, removed): `X` as a delimiter, and
    /// `X` without a final `--` as a close delimiter.
    func delimiterCandidates(lineStart: Int, contentEnd: Int) -> (plain: [UInt8], close: [UInt8]?) {
        var e = contentEnd
        while e > lineStart + 2, isWSP(bytes[e - 1]) { e -= 1 }
        let plain = Array(bytes[(lineStart + 2)..<e])
        var close: [UInt8]? = nil
        if plain.count >= 2, plain[plain.count - 1] == UInt8(ascii: "-"), plain[plain.count - 2] == UInt8(ascii: "-") {
            close = Array(plain.dropLast(2))
        }
        return (plain, close)
    }

    /// The end of a body part that is followed by a delimiter line at `lineStart`: before its CRLF (or LF).
    func bodyEnd(before lineStart: Int, floor: Int) -> Int {
        var e = lineStart
        if e > floor, bytes[e - 1] == lf { e -= 1 }
        if e > floor, bytes[e - 1] == cr { e -= 1 }
        return e
    }

    func countLines(_ range: Range<Int>) -> Int {
        guard !range.isEmpty else { return 0 }
        var n = 0
        for i in range where bytes[i] == lf { n += 1 }
        if bytes[range.upperBound - 1] != lf { n += 1 }
        return n
    }
}
