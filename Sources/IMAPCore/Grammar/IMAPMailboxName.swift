/// Mailbox names (RFC 9051 §5.1): as sent on the wire, and as Unicode text.
///
/// An IMAP4rev1 client names mailboxes in modified UTF-7 (RFC 3501 §5.1.3); a client that enabled
/// IMAP4rev2 or UTF8=ACCEPT (RFC 9051 §5.1, RFC 6855 §3) sends and receives UTF-8. The session decodes with
/// the mode in force; the backend only ever sees Unicode names with `/` as the hierarchy delimiter.
/// `INBOX` is case-insensitive (RFC 9051 §5.1), and so is the INBOX component of `INBOX/child`.

/// ```
/// mailbox = "INBOX" / astring
///           ; INBOX is case-insensitive.  All case variants of INBOX (e.g., "iNbOx") MUST be
///           ; interpreted as INBOX, not as an astring.
/// ```
public struct IMAPMailboxName: Hashable, Sendable, CustomStringConvertible {
    /// The octets as sent.
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ text: String) { self.bytes = Array(text.utf8) }

    /// The hierarchy delimiter Petrel uses.
    public static let delimiter: Character = "/"

    /// `mailbox` (RFC 9051 §9)
    static func parse(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPMailboxName {
        IMAPMailboxName(try p.astring())
    }

    /// The name as Unicode text, or nil when it is not valid in the mode in force (invalid UTF-8, or
    /// invalid modified UTF-7 such as raw 8-bit octets). INBOX in any case becomes `INBOX`.
    public func decoded(utf8: Bool) -> String? {
        let text: String
        if utf8 {
            guard let t = String(validating: bytes, as: UTF8.self) else { return nil }
            text = t
        } else {
            guard let t = IMAPModifiedUTF7.decode(bytes) else { return nil }
            text = t
        }
        return IMAPMailboxName.canonical(text)
    }

    /// `INBOX` and `INBOX/…` with the first component upper-cased, everything else unchanged.
    public static func canonical(_ text: String) -> String {
        if text.count == 5, text.uppercased() == "INBOX" { return "INBOX" }
        if text.count > 6, text.prefix(6).uppercased() == "INBOX/" { return "INBOX" + text.dropFirst(5) }
        return text
    }

    /// The wire octets for a Unicode name in the given mode.
    public static func wire(_ name: String, utf8: Bool) -> [UInt8] {
        utf8 ? Array(name.utf8) : IMAPModifiedUTF7.encode(name)
    }

    public var description: String { String(decoding: bytes, as: UTF8.self) }
}

/// Modified UTF-7 (RFC 3501 §5.1.3): printable US-ASCII except "&" stands for itself, "&" is "&-", and
/// other characters are UTF-16 in modified base64 ("," instead of "/", no padding) between "&" and "-".
public enum IMAPModifiedUTF7 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,".utf8)

    public static func encode(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var pending: [UInt16] = []
        func flush() {
            guard !pending.isEmpty else { return }
            out.append(UInt8(ascii: "&"))
            var bytes: [UInt8] = []
            for u in pending { bytes.append(UInt8(u >> 8)); bytes.append(UInt8(u & 0xFF)) }
            var i = 0
            while i < bytes.count {
                let b0 = UInt32(bytes[i])
                let b1 = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0
                let b2 = i + 2 < bytes.count ? UInt32(bytes[i + 2]) : 0
                let n = (b0 << 16) | (b1 << 8) | b2
                let chars = i + 2 < bytes.count ? 4 : (i + 1 < bytes.count ? 3 : 2)
                for k in 0..<chars { out.append(alphabet[Int((n >> (18 - 6 * UInt32(k))) & 0x3F)]) }
                i += 3
            }
            out.append(UInt8(ascii: "-"))
            pending = []
        }
        for scalar in text.unicodeScalars {
            if scalar.value >= 0x20 && scalar.value <= 0x7E {
                flush()
                out.append(UInt8(scalar.value))
                if scalar == "&" { out.append(UInt8(ascii: "-")) }
            } else {
                pending.append(contentsOf: Array(String(scalar).utf16))
            }
        }
        flush()
        return out
    }

    static func value(_ b: UInt8) -> UInt32? {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(b - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(b - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(b - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: ","): return 63
        default: return nil
        }
    }

    /// Strict decoding: nil for octets outside printable US-ASCII, an unterminated or empty shift
    /// sequence (other than "&-"), non-zero padding bits, invalid UTF-16, printable ASCII encoded in
    /// base64, or two adjacent shift sequences (they must be one).
    public static func decode(_ bytes: [UInt8]) -> String? {
        var scalars = String.UnicodeScalarView()
        var i = 0
        var lastShiftEnd = -1
        while i < bytes.count {
            let b = bytes[i]
            guard b >= 0x20, b <= 0x7E else { return nil }
            if b != UInt8(ascii: "&") {
                scalars.append(Unicode.Scalar(b))
                i += 1
                continue
            }
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "-") {
                scalars.append("&")
                i += 1
                continue
            }
            if lastShiftEnd == i - 1 { return nil }
            var acc: UInt32 = 0
            var bits = 0
            var units: [UInt16] = []
            while i < bytes.count, bytes[i] != UInt8(ascii: "-") {
                guard let v = value(bytes[i]) else { return nil }
                acc = (acc << 6) | v
                bits += 6
                if bits >= 16 {
                    bits -= 16
                    units.append(UInt16((acc >> UInt32(bits)) & 0xFFFF))
                    acc &= (1 << UInt32(bits)) - 1
                }
                i += 1
            }
            guard i < bytes.count, !units.isEmpty, bits < 6, acc == 0 else { return nil }
            i += 1
            lastShiftEnd = i
            var decoded = String.UnicodeScalarView()
            var it = units.makeIterator()
            var utf16 = UTF16()
            loop: while true {
                switch utf16.decode(&it) {
                case .scalarValue(let s):
                    if s.value >= 0x20 && s.value <= 0x7E { return nil }
                    decoded.append(s)
                case .emptyInput: break loop
                case .error: return nil
                }
            }
            scalars.append(contentsOf: decoded)
        }
        return String(scalars)
    }
}
