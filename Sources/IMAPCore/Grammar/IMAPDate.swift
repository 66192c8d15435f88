/// Dates in IMAP (RFC 9051 §9): the `date` of SEARCH and the `date-time` of APPEND and INTERNALDATE.
///
/// ```
/// date            = date-text / DQUOTE date-text DQUOTE
/// date-text       = date-day "-" date-month "-" date-year
/// date-day        = 1*2DIGIT
/// date-day-fixed  = (SP DIGIT) / 2DIGIT
/// date-month      = "Jan" / "Feb" / "Mar" / "Apr" / "May" / "Jun" / "Jul" / "Aug" / "Sep" / "Oct" / "Nov" / "Dec"
/// date-year       = 4DIGIT
/// date-time       = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
/// time            = 2DIGIT ":" 2DIGIT ":" 2DIGIT
/// zone            = ("+" / "-") 4DIGIT
/// ```
import MailMIME

/// A calendar day (SEARCH BEFORE/ON/SINCE/SENT*).
public struct IMAPDate: Hashable, Sendable, Comparable {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    public var dayNumber: Int { year * 10_000 + month * 100 + day }
    public static func < (a: IMAPDate, b: IMAPDate) -> Bool { a.dayNumber < b.dayNumber }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `date` (RFC 9051 §9)
    static func parse(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPDate {
        let quoted = p.consume(UInt8(ascii: "\""))
        let day = try digits(&p, min: 1, max: 2)
        try p.expect(UInt8(ascii: "-"), "-")
        let month = try parseMonth(&p)
        try p.expect(UInt8(ascii: "-"), "-")
        let year = try digits(&p, min: 4, max: 4)
        if quoted { try p.expect(UInt8(ascii: "\""), "\"") }
        guard (1...31).contains(day) else { throw IMAPParseError("Invalid date") }
        return IMAPDate(year: year, month: month, day: day)
    }

    static func parseMonth(_ p: inout IMAPParser) throws(IMAPParseError) -> Int {
        for (i, m) in months.enumerated() where p.prefix(m) { return i + 1 }
        throw IMAPParseError("Invalid month")
    }

    static func digits(_ p: inout IMAPParser, min: Int, max: Int) throws(IMAPParseError) -> Int {
        var value = 0
        var n = 0
        while n < max, let b = p.peek(), b >= 0x30, b <= 0x39 {
            value = value * 10 + Int(b - 0x30)
            p.index += 1
            n += 1
        }
        guard n >= min else { throw IMAPParseError("Invalid date") }
        return value
    }
}

/// An instant with the zone it was given in (INTERNALDATE, APPEND date-time).
public struct IMAPDateTime: Hashable, Sendable {
    /// Seconds since 1970-01-01T00:00:00Z.
    public var secondsSinceEpoch: Int64
    /// The zone offset in minutes east of UTC, as the client gave it (reported back in INTERNALDATE).
    public var zoneMinutes: Int

    public init(secondsSinceEpoch: Int64, zoneMinutes: Int = 0) {
        self.secondsSinceEpoch = secondsSinceEpoch
        self.zoneMinutes = max(-(23 * 60 + 59), min(23 * 60 + 59, zoneMinutes))
    }

    /// The calendar day in the instant's own zone (SEARCH BEFORE/ON/SINCE compare this).
    public var localDate: IMAPDate {
        let c = IMAPDateTime.civil(secondsSinceEpoch &+ Int64(zoneMinutes) &* 60)
        return IMAPDate(year: c.year, month: c.month, day: c.day)
    }

    /// `date-time` (RFC 9051 §9)
    static func parse(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPDateTime {
        try p.expect(UInt8(ascii: "\""), "a date-time")
        if p.peek() == 0x20 { p.index += 1 }
        let day = try IMAPDate.digits(&p, min: 1, max: 2)
        try p.expect(UInt8(ascii: "-"), "-")
        let month = try IMAPDate.parseMonth(&p)
        try p.expect(UInt8(ascii: "-"), "-")
        let year = try IMAPDate.digits(&p, min: 4, max: 4)
        try p.space()
        let hour = try IMAPDate.digits(&p, min: 2, max: 2)
        try p.expect(UInt8(ascii: ":"), ":")
        let minute = try IMAPDate.digits(&p, min: 2, max: 2)
        try p.expect(UInt8(ascii: ":"), ":")
        let second = try IMAPDate.digits(&p, min: 2, max: 2)
        try p.space()
        let sign: Int
        if p.consume(UInt8(ascii: "+")) {
            sign = 1
        } else if p.consume(UInt8(ascii: "-")) {
            sign = -1
        } else {
            throw IMAPParseError("Invalid time zone")
        }
        let zone = try IMAPDate.digits(&p, min: 4, max: 4)
        try p.expect(UInt8(ascii: "\""), "\"")
        guard (1...31).contains(day), hour < 24, minute < 60, second <= 60, zone % 100 < 60 else {
            throw IMAPParseError("Invalid date-time")
        }
        let zoneMinutes = sign * ((zone / 100) * 60 + zone % 100)
        let date = MIMEDate(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second,
            zoneMinutes: zoneMinutes)
        return IMAPDateTime(secondsSinceEpoch: date.secondsSinceEpoch, zoneMinutes: zoneMinutes)
    }

    /// The wire form, e.g. `"17-Jul-1996 02:44:25 -0700"` (quotes included; day space-padded).
    public var encoded: String {
        let c = IMAPDateTime.civil(secondsSinceEpoch &+ Int64(zoneMinutes) &* 60)
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        let day = c.day < 10 ? " \(c.day)" : "\(c.day)"
        let sign = zoneMinutes < 0 ? "-" : "+"
        let z = abs(zoneMinutes)
        return
            "\"\(day)-\(IMAPDate.months[c.month - 1])-\(pad(c.year, 4)) \(pad(c.hour, 2)):\(pad(c.minute, 2)):\(pad(c.second, 2)) \(sign)\(pad(z / 60, 2))\(pad(z % 60, 2))\""
    }

    static func civil(_ seconds: Int64) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        var days = seconds / 86_400
        var rem = seconds % 86_400
        if rem < 0 { rem += 86_400; days -= 1 }
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return (Int(y), Int(m), Int(d), Int(rem / 3600), Int(rem % 3600 / 60), Int(rem % 60))
    }
}
