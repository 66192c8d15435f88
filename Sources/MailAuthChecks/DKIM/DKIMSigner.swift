import Crypto
import Foundation

/// Signs messages (RFC 6376 §5) with relaxed/relaxed canonicalization, one DKIM-Signature per key.
public struct DKIMSigner: Sendable {
    public struct Key: Sendable {
        public var domain: String
        public var selector: String
        public var privateKey: DKIMPrivateKey

        public init(domain: String, selector: String, privateKey: DKIMPrivateKey) {
            self.domain = domain
            self.selector = selector
            self.privateKey = privateKey
        }
    }

    /// Header fields signed when present (every instance), in this order (RFC 6376 §5.4.1's list, trimmed to
    /// what mail clients write and lists rely on).
    public var headerNames = [
        "from", "sender", "reply-to", "subject", "date", "message-id", "to", "cc", "mime-version",
        "content-type", "content-transfer-encoding", "content-disposition", "content-id", "in-reply-to",
        "references", "list-id", "list-help", "list-unsubscribe", "list-unsubscribe-post", "list-subscribe",
        "list-post", "list-owner", "list-archive", "autocrypt", "openpgp"
    ]
    /// Over-signed: listed once more than they occur, so a field added later (a second From:, a Subject:
    /// that was absent) breaks the signature (§8.15).
    public var overSigned: Set<String> = ["from", "to", "subject", "date"]
    /// x= is t= plus this many seconds (nil: no x=). Default 7 days: longer than the queue's retry window.
    public var expiry: Int? = 7 * 24 * 3600

    public init() {}

    public struct SignError: Error, CustomStringConvertible { public var description: String }

    /// The h= list for a message with these fields.
    func signedHeaderList(_ header: MessageHeader) -> [String] {
        var list: [String] = []
        for name in headerNames {
            let n = header.fields(named: name).count
            list += Array(repeating: name, count: n + (overSigned.contains(name) ? 1 : 0))
        }
        return list
    }

    /// DKIM-Signature fields (CRLF-terminated, to prepend to the message), one per key.
    public func sign(_ message: MessageData, keys: [Key], now: Int) throws -> [UInt8] {
        let header = try message.header()
        guard header.isComplete else { throw SignError(description: "header section too long to sign") }
        guard header.fields(named: "from").count >= 1 else { throw SignError(description: "no From: field to sign") }
        var hasher = DKIMBodyHasher(canonicalization: .relaxed)
        try message.forEachChunk(from: header.bodyOffset) { hasher.update($0) }
        let bodyHash = Data(hasher.finish().digest).base64EncodedString()
        let names = signedHeaderList(header)
        var out: [UInt8] = []
        for key in keys {
            out += try signature(header: header, names: names, bodyHash: bodyHash, key: key, now: now)
        }
        return out
    }

    func signature(header: MessageHeader, names: [String], bodyHash: String, key: Key, now: Int) throws -> [UInt8] {
        var text = "DKIM-Signature: v=1; a=\(key.privateKey.algorithm.rawValue); c=relaxed/relaxed;\r\n"
        text += "\td=\(key.domain); s=\(key.selector); t=\(now);"
        if let expiry { text += " x=\(now + expiry);" }
        text += "\r\n\th="
        var lineLength = 3
        for (i, name) in names.enumerated() {
            let piece = name + (i < names.count - 1 ? ":" : ";")
            if lineLength + piece.count > 72 {
                text += "\r\n\t "
                lineLength = 2
            }
            text += piece
            lineLength += piece.count
        }
        text += "\r\n\tbh=\(bodyHash);\r\n\tb="
        let field = HeaderField(raw: Array(text.utf8), range: 0..<0)
        var hash = SHA256()
        for f in DKIMSignature.selectHeaders(names, from: header.fields) {
            hash.update(data: DKIMCanonicalization.relaxed.header(f.raw))
        }
        var own = DKIMCanonicalization.relaxed.header(field.raw)
        own.removeLast(2)
        hash.update(data: own)
        let signature = Data(try key.privateKey.sign(hash.finalize())).base64EncodedString()
        var folded = ""
        var i = signature.startIndex
        while i < signature.endIndex {
            let j = signature.index(i, offsetBy: 70, limitedBy: signature.endIndex) ?? signature.endIndex
            if i != signature.startIndex { folded += "\r\n\t " }
            folded += signature[i..<j]
            i = j
        }
        return Array((text + folded + "\r\n").utf8)
    }
}
