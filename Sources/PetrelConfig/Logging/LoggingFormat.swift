/// Renders one log event as one line of text: `text` (`TIMESTAMP LEVEL LABEL: MESSAGE key=value …`) or
/// `json` (one JSON object, RFC 8259). Every byte that could end or forge a line (CR, LF, other control
/// characters, U+0085, U+2028, U+2029) is escaped, so input from the network can never split a log line.
/// Timestamps are RFC 3339 §5.6 UTC with milliseconds: `2026-11-29T04:49:59.123Z`.
///
/// Callers must never put passwords, secrets or AUTH payloads in messages or metadata: the formatter
/// cannot recognise them and writes everything it is given.
import Foundation
import Logging

/// Pure formatting of log events; no I/O.
public enum LogLineFormatter {
    /// Keys the JSON format uses for its own fields; metadata with these names is written as `_<name>`.
    public static let reservedJSONKeys: Set<String> = ["ts", "level", "label", "msg", "error"]

    /// One line (without the trailing newline).
    public static func format(
        _ format: PetrelConfiguration.Log.Format, date: Date, level: Logger.Level, label: String,
        message: String, metadata: Logger.Metadata, error: (any Error)? = nil
    ) -> String {
        switch format {
        case .text: return text(date: date, level: level, label: label, message: message, metadata: metadata, error: error)
        case .json: return json(date: date, level: level, label: label, message: message, metadata: metadata, error: error)
        }
    }

    // MARK: - Text

    /// line = timestamp SP level SP label ":" SP message *( SP key "=" value )
    /// Metadata keys are sorted; a value is quoted when it is empty or contains a space, `"`, `=`, `\`
    /// or anything that is escaped.
    public static func text(
        date: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata,
        error: (any Error)? = nil
    ) -> String {
        var out = timestamp(date)
        out += " "
        out += level.rawValue
        out += " "
        out += escapeText(label)
        out += ": "
        out += escapeText(message)
        if let error {
            out += " error="
            out += textValue(String(describing: error))
        }
        for key in metadata.keys.sorted() {
            guard let value = metadata[key] else { continue }
            out += " "
            out += textKey(key)
            out += "="
            out += textValue(value.description)
        }
        return out
    }

    /// A metadata key as `[A-Za-z0-9_.-]+`; other characters become `_`.
    static func textKey(_ key: String) -> String {
        if key.isEmpty { return "_" }
        var out = ""
        for scalar in key.unicodeScalars {
            let ok =
                (scalar.value >= 0x30 && scalar.value <= 0x39) || (scalar.value >= 0x41 && scalar.value <= 0x5A)
                || (scalar.value >= 0x61 && scalar.value <= 0x7A) || scalar == "_" || scalar == "." || scalar == "-"
            out.unicodeScalars.append(ok ? scalar : "_")
        }
        return out
    }

    /// A value bare when safe, else in double quotes with escapes.
    static func textValue(_ value: String) -> String {
        let needsQuotes =
            value.isEmpty
            || value.unicodeScalars.contains { scalar in
                scalar == " " || scalar == "\"" || scalar == "=" || scalar == "\\" || needsEscape(scalar)
            }
        guard needsQuotes else { return value }
        var out = "\""
        for scalar in value.unicodeScalars {
            if scalar == "\"" { out += "\\\"" } else { appendEscaped(scalar, to: &out) }
        }
        return out + "\""
    }

    /// Free text (message, label): backslash and line-breaking characters escaped, nothing quoted.
    static func escapeText(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0 == "\\" || needsEscape($0) }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars { appendEscaped(scalar, to: &out) }
        return out
    }

    /// C0 controls, DEL, C1 controls (incl. NEL U+0085), LINE SEPARATOR and PARAGRAPH SEPARATOR.
    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return v < 0x20 || (v >= 0x7F && v <= 0x9F) || v == 0x2028 || v == 0x2029
    }

    private static func appendEscaped(_ scalar: Unicode.Scalar, to out: inout String) {
        switch scalar {
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if needsEscape(scalar) { out += unicodeEscape(scalar.value) } else { out.unicodeScalars.append(scalar) }
        }
    }

    /// `\uXXXX` (4 lower-case hex digits; all escaped scalars are in the BMP).
    private static func unicodeEscape(_ value: UInt32) -> String {
        let hex = String(value, radix: 16)
        return "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    // MARK: - JSON

    /// {"ts":…,"level":…,"label":…,"msg":…[,"error":…] *(,key:value)} — metadata keys sorted, nested
    /// dictionaries and arrays kept as JSON objects and arrays.
    public static func json(
        date: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata,
        error: (any Error)? = nil
    ) -> String {
        var out = "{\"ts\":"
        appendJSONString(timestamp(date), to: &out)
        out += ",\"level\":"
        appendJSONString(level.rawValue, to: &out)
        out += ",\"label\":"
        appendJSONString(label, to: &out)
        out += ",\"msg\":"
        appendJSONString(message, to: &out)
        if let error {
            out += ",\"error\":"
            appendJSONString(String(describing: error), to: &out)
        }
        var written: Set<String> = reservedJSONKeys
        for key in metadata.keys.sorted() {
            guard let value = metadata[key] else { continue }
            var name = key
            while written.contains(name) { name = "_" + name }
            written.insert(name)
            out += ","
            appendJSONString(name, to: &out)
            out += ":"
            appendJSON(value, to: &out)
        }
        return out + "}"
    }

    private static func appendJSON(_ value: Logger.MetadataValue, to out: inout String) {
        switch value {
        case .string(let s):
            appendJSONString(s, to: &out)
        case .stringConvertible(let c):
            appendJSONString(c.description, to: &out)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                appendJSON(item, to: &out)
            }
            out += "]"
        case .dictionary(let dict):
            out += "{"
            for (index, key) in dict.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                appendJSONString(key, to: &out)
                out += ":"
                if let item = dict[key] { appendJSON(item, to: &out) } else { out += "null" }
            }
            out += "}"
        }
    }

    /// string = quotation-mark *char quotation-mark (RFC 8259 §7); U+2028/U+2029 and C1 are escaped too.
    static func appendJSONString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if needsEscape(scalar) { out += unicodeEscape(scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        out += "\""
    }

    // MARK: - Time

    /// date-time = full-date "T" partial-time "Z" with 3 fraction digits (RFC 3339 §5.6), UTC.
    public static func timestamp(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        guard interval.isFinite, abs(interval) < 253_402_300_800 else { return "0000-00-00T00:00:00.000Z" }
        let totalMillis = Int64((interval * 1000).rounded(.down))
        let (days, millisOfDay) = floorDivMod(totalMillis, 86_400_000)
        let (year, month, day) = civil(fromDays: days)
        let hour = millisOfDay / 3_600_000
        let minute = millisOfDay / 60_000 % 60
        let second = millisOfDay / 1000 % 60
        let millis = millisOfDay % 1000
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2)).\(pad(millis, 3))Z"
    }

    private static func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a / b, r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    /// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (H. Hinnant's algorithm).
    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func pad(_ n: Int64, _ width: Int) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
