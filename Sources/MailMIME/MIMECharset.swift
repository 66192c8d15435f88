import Foundation

/// Charset decoding for MIME text (RFC 2046 §4.1.2, RFC 2047 §3, RFC 2231 §4): octets in a named charset
/// to Unicode text. Used for SEARCH (decoded headers and bodies) and for the CHARSET of SEARCH itself.
///
/// UTF-8, US-ASCII, ISO-8859-1, ISO-8859-15, Windows-1252 and UTF-16 (BE/LE, with or without BOM) are
/// decoded here without tables from the platform, so results are the same everywhere. Invalid octets
/// become U+FFFD (never an error): a message in a broken charset still searches sanely. Unknown charsets
/// are decoded as UTF-8 with replacement, as Dovecot does when it has no converter.
public enum MIMECharset {
    /// The charset name normalised: lower case, RFC 2231 language suffix (`*en`) removed, trimmed.
    public static func normalizedName(_ name: some StringProtocol) -> String {
        var n = name.lowercased()
        if let star = n.firstIndex(of: "*") { n = String(n[..<star]) }
        return n.trimmingCharacters(in: CharacterSet(charactersIn: " \t\""))
    }

    /// Whether `decode` knows this charset (others are decoded as UTF-8 with replacement).
    public static func isKnown(_ name: some StringProtocol) -> Bool {
        kind(normalizedName(name)) != nil
    }

    enum Kind { case utf8, ascii, latin1, latin9, cp1252, utf16BE, utf16LE, utf16 }

    static func kind(_ n: String) -> Kind? {
        switch n {
        case "utf-8", "utf8", "unicode-1-1-utf-8": return .utf8
        case "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us": return .ascii
        case "iso-8859-1", "iso8859-1", "latin1", "l1", "iso_8859-1", "iso-ir-100", "cp819", "ibm819": return .latin1
        case "iso-8859-15", "iso8859-15", "latin-9", "latin9", "iso_8859-15": return .latin9
        case "windows-1252", "cp1252", "x-cp1252": return .cp1252
        case "utf-16be": return .utf16BE
        case "utf-16le": return .utf16LE
        case "utf-16": return .utf16
        default: return nil
        }
    }

    /// Decodes `bytes` in `charset` (nil or unknown: UTF-8 with replacement).
    public static func decode(_ bytes: some Collection<UInt8>, charset: String?) -> String {
        switch charset.flatMap({ kind(normalizedName($0)) }) ?? .utf8 {
        case .utf8, .ascii:
            // US-ASCII text with 8-bit octets is in practice UTF-8 or Latin-1: try UTF-8 first.
            return String(decoding: bytes, as: UTF8.self)
        case .latin1:
            return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        case .latin9:
            return String(String.UnicodeScalarView(bytes.map { latin9Scalar($0) }))
        case .cp1252:
            return String(String.UnicodeScalarView(bytes.map { cp1252Scalar($0) }))
        case .utf16BE:
            return utf16(Array(bytes), bigEndian: true)
        case .utf16LE:
            return utf16(Array(bytes), bigEndian: false)
        case .utf16:
            let a = Array(bytes)
            if a.count >= 2, a[0] == 0xFF, a[1] == 0xFE { return utf16(Array(a[2...]), bigEndian: false) }
            if a.count >= 2, a[0] == 0xFE, a[1] == 0xFF { return utf16(Array(a[2...]), bigEndian: true) }
            return utf16(a, bigEndian: true)
        }
    }

    static func utf16(_ bytes: [UInt8], bigEndian: Bool) -> String {
        var units: [UInt16] = []
        units.reserveCapacity(bytes.count / 2)
        var i = 0
        while i + 1 < bytes.count {
            let hi = UInt16(bytes[i]), lo = UInt16(bytes[i + 1])
            units.append(bigEndian ? (hi << 8 | lo) : (lo << 8 | hi))
            i += 2
        }
        return String(decoding: units, as: UTF16.self)
    }

    static func latin9Scalar(_ b: UInt8) -> Unicode.Scalar {
        let map: [UInt8: UInt32] = [
            0xA4: 0x20AC, 0xA6: 0x160, 0xA8: 0x161, 0xB4: 0x17D, 0xB8: 0x17E,
            0xBC: 0x152, 0xBD: 0x153, 0xBE: 0x178
        ]
        if let v = map[b], let s = Unicode.Scalar(v) { return s }
        return Unicode.Scalar(b)
    }

    /// Windows-1252 0x80–0x9F (the rest is Latin-1); undefined positions become U+FFFD.
    static let cp1252High: [UInt32] = [
        0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,
        0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178
    ]

    static func cp1252Scalar(_ b: UInt8) -> Unicode.Scalar {
        if b >= 0x80, b <= 0x9F, let s = Unicode.Scalar(cp1252High[Int(b - 0x80)]) { return s }
        return Unicode.Scalar(b)
    }
}
