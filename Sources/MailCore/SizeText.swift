/// Sizes written as text — the grammar of `petrel mailbox quota` (quota limits). Petrel's own syntax,
/// binary multiples as Dovecot's quota rules and Postfix's sizes use them.
///
///     size = 1*18DIGIT [ unit ]          ; no sign, no fraction, no spaces
///     unit = "K" / "M" / "G" / "T"       ; case-insensitive; no unit = octets
///
/// `K` = 1024, `M` = 1024², `G` = 1024³, `T` = 1024⁴ octets. A product that overflows `Int64` is an
/// error ("too large"). `none` (any case) is not a size: callers that accept it check it first.
public enum SizeText {
    public static let units: [(unit: Character, octets: Int64)] = [
        ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("t", 1 << 40)
    ]

    public enum Error: Swift.Error, Hashable, Sendable, CustomStringConvertible {
        case invalid(String)
        case tooLarge(String)

        public var description: String {
            switch self {
            case .invalid(let text): return "'\(text)' is not a size (a number of bytes, or with K, M, G or T: \"500M\", \"2G\")"
            case .tooLarge(let text): return "'\(text)' is too large"
            }
        }
    }

    /// size = 1*18DIGIT [ "K" / "M" / "G" / "T" ] (unit case-insensitive). Returns octets.
    public static func parse(_ text: String) throws(SizeText.Error) -> Int64 {
        var digits = Substring(text)
        var multiplier: Int64 = 1
        if let last = text.last, !(last.isASCII && last.isNumber) {
            let lower = last.isASCII ? last.lowercased().first : nil
            guard let unit = units.first(where: { $0.unit == lower }) else { throw .invalid(text) }
            multiplier = unit.octets
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(digits) else {
            throw .invalid(text)
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw .tooLarge(text) }
        return product
    }

    /// The shortest exact text: `524288000` → `"500M"`, `1000` → `"1000"`.
    public static func format(_ octets: Int64) -> String {
        guard octets > 0 else { return "\(octets)" }
        for (unit, size) in units.reversed() where octets % size == 0 {
            return "\(octets / size)\(unit.uppercased())"
        }
        return "\(octets)"
    }
}
