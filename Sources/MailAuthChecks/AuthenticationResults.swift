/// Renders the Authentication-Results header field (RFC 8601) and finds incoming ones that claim our
/// authserv-id (§5: they must be removed before delivery).
public struct AuthenticationResults: Sendable {
    public var authservID: String

    public init(authservID: String) {
        self.authservID = authservID
    }

    /// One "method=result (comment) ptype.property=value …" entry.
    public struct Entry: Sendable, Equatable {
        public var method: String
        public var result: String
        public var comment: String?
        public var properties: [(String, String)]

        public init(method: String, result: String, comment: String? = nil, properties: [(String, String)] = []) {
            self.method = method
            self.result = result
            self.comment = comment
            self.properties = properties
        }

        public static func == (a: Entry, b: Entry) -> Bool {
            a.method == b.method && a.result == b.result && a.comment == b.comment
                && a.properties.map { $0.0 + "=" + $0.1 } == b.properties.map { $0.0 + "=" + $0.1 }
        }
    }

    /// The whole field, folded, CRLF-terminated. No entries renders "; none" (§2.2).
    public func render(_ entries: [Entry]) -> String {
        var s = "Authentication-Results: \(authservID)"
        if entries.isEmpty { return s + "; none\r\n" }
        for e in entries {
            s += ";\r\n\t\(e.method)=\(e.result)"
            if let c = e.comment, !c.isEmpty { s += " (\(Self.commentText(c)))" }
            for (k, v) in e.properties { s += " \(k)=\(Self.value(v))" }
        }
        return s + "\r\n"
    }

    /// A property value: a MIME token as is, an addr-spec-like local@domain as is when its parts are tokens,
    /// anything else as a quoted-string.
    static func value(_ v: String) -> String {
        if !v.isEmpty && v.unicodeScalars.allSatisfy(isTokenChar) { return v }
        if let at = v.lastIndex(of: "@") {
            let local = v[..<at], domain = v[v.index(after: at)...]
            if !local.isEmpty, !domain.isEmpty, local.unicodeScalars.allSatisfy(isTokenChar),
                domain.unicodeScalars.allSatisfy(isTokenChar)
            {
                return v
            }
        }
        var q = "\""
        for c in v.unicodeScalars {
            if c == "\"" || c == "\\" { q += "\\" }
            if c.value < 0x20 || c.value == 0x7f { continue }
            q.unicodeScalars.append(c)
        }
        return q + "\""
    }

    /// RFC 2045 token: printable ASCII except SP and tspecials.
    static func isTokenChar(_ c: Unicode.Scalar) -> Bool {
        guard c.value > 0x20, c.value < 0x7f else { return false }
        return !"()<>@,;:\\\"/[]?=".unicodeScalars.contains(c)
    }

    /// Comment text without parentheses, backslashes or control characters (they would end or break it).
    static func commentText(_ c: String) -> String {
        String(String.UnicodeScalarView(c.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f && $0 != "(" && $0 != ")" && $0 != "\\" }))
    }

    /// The authserv-id of an Authentication-Results value: the first token after optional CFWS.
    public static func authservID(of field: HeaderField) -> String {
        var v = Substring(field.unfoldedValue)
        // Skip leading comments.
        while v.first == "(" {
            var depth = 0
            var idx = v.startIndex
            while idx < v.endIndex {
                if v[idx] == "(" { depth += 1 } else if v[idx] == ")" { depth -= 1; if depth == 0 { break } }
                idx = v.index(after: idx)
            }
            v = idx < v.endIndex ? v[v.index(after: idx)...] : ""
            v = Substring(String(v).trimmingWSP())
        }
        let end = v.firstIndex(where: { $0 == ";" || $0 == " " || $0 == "\t" || $0 == "(" }) ?? v.endIndex
        var id = String(v[..<end])
        if id.hasPrefix("\""), id.hasSuffix("\""), id.count >= 2 { id = String(id.dropFirst().dropLast()) }
        return id.lowercased()
    }

    /// Authentication-Results fields that claim to be ours (case-insensitive authserv-id match).
    public func forged(in header: MessageHeader) -> [HeaderField] {
        let me = authservID.lowercased()
        return header.fields(named: "Authentication-Results").filter { Self.authservID(of: $0) == me }
    }
}
