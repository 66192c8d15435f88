/// Queue identifiers for accepted messages (shown in `250 2.0.0 Ok: queued as <id>`, the
/// `Received:` header and log lines). Not defined by an RFC; the shape follows Postfix "long" queue ids:
/// a time-ordered prefix so ids sort by arrival, then random characters so ids made in the same
/// microsecond differ.
import Foundation

public enum QueueID {
    /// Crockford base32 (no I, L, O, U): ASCII-ordered, so lexicographic order is numeric order.
    static let alphabet: [UInt8] = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
    /// Characters of the time prefix: 11 × 5 bits = 55 bits of microseconds since 1970 (good to year 3111).
    public static let timeLength = 11
    /// Characters of the random suffix: 5 × 5 bits = 25 bits.
    public static let randomLength = 5
    /// Total length of an id.
    public static let length = timeLength + randomLength

    /// A new 16-character id, e.g. `0R2X8K4M9T3ABCDE`.
    public static func generate(date: Date = Date()) -> String {
        var rng = SystemRandomNumberGenerator()
        return generate(date: date, using: &rng)
    }

    /// A new id from the given clock value and random source (deterministic in tests). The suffix is the
    /// low 25 bits of one draw: one getrandom(2) per message, not one per character.
    public static func generate(date: Date, using rng: inout some RandomNumberGenerator) -> String {
        let micros = max(0, date.timeIntervalSince1970 * 1_000_000)
        let limit: UInt64 = (1 << 55) - 1
        var time = micros >= Double(limit) ? limit : UInt64(micros)
        var random = rng.next()
        var id = [UInt8](repeating: 0, count: length)
        for index in stride(from: timeLength - 1, through: 0, by: -1) {
            id[index] = alphabet[Int(time & 31)]
            time >>= 5
        }
        for index in stride(from: length - 1, through: timeLength, by: -1) {
            id[index] = alphabet[Int(random & 31)]
            random >>= 5
        }
        return String(decoding: id, as: UTF8.self)
    }

    /// True when `text` has the shape of an id made by `generate` (16 characters of the alphabet).
    public static func isValid(_ text: String) -> Bool {
        text.utf8.count == length && text.utf8.allSatisfy { alphabet.contains($0) }
    }
}
