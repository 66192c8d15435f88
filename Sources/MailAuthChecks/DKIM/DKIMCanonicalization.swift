import Crypto

/// DKIM canonicalization algorithms (RFC 6376 §3.4).
public enum DKIMCanonicalization: String, Sendable, Hashable {
    case simple, relaxed

    /// §3.4.1 / §3.4.2 for one header field; the result ends with CRLF.
    func header(_ raw: [UInt8]) -> [UInt8] {
        switch self {
        case .simple:
            return raw + [0x0d, 0x0a]
        case .relaxed:
            var out: [UInt8] = []
            out.reserveCapacity(raw.count + 2)
            guard let colon = raw.firstIndex(of: UInt8(ascii: ":")) else { return raw + [0x0d, 0x0a] }
            // Name: lower-cased, whitespace before the colon removed.
            var nameEnd = colon
            while nameEnd > 0, raw[nameEnd - 1] == 0x20 || raw[nameEnd - 1] == 0x09 { nameEnd -= 1 }
            for b in raw[..<nameEnd] { out.append((b >= 0x41 && b <= 0x5a) ? b + 0x20 : b) }
            out.append(UInt8(ascii: ":"))
            // Value: unfold, runs of WSP to one SP, no WSP at either end.
            var pendingSpace = false
            var started = false
            for b in raw[(colon + 1)...] {
                if b == 0x0d || b == 0x0a { continue }
                if b == 0x20 || b == 0x09 { pendingSpace = true; continue }
                if pendingSpace && started { out.append(0x20) }
                pendingSpace = false
                started = true
                out.append(b)
            }
            out.append(contentsOf: [0x0d, 0x0a])
            return out
        }
    }
}

/// Streams a message body through one canonicalization (§3.4.3, §3.4.4) into SHA-256, honouring an l=
/// limit, and counts the canonical length. Feed it chunks with `update`, then call `finish` once.
struct DKIMBodyHasher {
    let canonicalization: DKIMCanonicalization
    let limit: Int?
    private var hash = SHA256()
    private(set) var canonicalLength = 0
    private var hashed = 0
    private var pendingEmptyLines = 0
    private var lineHasContent = false
    private var pendingSpace = false
    private var sawCR = false
    private var out: [UInt8] = []

    init(canonicalization: DKIMCanonicalization, limit: Int? = nil) {
        self.canonicalization = canonicalization
        self.limit = limit
        out.reserveCapacity(16 * 1024)
    }

    private mutating func emit(_ b: UInt8) {
        out.append(b)
        if out.count >= 16 * 1024 { drain() }
    }

    private mutating func drain() {
        canonicalLength += out.count
        if let limit {
            let room = max(0, limit - hashed)
            if room > 0 {
                let n = min(room, out.count)
                hash.update(data: out[0..<n])
                hashed += n
            }
        } else {
            hash.update(data: out)
            hashed += out.count
        }
        out.removeAll(keepingCapacity: true)
    }

    private mutating func content(_ b: UInt8) {
        if !lineHasContent {
            for _ in 0..<pendingEmptyLines { emit(0x0d); emit(0x0a) }
            pendingEmptyLines = 0
            lineHasContent = true
        }
        if pendingSpace { emit(0x20); pendingSpace = false }
        emit(b)
    }

    private mutating func endOfLine() {
        if lineHasContent {
            emit(0x0d); emit(0x0a)
        } else {
            pendingEmptyLines += 1
        }
        lineHasContent = false
        pendingSpace = false
    }

    mutating func update<C: Collection>(_ chunk: C) where C.Element == UInt8 {
        let relaxed = canonicalization == .relaxed
        for b in chunk {
            if sawCR {
                sawCR = false
                if b == 0x0a { endOfLine(); continue }
                content(0x0d)
            }
            if b == 0x0d { sawCR = true; continue }
            if relaxed && (b == 0x20 || b == 0x09) {
                // Leading whitespace of a line also becomes one SP, but only once something follows it.
                if !lineHasContent {
                    // Remember it: the line is still "empty" unless visible content follows.
                    pendingSpace = true
                    continue
                }
                pendingSpace = true
                continue
            }
            content(b)
        }
    }

    /// The body hash and the canonical body length (the whole body, whatever l= says).
    mutating func finish() -> (digest: [UInt8], length: Int) {
        if sawCR { sawCR = false; content(0x0d) }
        if lineHasContent { endOfLine() }
        if canonicalization == .simple && canonicalLength + out.count == 0 {
            // §3.4.3: an empty body is canonicalized as one CRLF.
            emit(0x0d); emit(0x0a)
        }
        drain()
        return (Array(hash.finalize()), canonicalLength)
    }
}

/// A DKIM tag=value list (RFC 6376 §3.2), keeping where each value sits in the parsed bytes so the b= value
/// of a signature can be blanked in place.
struct DKIMTagList {
    struct Tag {
        var name: String
        var value: String
        var valueRange: Range<Int>
    }

    var tags: [Tag] = []

    subscript(_ name: String) -> String? { tags.first { $0.name == name }?.value }

    struct SyntaxError: Error, CustomStringConvertible { var description: String }

    static func isWSP(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0d || b == 0x0a }

    /// Parses `bytes[range]`. Tag names are ALPHA *( ALPHA / DIGIT / "_" ); a duplicate tag is an error.
    static func parse(_ bytes: [UInt8], range: Range<Int>) throws(SyntaxError) -> DKIMTagList {
        var list = DKIMTagList()
        var seen = Set<String>()
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            var specEnd = i
            while specEnd < end, bytes[specEnd] != UInt8(ascii: ";") { specEnd += 1 }
            var s = i, e = specEnd
            while s < e, isWSP(bytes[s]) { s += 1 }
            while e > s, isWSP(bytes[e - 1]) { e -= 1 }
            if s == e {
                // Only allowed as the empty spec after a final ";".
                guard specEnd >= end else { throw SyntaxError(description: "empty tag") }
                break
            }
            guard let eq = bytes[s..<e].firstIndex(of: UInt8(ascii: "=")) else {
                throw SyntaxError(description: "tag without '='")
            }
            var nameEnd = eq
            while nameEnd > s, isWSP(bytes[nameEnd - 1]) { nameEnd -= 1 }
            let nameBytes = bytes[s..<nameEnd]
            guard let first = nameBytes.first, (first | 0x20) >= 0x61, (first | 0x20) <= 0x7a,
                nameBytes.allSatisfy({ ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7a || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f })
            else {
                throw SyntaxError(description: "bad tag name")
            }
            let name = String(decoding: nameBytes, as: UTF8.self)
            guard seen.insert(name).inserted else { throw SyntaxError(description: "duplicate tag \(name)=") }
            var vs = eq + 1
            while vs < e, isWSP(bytes[vs]) { vs += 1 }
            let value = String(decoding: bytes[vs..<e], as: UTF8.self)
            list.tags.append(Tag(name: name, value: value, valueRange: (eq + 1)..<specEnd))
            i = specEnd + 1
        }
        return list
    }

    /// A value with all whitespace (FWS) removed: base64 values (b=, bh=, p=).
    static func compact(_ value: String) -> String {
        String(value.unicodeScalars.filter { !($0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n") })
    }
}
