/// Content-Type (RFC 2045 §5.1), Content-Disposition (RFC 2183 §2) and their parameters, with RFC 2231
/// continuations joined (§3) and extended values kept in their `charset'lang'value` form under the
/// `name*` key (§4), as Dovecot reports them in BODYSTRUCTURE.
///
/// ```
/// content := "Content-Type" ":" type "/" subtype *(";" parameter)
/// parameter := attribute "=" value
/// value := token / quoted-string
/// ```
/// Lenient: comments are skipped, a missing value is empty, a parameter without "=" is ignored, a broken
/// type falls back to the default (text/plain; charset=us-ascii, or message/rfc822 in a digest).
import Foundation

public struct MIMEParameter: Sendable, Hashable {
    /// The attribute as written (RFC 2231 section markers removed; `*` kept for extended values).
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

public struct MIMEContentType: Sendable, Hashable {
    /// Type and subtype as written (case preserved, as Dovecot reports them).
    public var type: String
    public var subtype: String
    public var parameters: [MIMEParameter]
    /// True when the part had no (usable) Content-Type field and this is the default.
    public var isDefault: Bool

    public init(type: String, subtype: String, parameters: [MIMEParameter] = [], isDefault: Bool = false) {
        self.type = type
        self.subtype = subtype
        self.parameters = parameters
        self.isDefault = isDefault
    }

    /// RFC 2045 §5.2: the default is text/plain; charset=us-ascii. RFC 2046 §5.1.5: in multipart/digest
    /// the default is message/rfc822.
    public static func defaultType(inDigest: Bool) -> MIMEContentType {
        inDigest
            ? MIMEContentType(type: "message", subtype: "rfc822", isDefault: true)
            : MIMEContentType(type: "text", subtype: "plain", parameters: [MIMEParameter("charset", "us-ascii")], isDefault: true)
    }

    public var lowercasedType: String { type.lowercased() }
    public var lowercasedSubtype: String { subtype.lowercased() }
    public var isMultipart: Bool { lowercasedType == "multipart" }
    public var isText: Bool { lowercasedType == "text" }
    /// message/rfc822 and message/global (RFC 6532 §3.7) carry a whole message.
    public var isMessage: Bool {
        lowercasedType == "message" && (lowercasedSubtype == "rfc822" || lowercasedSubtype == "global")
    }

    /// The value of parameter `name` (case-insensitive), or of its RFC 2231 extended form decoded.
    public func parameter(_ name: String) -> String? {
        MIMEParameterList.value(name, in: parameters)
    }

    /// Parses a Content-Type value; nil when it has no `type/subtype`.
    public static func parse(_ value: [UInt8]) -> MIMEContentType? {
        var scanner = MIMETokenScanner(value)
        guard let type = scanner.token(), scanner.consume(UInt8(ascii: "/")), let subtype = scanner.token() else {
            return nil
        }
        let params = MIMEParameterList.parse(&scanner)
        return MIMEContentType(type: type, subtype: subtype, parameters: params)
    }
}

/// Content-Disposition (RFC 2183): `inline` / `attachment` / other, with parameters.
public struct MIMEDisposition: Sendable, Hashable {
    public var value: String
    public var parameters: [MIMEParameter]

    public static func parse(_ value: [UInt8]) -> MIMEDisposition? {
        var scanner = MIMETokenScanner(value)
        guard let token = scanner.token() else { return nil }
        return MIMEDisposition(value: token, parameters: MIMEParameterList.parse(&scanner))
    }
}

enum MIMEParameterList {
    /// `*(";" attribute "=" value)`, RFC 2231 continuations joined.
    static func parse(_ scanner: inout MIMETokenScanner) -> [MIMEParameter] {
        var raw: [(name: String, value: String)] = []
        while !scanner.atEnd {
            guard scanner.consume(UInt8(ascii: ";")) else {
                // Garbage between parameters: skip to the next ";".
                scanner.skipPast(UInt8(ascii: ";"))
                if scanner.atEnd { break }
                continue
            }
            guard let name = scanner.token() else { continue }
            guard scanner.consume(UInt8(ascii: "=")) else { continue }
            let value = scanner.quotedString() ?? scanner.token(allowingSlashAndEquals: true) ?? ""
            if raw.count < 256 { raw.append((name, value)) }
        }
        return joinContinuations(raw)
    }

    /// RFC 2231 §3: `name*0`, `name*1`, … joined in order; if any section is extended (`name*0*`), the
    /// result is reported as `name*` with the sections concatenated (the first carries charset'lang').
    static func joinContinuations(_ raw: [(name: String, value: String)]) -> [MIMEParameter] {
        enum Entry { case plain(MIMEParameter), group(spelled: String, key: String) }
        var entries: [Entry] = []
        var sections: [String: [(index: Int, extended: Bool, value: String)]] = [:]
        for (name, value) in raw {
            let parts = name.split(separator: "*", omittingEmptySubsequences: false)
            if parts.count >= 2, let index = Int(parts[1]), index >= 0, index < 1000,
                parts.count == 2 || (parts.count == 3 && parts[2].isEmpty)
            {
                let key = parts[0].lowercased()
                if sections[key] == nil {
                    sections[key] = []
                    entries.append(.group(spelled: String(parts[0]), key: key))
                }
                sections[key]?.append((index, parts.count == 3, value))
            } else {
                entries.append(.plain(MIMEParameter(name, value)))
            }
        }
        return entries.map { entry in
            switch entry {
            case .plain(let p):
                return p
            case .group(let spelled, let key):
                let parts = (sections[key] ?? []).sorted { $0.index < $1.index }
                let extended = parts.contains { $0.extended }
                return MIMEParameter(extended ? spelled + "*" : spelled, parts.map(\.value).joined())
            }
        }
    }

    /// The value of `name`, plain or RFC 2231-extended (`name*=charset'lang'%XX…`, decoded).
    static func value(_ name: String, in params: [MIMEParameter]) -> String? {
        let lower = name.lowercased()
        if let p = params.first(where: { $0.name.lowercased() == lower }) { return p.value }
        if let p = params.first(where: { $0.name.lowercased() == lower + "*" }) { return decodeExtended(p.value) }
        return nil
    }

    /// RFC 2231 §4: `charset'language'percent-encoded`.
    static func decodeExtended(_ value: String) -> String {
        let parts = value.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return value }
        var bytes: [UInt8] = []
        let utf8 = Array(parts[2].utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "%"), i + 2 < utf8.count,
                let h = MIMETransferDecoding.hexValue(utf8[i + 1]), let l = MIMETransferDecoding.hexValue(utf8[i + 2])
            {
                bytes.append(h << 4 | l)
                i += 3
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        return MIMECharset.decode(bytes, charset: String(parts[0]))
    }
}

/// A scanner for RFC 2045 structured values: tokens, quoted strings, tspecials, comments skipped.
struct MIMETokenScanner {
    let bytes: [UInt8]
    var i = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool {
        mutating get { skipCFWS(); return i >= bytes.count }
    }

    /// RFC 2045 §5.1 tspecials.
    static func isTSpecial(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "@"),
            UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: ":"), UInt8(ascii: "\\"), UInt8(ascii: "\""),
            UInt8(ascii: "/"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "?"), UInt8(ascii: "="):
            return true
        default: return false
        }
    }

    /// Skips whitespace and (nested) comments.
    mutating func skipCFWS() {
        while i < bytes.count {
            let b = bytes[i]
            if isWSP(b) || b == cr || b == lf {
                i += 1
            } else if b == UInt8(ascii: "(") {
                var depth = 0
                while i < bytes.count {
                    if bytes[i] == UInt8(ascii: "\\") { i += 2; continue }
                    if bytes[i] == UInt8(ascii: "(") { depth += 1 }
                    if bytes[i] == UInt8(ascii: ")") { depth -= 1; if depth == 0 { i += 1; break } }
                    i += 1
                }
                if i > bytes.count { i = bytes.count }
            } else {
                return
            }
        }
    }

    mutating func consume(_ b: UInt8) -> Bool {
        skipCFWS()
        guard i < bytes.count, bytes[i] == b else { return false }
        i += 1
        return true
    }

    mutating func skipPast(_ b: UInt8) {
        while i < bytes.count, bytes[i] != b { i += 1 }
    }

    /// A token (no tspecials, no controls, no space). `allowingSlashAndEquals`: lenient values
    /// such as unquoted `boundary=a/b=c`.
    mutating func token(allowingSlashAndEquals: Bool = false) -> String? {
        skipCFWS()
        let start = i
        while i < bytes.count {
            let b = bytes[i]
            if b <= sp || b == 0x7F { break }
            if MIMETokenScanner.isTSpecial(b) {
                if allowingSlashAndEquals,
                    b == UInt8(ascii: "/") || b == UInt8(ascii: "=") || b == UInt8(ascii: "?")
                        || b == UInt8(ascii: ":") || b == UInt8(ascii: "@")
                {
                    i += 1
                    continue
                }
                break
            }
            i += 1
        }
        guard i > start else { return nil }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    /// A quoted string with its quoting removed; an unterminated one runs to the end.
    mutating func quotedString() -> String? {
        skipCFWS()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return nil }
        i += 1
        var out: [UInt8] = []
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\\"), i + 1 < bytes.count {
                out.append(bytes[i + 1])
                i += 2
                continue
            }
            if b == UInt8(ascii: "\"") { i += 1; break }
            if b != cr && b != lf { out.append(b) }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
