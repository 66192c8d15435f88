/// RFC 5322 §3.3 date-time, parsed leniently (obsolete forms of §4.3: two- and three-digit years,
/// alphabetic zones, missing seconds or day of week, comments, extra whitespace), for SENTBEFORE,
/// SENTON and SENTSINCE (RFC 9051 §6.4.4: "disregarding time and timezone").
///
/// ```
/// date-time = [ day-of-week "," ] date time [CFWS]
/// date      = day month year
/// time      = time-of-day zone
/// zone      = (FWS ( "+" / "-" ) 4DIGIT) / obs-zone
/// ```
public struct MIMEDate: Sendable, Hashable {
    public var year: Int
    public var month: Int // 1…12
    public var day: Int // 1…31
    public var hour: Int
    public var minute: Int
    public var second: Int
    /// The zone offset in minutes east of UTC.
    public var zoneMinutes: Int

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, zoneMinutes: Int = 0) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.zoneMinutes = zoneMinutes
    }

    static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// The date only (year, month, day as written), comparable: `year * 10000 + month * 100 + day`.
    public var dayNumber: Int { year * 10_000 + month * 100 + day }

    /// Seconds since 1970-01-01T00:00:00Z.
    public var secondsSinceEpoch: Int64 {
        let days = MIMEDate.daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day))
        return days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(zoneMinutes * 60)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    public static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Parses a Date: field value; nil when no day, month and year can be found.
    public static func parse(_ value: some Collection<UInt8>) -> MIMEDate? {
        // Tokenise: words and numbers, comments dropped, separators , : and whitespace.
        var tokens: [String] = []
        var current: [UInt8] = []
        var depth = 0
        func flush() { if !current.isEmpty { tokens.append(String(decoding: current, as: UTF8.self)); current = [] } }
        for b in value {
            if b == UInt8(ascii: "(") { flush(); depth += 1; continue }
            if b == UInt8(ascii: ")") { depth = max(0, depth - 1); continue }
            if depth > 0 { continue }
            if b == sp || b == tab || b == cr || b == lf || b == UInt8(ascii: ",") {
                flush()
            } else if b == UInt8(ascii: ":") {
                flush(); tokens.append(":")
            } else if (b == UInt8(ascii: "+") || b == UInt8(ascii: "-")) && !current.isEmpty {
                flush(); current.append(b)
            } else {
                current.append(b)
            }
            if tokens.count > 32 { break }
        }
        flush()
        var i = 0
        // Skip a day of week.
        // Skip a day of week (no day name is also a month name).
        if i < tokens.count, Int(tokens[i]) == nil, !months.contains(String(tokens[i].lowercased().prefix(3))) {
            i += 1
        }
        guard i + 2 < tokens.count else { return nil }
        // day month year (also "month day year" as some broken mailers write).
        var day: Int? = Int(tokens[i])
        var monthToken = tokens[i + 1]
        if day == nil, let d = Int(tokens[i + 1]) { day = d; monthToken = tokens[i] }
        guard let d = day, (1...31).contains(d),
            let mIndex = months.firstIndex(of: String(monthToken.lowercased().prefix(3))),
            var year = Int(tokens[i + 2]), year >= 0
        else { return nil }
        // RFC 5322 §4.3: two-digit years 00–49 are 2000–2049, 50–99 are 1950–1999; three digits add 1900.
        if tokens[i + 2].count == 2 { year += year < 50 ? 2000 : 1900 } else if tokens[i + 2].count == 3 { year += 1900 }
        guard year <= 9999 else { return nil }
        var date = MIMEDate(year: year, month: mIndex + 1, day: d)
        i += 3
        // hour ":" minute [":" second]
        if i + 2 < tokens.count, let h = Int(tokens[i]), tokens[i + 1] == ":", let m = Int(tokens[i + 2]),
            (0...23).contains(h), (0...59).contains(m)
        {
            date.hour = h
            date.minute = m
            i += 3
            if i + 1 < tokens.count, tokens[i] == ":", let s = Int(tokens[i + 1]), (0...60).contains(s) {
                date.second = s
                i += 2
            }
            if i < tokens.count { date.zoneMinutes = zone(tokens[i]) }
        }
        return date
    }

    /// `("+" / "-") 4DIGIT` or an obsolete zone name (RFC 5322 §4.3); unknown zones are UTC ("-0000").
    static func zone(_ token: String) -> Int {
        let t = token.uppercased()
        if let first = t.first, first == "+" || first == "-", t.count == 5, let v = Int(t.dropFirst()) {
            let minutes = (v / 100) * 60 + v % 100
            return first == "-" ? -minutes : minutes
        }
        switch t {
        case "EDT": return -4 * 60
        case "EST", "CDT": return -5 * 60
        case "CST", "MDT": return -6 * 60
        case "MST", "PDT": return -7 * 60
        case "PST": return -8 * 60
        default: return 0
        }
    }
}
