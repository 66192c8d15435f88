/// Delivery Status Notification parameters of the SMTP DSN extension (RFC 3461):
/// NOTIFY and ORCPT on RCPT (§4.1, §4.2), RET and ENVID on MAIL (§4.3, §4.4), and the `xtext`
/// encoding their values use (§4).

/// RCPT NOTIFY= (RFC 3461 §4.1): "NEVER" alone, or any of SUCCESS, FAILURE, DELAY.
/// Without NOTIFY the MTA behaves as for "FAILURE,DELAY".
public struct DSNNotify: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let success = DSNNotify(rawValue: 1)
    public static let failure = DSNNotify(rawValue: 2)
    public static let delay = DSNNotify(rawValue: 4)
    /// The empty set is NOTIFY=NEVER.
    public static let never: DSNNotify = []
    /// What applies when the client gave no NOTIFY.
    public static let `default`: DSNNotify = [.failure, .delay]

    /// notify-esmtp-value = "NEVER" / 1#notify-list-element
    /// notify-list-element = "SUCCESS" / "FAILURE" / "DELAY"
    /// Case-insensitive; nil for anything else (NEVER combined with others, unknown words, repeats).
    public init?(parameter value: String) {
        let words = value.uppercased().split(separator: ",", omittingEmptySubsequences: false)
        if words == ["NEVER"] { self = .never; return }
        var set: DSNNotify = []
        for word in words {
            let element: DSNNotify
            switch word {
            case "SUCCESS": element = .success
            case "FAILURE": element = .failure
            case "DELAY": element = .delay
            default: return nil
            }
            guard !set.contains(element) else { return nil }
            set.insert(element)
        }
        self = set
    }

    /// The parameter value: "NEVER" or e.g. "FAILURE,DELAY".
    public var description: String {
        if isEmpty { return "NEVER" }
        var words: [String] = []
        if contains(.success) { words.append("SUCCESS") }
        if contains(.failure) { words.append("FAILURE") }
        if contains(.delay) { words.append("DELAY") }
        return words.joined(separator: ",")
    }
}

/// MAIL RET= (RFC 3461 §4.3): return the full message or only its headers in a failure DSN.
public enum DSNReturn: String, Hashable, Sendable {
    case full = "FULL"
    case headers = "HDRS"
}

/// xtext (RFC 3461 §4): printable ASCII except "+" and "=", with "+" HEXCHAR HEXCHAR for other octets.
public enum XText {
    /// xtext = *( xchar / hexchar ); hexchar = "+" 2(%x30-39 / %x41-46)
    /// Returns nil when the text is not valid xtext.
    public static func decode(_ text: String) -> String? {
        var out: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "+") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                out.append(high << 4 | low)
            } else {
                guard byte >= 33, byte <= 126, byte != UInt8(ascii: "=") else { return nil }
                out.append(byte)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    /// Encodes any text as xtext.
    public static func encode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            if byte >= 33, byte <= 126, byte != UInt8(ascii: "+"), byte != UInt8(ascii: "=") {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "+"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Upper-case hex digits only (RFC 3461 §4: HEXCHAR is 0-9 / A-F).
    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x41...0x46: return b - 0x41 + 10
        default: return nil
        }
    }
}
