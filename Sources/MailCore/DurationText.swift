/// Durations written as text — the one grammar for configuration values (`[delivery]` timeouts, retry
/// intervals, expiry), retry-interval lists and CLI options (`petrel badmail purge --older-than 7d`).
/// Not from an RFC: Petrel's own syntax, the same as Postfix's time units minus fractions.
///
/// The grammar, exactly:
///
///     duration = 1*18DIGIT [ unit ]       ; no sign, no fraction, no spaces anywhere
///     unit     = "s" / "m" / "h" / "d" / "w"   ; case-insensitive; no unit = seconds
///     DIGIT    = %x30-39                  ; ASCII only (no other Unicode digits)
///
/// - `s` = 1 s, `m` = 60 s, `h` = 3600 s, `d` = 86 400 s, `w` = 604 800 s.
/// - The value in seconds is at most `DurationText.maximum` (100 years, 3 153 600 000 s), so date
///   arithmetic never overflows; more, or a product that overflows `Int64`, is an error ("too large").
/// - Leading zeros are allowed (`"007s"` = 7 s); `"0"` is 0 s. Ranges (e.g. "at least 1 s") are the
///   caller's business.
/// - Whitespace is never part of a duration: callers that accept lists (`"5m, 15m"`) trim around items.

/// Parsing and formatting of duration text (see the file comment for the grammar).
public enum DurationText {
    /// The largest accepted value in seconds: 100 years, so arithmetic on dates never overflows.
    public static let maximum: Int = 100 * 365 * 86_400

    /// The units and their sizes in seconds, in the order they are listed to users.
    public static let units: [(unit: Character, seconds: Int)] = [
        ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400), ("w", 7 * 86_400)
    ]

    /// Examples for messages: `"30s", "15m", "4h", "5d" or "2w"`.
    public static let examples = "\"30s\", \"15m\", \"4h\", \"5d\" or \"2w\""

    /// duration = 1*18DIGIT [ "s" / "m" / "h" / "d" / "w" ]   (unit case-insensitive, no spaces)
    ///
    /// Returns the number of seconds (0 … `maximum`).
    public static func parse(_ text: String) throws(DurationText.Error) -> Int {
        var digits = Substring(text)
        var multiplier = 1
        if let last = text.last, !(last.isASCII && last.isNumber) {
            // ASCII only: lowercasing other characters could yield more than one Character.
            let lower = last.isASCII ? last.lowercased().first : nil
            guard let unit = units.first(where: { $0.unit == lower }) else {
                throw Error(value: text, reason: "unknown unit '\(last)' (use s, m, h, d or w)")
            }
            multiplier = unit.seconds
            digits = digits.dropLast()
        }
        guard !digits.isEmpty else {
            throw Error(value: text, reason: "expected a number, e.g. 30s, 15m, 4h, 5d, 2w or 600")
        }
        guard digits.utf8.count <= 18, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let number = Int64(digits)
        else {
            throw Error(value: text, reason: "expected a whole number of s, m, h, d or w, e.g. 30s, 15m, 4h, 5d, 2w or 600")
        }
        let (seconds, overflow) = number.multipliedReportingOverflow(by: Int64(multiplier))
        guard !overflow, seconds <= Int64(maximum) else {
            throw Error(value: text, reason: "too large (at most 100 years)")
        }
        return Int(seconds)
    }

    /// Like `parse`, but nil instead of an error.
    public static func seconds(_ text: String) -> Int? {
        try? parse(text)
    }

    /// A short human form: "5d", "4h", "1h30m", "45s", "0s" (negative values count as 0, values above
    /// `maximum` as `maximum`). Weeks are written as days ("14d"). For messages and listings only: a
    /// compound such as "1h30m" is not itself valid duration text.
    public static func format(_ seconds: Int) -> String {
        var rest = min(max(0, seconds), maximum)
        if rest == 0 { return "0s" }
        var out = ""
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] where rest >= size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        return out
    }

    /// A duration value that does not parse; the description names the value and what is wrong.
    public struct Error: Swift.Error, Hashable, Sendable, CustomStringConvertible {
        /// The text as given.
        public let value: String
        /// What is wrong with it, e.g. "unknown unit 'x' (use s, m, h, d or w)".
        public let reason: String

        public init(value: String, reason: String) {
            self.value = value
            self.reason = reason
        }

        public var description: String { "invalid duration \"\(value)\": \(reason)" }
    }
}
