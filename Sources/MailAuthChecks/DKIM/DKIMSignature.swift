import Foundation

/// A parsed DKIM-Signature header field (RFC 6376 §3.5).
struct DKIMSignature {
    var field: HeaderField
    var tags: DKIMTagList
    var algorithm: DKIMAlgorithm
    var headerCanonicalization: DKIMCanonicalization
    var bodyCanonicalization: DKIMCanonicalization
    var domain: String
    var selector: String
    var identity: String
    var signedHeaders: [String]
    var bodyHash: [UInt8]
    var signature: [UInt8]
    var bodyLength: Int?
    var timestamp: Int?
    var expiration: Int?

    struct SignatureError: Error, CustomStringConvertible { var description: String }

    static func parse(_ field: HeaderField) throws(SignatureError) -> DKIMSignature {
        let raw = field.raw
        guard let colon = raw.firstIndex(of: UInt8(ascii: ":")) else { throw SignatureError(description: "no colon") }
        let tags: DKIMTagList
        do { tags = try DKIMTagList.parse(raw, range: (colon + 1)..<raw.count) } catch {
            throw SignatureError(description: error.description)
        }
        func required(_ name: String) throws(SignatureError) -> String {
            guard let v = tags[name], !v.isEmpty else { throw SignatureError(description: "missing \(name)= tag") }
            return v
        }
        guard try required("v") == "1" else { throw SignatureError(description: "unsupported version v=\(tags["v"] ?? "")") }
        let a = try required("a").lowercased()
        guard let algorithm = DKIMAlgorithm(rawValue: a) else {
            throw SignatureError(description: a == "rsa-sha1" ? "rsa-sha1 is not accepted (RFC 8301)" : "unknown algorithm a=\(a)")
        }
        var hc = DKIMCanonicalization.simple, bc = DKIMCanonicalization.simple
        if let c = tags["c"] {
            let parts = c.lowercased().split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2, let h = DKIMCanonicalization(rawValue: String(parts[0])) else {
                throw SignatureError(description: "bad c=\(c)")
            }
            hc = h
            if parts.count == 2 {
                guard let b = DKIMCanonicalization(rawValue: String(parts[1])) else { throw SignatureError(description: "bad c=\(c)") }
                bc = b
            }
        }
        let domain = try required("d").lowercased().trimmingSuffixDot()
        let selector = try required("s").lowercased()
        guard domain.contains("."), !domain.contains(" "), !selector.contains(" "), !selector.isEmpty else {
            throw SignatureError(description: "bad d= or s=")
        }
        let headers = try required("h").split(separator: ":").map { $0.trimmingWSP().lowercased() }
        guard headers.contains("from") else { throw SignatureError(description: "h= does not sign From") }
        guard headers.allSatisfy({ !$0.isEmpty }) else { throw SignatureError(description: "empty name in h=") }
        var identity = "@" + domain
        if let i = tags["i"] {
            guard let at = i.lastIndex(of: "@") else { throw SignatureError(description: "bad i=\(i)") }
            let idomain = i[i.index(after: at)...].lowercased().trimmingSuffixDot()
            guard idomain == domain || idomain.hasSuffix("." + domain) else {
                throw SignatureError(description: "i= domain \(idomain) is not d=\(domain) or below it")
            }
            identity = i
        }
        if let q = tags["q"], !q.lowercased().split(separator: ":").contains(where: { $0.trimmingWSP() == "dns/txt" }) {
            throw SignatureError(description: "unsupported q=\(q)")
        }
        guard let bh = Data(base64Encoded: DKIMTagList.compact(try required("bh"))) else {
            throw SignatureError(description: "bh= is not base64")
        }
        guard let b = Data(base64Encoded: DKIMTagList.compact(try required("b"))) else {
            throw SignatureError(description: "b= is not base64")
        }
        func number(_ name: String) throws(SignatureError) -> Int? {
            guard let v = tags[name] else { return nil }
            guard !v.isEmpty, v.count <= 18, v.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(v) else {
                throw SignatureError(description: "bad \(name)=\(v)")
            }
            return n
        }
        let l = try number("l"), t = try number("t"), x = try number("x")
        if let t, let x, x < t { throw SignatureError(description: "x= is before t=") }
        return DKIMSignature(
            field: field, tags: tags, algorithm: algorithm, headerCanonicalization: hc,
            bodyCanonicalization: bc, domain: domain, selector: selector, identity: identity,
            signedHeaders: headers, bodyHash: Array(bh), signature: Array(b), bodyLength: l,
            timestamp: t, expiration: x)
    }

    /// The signature field with the b= value emptied (§3.7), canonicalized, without the final CRLF.
    func canonicalizedWithoutB() -> [UInt8] {
        var raw = field.raw
        if let b = tags.tags.first(where: { $0.name == "b" }) {
            raw.removeSubrange(b.valueRange)
            // Keep the "=": valueRange starts after it.
        }
        var c = headerCanonicalization.header(raw)
        c.removeLast(2)
        return c
    }

    /// The header fields to hash, in h= order: each name takes the last instance not yet taken, from the
    /// bottom up (§5.4.2); a name with no instance left contributes nothing (over-signing).
    static func selectHeaders(_ names: [String], from fields: [HeaderField]) -> [HeaderField] {
        var used: [String: Int] = [:]
        var out: [HeaderField] = []
        for name in names {
            let instances = fields.filter { $0.lowercasedName == name }
            let n = used[name, default: 0]
            if n < instances.count {
                out.append(instances[instances.count - 1 - n])
            }
            used[name] = n + 1
        }
        return out
    }
}

extension String {
    func trimmingSuffixDot() -> String { hasSuffix(".") ? String(dropLast()) : self }
}

extension Substring {
    func trimmingWSP() -> String { String(self).trimmingWSP() }
}
