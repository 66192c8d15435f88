/// RFC 5322 §3.3 date-time formatting for trace headers (`Received:`) and `Date:` fields.
///
/// Pure arithmetic on the Unix epoch (no `DateFormatter`, no locale, no time-zone database), so the
/// output is deterministic and identical on every platform.
import Foundation

public enum RFC5322Date {
    private static let dayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// date-time = [ day-of-week "," ] date time [CFWS]
    /// date = day month year ; time = time-of-day zone ; zone = (FWS ( "+" / "-" ) 4DIGIT)
    ///
    /// Formats `date` as e.g. `Sun, 29 Nov 2026 04:49:59 +0000`. `utcOffsetSeconds` shifts the wall
    /// clock and is printed as the zone (rounded down to whole minutes, clamped to ±23:59).
    public static func format(_ date: Date, utcOffsetSeconds: Int = 0) -> String {
        let offset = max(-(23 * 3600 + 59 * 60), min(23 * 3600 + 59 * 60, utcOffsetSeconds))
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down)) + Int64(offset)
        let days = floorDiv(seconds, 86_400)
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = civilFromDays(days)
        // 1970-01-01 was a Thursday (index 3 in dayNames, which starts on Monday).
        let weekday = Int(((days % 7) + 7 + 3) % 7)
        let hour = secondOfDay / 3600, minute = (secondOfDay % 3600) / 60, second = secondOfDay % 60
        let sign = offset < 0 ? "-" : "+"
        let absOffset = abs(offset)
        let zone = sign + pad(absOffset / 3600, 2) + pad((absOffset % 3600) / 60, 2)
        return "\(dayNames[weekday]), \(day) \(monthNames[month - 1]) \(pad(Int(year), 4)) "
            + "\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2)) \(zone)"
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// Days since 1970-01-01 to a proleptic Gregorian (year, month 1...12, day 1...31)
    /// (H. Hinnant's `civil_from_days`).
    static func civilFromDays(_ z0: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, Int(m), Int(d))
    }
}
