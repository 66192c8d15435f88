/// RFC 2047 encoded words (`=?charset?B|Q?text?=`) in header field values, decoded to Unicode for SEARCH
/// (RFC 9051 §6.4.4: searches match decoded text). ENVELOPE keeps the raw octets (RFC 9051 §7.5.2).
///
/// Lenient as mail readers are: encoded words are recognised anywhere in the value (also inside quoted
/// strings and next to other text, as many mailers write them); whitespace between two adjacent encoded
/// words is dropped (RFC 2047 §6.2); a malformed encoded word is left as it is; the RFC 2231 language
/// suffix (`charset*lang`) is ignored; 8-bit octets outside encoded words are taken as UTF-8 (RFC 6532).
public enum MIMEEncodedWord {
    /// Decodes every encoded word in `value` (raw header octets, already unfolded).
    public static func decode(_ value: some Collection<UInt8>) -> String {
        let bytes = Array(value)
        var out = ""
        var i = 0
        var lastWasEncoded = false
        var plainStart = 0

        func flushPlain(_ end: Int) {
            if plainStart < end {
                out += String(decoding: bytes[plainStart..<end], as: UTF8.self)
            }
        }

        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "="), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "?"),
                let (text, end) = encodedWord(bytes, at: i)
            {
                // Plain text before this word; whitespace only between two encoded words is dropped.
                if lastWasEncoded, bytes[plainStart..<i].allSatisfy(isWSP) {
                    // drop it
                } else {
                    flushPlain(i)
                }
                out += text
                i = end
                plainStart = end
                lastWasEncoded = true
                continue
            }
            if !isWSP(bytes[i]) { lastWasEncoded = false }
            i += 1
        }
        flushPlain(bytes.count)
        return out
    }

    /// Parses one encoded word at `start` (`=?`): the decoded text and the index after `?=`.
    static func encodedWord(_ b: [UInt8], at start: Int) -> (String, Int)? {
        // =? charset ? encoding ? encoded-text ?=
        var i = start + 2
        let charsetStart = i
        while i < b.count, b[i] != UInt8(ascii: "?") {
            if b[i] <= sp || b[i] >= 0x7F { return nil }
            i += 1
            if i - charsetStart > 64 { return nil }
        }
        guard i < b.count, i > charsetStart else { return nil }
        let charset = String(decoding: b[charsetStart..<i], as: UTF8.self)
        i += 1
        guard i + 1 < b.count, b[i + 1] == UInt8(ascii: "?") else { return nil }
        let enc = asciiLower(b[i])
        guard enc == UInt8(ascii: "b") || enc == UInt8(ascii: "q") else { return nil }
        i += 2
        let textStart = i
        while i + 1 < b.count, !(b[i] == UInt8(ascii: "?") && b[i + 1] == UInt8(ascii: "=")) {
            if b[i] == sp || b[i] == tab || b[i] == cr || b[i] == lf { return nil }
            i += 1
        }
        guard i + 1 < b.count else { return nil }
        let text = b[textStart..<i]
        let decoded: [UInt8]
        if enc == UInt8(ascii: "b") {
            decoded = MIMETransferDecoding.base64(text)
        } else {
            decoded = qDecode(text)
        }
        return (MIMECharset.decode(decoded, charset: charset), i + 2)
    }

    /// RFC 2047 §4.2 "Q" encoding: `_` is a space, `=XX` an octet.
    static func qDecode(_ text: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == UInt8(ascii: "_") {
                out.append(sp)
                i += 1
            } else if c == UInt8(ascii: "="), i + 2 < text.endIndex,
                let h = MIMETransferDecoding.hexValue(text[i + 1]),
                let l = MIMETransferDecoding.hexValue(text[i + 2])
            {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(c)
                i += 1
            }
        }
        return out
    }
}
