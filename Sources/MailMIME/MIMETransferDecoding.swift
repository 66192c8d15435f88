import Foundation

/// Content-Transfer-Encoding decoding (RFC 2045 §6): base64 (§6.8) and quoted-printable (§6.7), lenient
/// as a reader must be (RFC 2045 §6.8: "any characters outside of the base64 alphabet are to be ignored").
/// Used for BINARY[section] (RFC 3516, RFC 9051 §6.4.5) and for searching decoded text.

public enum MIMETransferEncoding: Sendable, Hashable {
    case sevenBit, eightBit, binary, base64, quotedPrintable
    /// Any other token (an x-token or garbage): BINARY answers [UNKNOWN-CTE] (RFC 3516 §4.3).
    case other(String)

    /// From the Content-Transfer-Encoding field value (nil or empty: 7bit).
    public init(_ value: String?) {
        let v = (value ?? "").trimmingCharacters(in: CharacterSet(charactersIn: " \t")).lowercased()
        switch v {
        case "", "7bit": self = .sevenBit
        case "8bit": self = .eightBit
        case "binary": self = .binary
        case "base64": self = .base64
        case "quoted-printable": self = .quotedPrintable
        default: self = .other(v)
        }
    }

    /// Whether the content is already in its decoded form.
    public var isIdentity: Bool {
        switch self {
        case .sevenBit, .eightBit, .binary: return true
        case .base64, .quotedPrintable, .other: return false
        }
    }
}

public enum MIMETransferDecoding {
    /// Decodes `bytes` in `encoding`; nil for an unknown encoding (the caller decides: BINARY says
    /// [UNKNOWN-CTE], search uses the raw octets).
    public static func decode(_ bytes: ArraySlice<UInt8>, _ encoding: MIMETransferEncoding) -> [UInt8]? {
        switch encoding {
        case .sevenBit, .eightBit, .binary: return Array(bytes)
        case .base64: return base64(bytes)
        case .quotedPrintable: return quotedPrintable(bytes)
        case .other: return nil
        }
    }

    static func base64Value(_ b: UInt8) -> UInt32? {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(b - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(b - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(b - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }

    /// Lenient base64: characters outside the alphabet are skipped, decoding stops at the first "=",
    /// a final incomplete quantum contributes the octets it fully determines.
    public static func base64(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count / 4 * 3)
        var acc: UInt32 = 0
        var n = 0
        for b in bytes {
            if b == UInt8(ascii: "=") { break }
            guard let v = base64Value(b) else { continue }
            acc = (acc << 6) | v
            n += 1
            if n == 4 {
                out.append(UInt8((acc >> 16) & 0xFF))
                out.append(UInt8((acc >> 8) & 0xFF))
                out.append(UInt8(acc & 0xFF))
                acc = 0
                n = 0
            }
        }
        if n == 2 {
            out.append(UInt8((acc >> 4) & 0xFF))
        } else if n == 3 {
            out.append(UInt8((acc >> 10) & 0xFF))
            out.append(UInt8((acc >> 2) & 0xFF))
        }
        return out
    }

    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    /// Lenient quoted-printable: `=XX` (either case) is an octet, `=` before a line end is a soft line
    /// break, trailing whitespace on a line is removed (RFC 2045 §6.7 rule 3), any other `=` is kept.
    /// Line ends become CRLF.
    public static func quotedPrintable(_ input: some Collection<UInt8>) -> [UInt8] {
        let bytes = Array(input)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        var lineStartInOut = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == cr || b == lf {
                // Hard line break: drop trailing whitespace written on this line.
                while out.count > lineStartInOut, isWSP(out[out.count - 1]) { out.removeLast() }
                out.append(cr)
                out.append(lf)
                i += (b == cr && i + 1 < bytes.count && bytes[i + 1] == lf) ? 2 : 1
                lineStartInOut = out.count
                continue
            }
            if b == UInt8(ascii: "=") {
                // Soft line break: "=" then optional whitespace then a line end (or the end of input).
                var j = i + 1
                while j < bytes.count, isWSP(bytes[j]) { j += 1 }
                if j == bytes.count { break }
                if bytes[j] == cr || bytes[j] == lf {
                    i = j + ((bytes[j] == cr && j + 1 < bytes.count && bytes[j + 1] == lf) ? 2 : 1)
                    continue
                }
                if i + 2 < bytes.count, let h = hexValue(bytes[i + 1]), let l = hexValue(bytes[i + 2]) {
                    out.append(h << 4 | l)
                    i += 3
                    // A decoded octet is content, not trailing whitespace to strip.
                    lineStartInOut = out.count
                    continue
                }
                out.append(b)
                i += 1
                continue
            }
            out.append(b)
            i += 1
        }
        while out.count > lineStartInOut, isWSP(out[out.count - 1]) { out.removeLast() }
        return out
    }
}
