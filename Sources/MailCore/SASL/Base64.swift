/// Strict base64 (RFC 4648 §4) as SASL exchanges use it (RFC 4422 §4, RFC 5034 §4, RFC 4954 §4).
///
/// SASL responses must be plain base64: the standard alphabet, `=` padding to a multiple of four
/// characters, no line breaks or whitespace. Anything else is rejected (`decode` returns nil), so a
/// malformed client response becomes an error reply instead of being guessed at.
public enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Maps an ASCII octet to its 6-bit value, or nil when it is not in the alphabet.
    private static func value(of byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(byte - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(byte - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }

    /// Decodes strict padded base64.
    ///
    /// RFC 4648 §4: `base64 = *(4base64-char) [base64-terminal]` with
    /// `base64-terminal = (2base64-char "==") / (3base64-char "=")`.
    /// Returns nil for a length that is not a multiple of 4, characters outside the alphabet,
    /// misplaced padding, or non-zero pad bits (non-canonical encodings). The empty input decodes to `[]`.
    public static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        let input = Array(text)
        guard input.count % 4 == 0 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            let isLast = index + 4 == input.count
            let c0 = input[index], c1 = input[index + 1], c2 = input[index + 2], c3 = input[index + 3]
            index += 4
            guard let v0 = value(of: c0), let v1 = value(of: c1) else { return nil }
            let pad = UInt8(ascii: "=")
            if c2 == pad {
                // "xx==": one octet; only allowed in the last quantum, low 4 bits of v1 must be zero.
                guard isLast, c3 == pad, v1 & 0x0F == 0 else { return nil }
                output.append(UInt8((v0 << 2) | (v1 >> 4)))
            } else if c3 == pad {
                // "xxx=": two octets; low 2 bits of v2 must be zero.
                guard isLast, let v2 = value(of: c2), v2 & 0x03 == 0 else { return nil }
                output.append(UInt8((v0 << 2) | (v1 >> 4)))
                output.append(UInt8(((v1 & 0x0F) << 4) | (v2 >> 2)))
            } else {
                guard let v2 = value(of: c2), let v3 = value(of: c3) else { return nil }
                let n = (v0 << 18) | (v1 << 12) | (v2 << 6) | v3
                output.append(UInt8((n >> 16) & 0xFF))
                output.append(UInt8((n >> 8) & 0xFF))
                output.append(UInt8(n & 0xFF))
            }
        }
        return output
    }

    /// Decodes strict padded base64 from a string (see `decode(_:)` for the rules).
    public static func decode(_ text: String) -> [UInt8]? { decode(Array(text.utf8)) }

    /// Encodes octets as padded base64 with the standard alphabet and no line breaks.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        let input = Array(bytes)
        var output: [UInt8] = []
        output.reserveCapacity((input.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= input.count {
            let n = (UInt32(input[index]) << 16) | (UInt32(input[index + 1]) << 8) | UInt32(input[index + 2])
            output.append(alphabet[Int((n >> 18) & 0x3F)])
            output.append(alphabet[Int((n >> 12) & 0x3F)])
            output.append(alphabet[Int((n >> 6) & 0x3F)])
            output.append(alphabet[Int(n & 0x3F)])
            index += 3
        }
        let remaining = input.count - index
        if remaining == 1 {
            let n = UInt32(input[index]) << 16
            output.append(alphabet[Int((n >> 18) & 0x3F)])
            output.append(alphabet[Int((n >> 12) & 0x3F)])
            output.append(UInt8(ascii: "="))
            output.append(UInt8(ascii: "="))
        } else if remaining == 2 {
            let n = (UInt32(input[index]) << 16) | (UInt32(input[index + 1]) << 8)
            output.append(alphabet[Int((n >> 18) & 0x3F)])
            output.append(alphabet[Int((n >> 12) & 0x3F)])
            output.append(alphabet[Int((n >> 6) & 0x3F)])
            output.append(UInt8(ascii: "="))
        }
        return String(decoding: output, as: UTF8.self)
    }
}
