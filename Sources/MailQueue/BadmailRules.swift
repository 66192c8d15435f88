/// The Badmail directory's rules, pure (no file system): entry names (`<UTC time>-<queue id>`), the .txt
/// description, how much of a message fits under the byte cap, which entries are pruned (oldest first,
/// by name = time) and which a purge removes, and the choice of a free name. The disk side (temporary
/// files, fsync, rename, flock, symlink-safe reads) is `BadmailDirectory` in the BadmailStore target;
/// see docs/BADMAIL.md. Not defined by an RFC.
import Foundation
import MailCore

/// One entry, as a listing shows it.
public struct BadmailEntry: Hashable, Sendable {
    /// The base name (no extension), e.g. `20261129T080102.123456Z-0R2X8K4M9T3ABCDE`.
    public var name: String
    /// When it was stored (from the name).
    public var date: Date
    /// Octets of the .eml and .txt together.
    public var size: Int64
    public var queueID: String
    /// The first line of the reason, "" when the .txt is missing.
    public var reason: String

    public init(name: String, date: Date, size: Int64, queueID: String, reason: String) {
        self.name = name
        self.date = date
        self.size = size
        self.queueID = queueID
        self.reason = reason
    }
}

/// Which entries a purge removes.
public enum BadmailPurgeScope: Hashable, Sendable {
    case all
    /// Entries stored before this date.
    case olderThan(Date)
}

/// A Badmail operation failed.
public enum BadmailError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The name is not of the entry shape (`20261129T080102.123456Z-QUEUEID`).
    case invalidName(String)
    case notFound(String)
    case io(String)

    public var description: String {
        switch self {
        case .invalidName(let name):
            return "'\(name)' is not a badmail entry name (expected e.g. 20261129T080102.123456Z-0R2X8K4M9T3ABCDE, see 'petrel badmail list')"
        case .notFound(let name): return "no badmail entry '\(name)'"
        case .io(let message): return message
        }
    }
}

public enum BadmailRules {
    /// What to write for one entry.
    public struct Plan: Hashable, Sendable {
        public var queueID: String
        /// Octets of the message to keep (all of it unless `truncated`).
        public var keep: Int64
        public var messageSize: Int64
        public var truncated: Bool
        /// The .txt description.
        public var infoBytes: [UInt8]
        public var now: Date
        /// Octets the entry takes (kept message and description).
        public var entrySize: Int64 { keep + Int64(infoBytes.count) }
    }

    public enum Preparation: Hashable, Sendable {
        case write(Plan)
        /// Nothing is written; the reason is logged instead.
        case skip(String)
    }

    /// What to write under the cap `maxBytes`: the whole message with its description, or the part that
    /// fits next to a description that says it was cut; nothing when the cap is 0 or smaller than the
    /// description alone.
    public static func plan(
        queueID: String, reason: String, sender: String, recipients: [String], arrivedAt: Date?,
        messageSize: Int64, now: Date, maxBytes: Int64
    ) -> Preparation {
        guard maxBytes > 0 else { return .skip("the badmail cap is 0: nothing is kept") }
        let qid = queueIDPart(queueID)
        let makeInfo: (Bool, Int64) -> [UInt8] = { truncated, kept in
            describe(
                queueID: qid, reason: reason, sender: sender, recipients: recipients, arrivedAt: arrivedAt,
                stored: now, messageSize: messageSize, kept: kept, truncated: truncated, cap: maxBytes)
        }
        var plan = Plan(
            queueID: qid, keep: max(0, messageSize), messageSize: max(0, messageSize), truncated: false,
            infoBytes: [], now: now)
        let full = makeInfo(false, plan.keep)
        if Int64(full.count) + plan.keep <= maxBytes {
            plan.infoBytes = full
            return .write(plan)
        }
        // Too big alone: keep what fits next to a description that says so.
        let noteSample = makeInfo(true, maxBytes)
        let room = maxBytes - Int64(noteSample.count)
        guard room >= 0 else {
            return .skip("the badmail cap (\(maxBytes) octets) is smaller than the entry's description")
        }
        plan.keep = min(plan.keep, room)
        plan.truncated = true
        plan.infoBytes = makeInfo(true, plan.keep)
        return .write(plan)
    }

    /// The entries to remove, oldest first (by name = time), until `newSize` more octets fit under `maxBytes`.
    public static func prune(_ entries: [BadmailEntry], toFit newSize: Int64, maxBytes: Int64) -> [String] {
        var total = entries.reduce(Int64(0)) { $0 + $1.size }
        var pruned: [String] = []
        for oldest in entries.sorted(by: { $0.name < $1.name }) {
            guard total + newSize > maxBytes else { break }
            total -= oldest.size
            pruned.append(oldest.name)
        }
        return pruned
    }

    /// The entries a purge removes, oldest first.
    public static func purge(_ entries: [BadmailEntry], scope: BadmailPurgeScope) -> [String] {
        entries.sorted { $0.name < $1.name }.compactMap { entry in
            if case .olderThan(let date) = scope, entry.date >= date { return nil }
            return entry.name
        }
    }

    /// A free entry name for `now`: the microseconds are bumped while `isTaken` says the name is used
    /// (at most 10 000 times; nil after that).
    public static func freeName(now: Date, queueID: String, isTaken: (String) -> Bool) -> String? {
        var micros = micros(now)
        for _ in 0...10_000 {
            let name = entryName(micros: micros, queueID: queueID)
            if !isTaken(name) { return name }
            micros += 1
        }
        return nil
    }

    /// The entry base name of a file in the directory (`<entry>.eml` or `<entry>.txt`), nil for any other file.
    public static func entryBase(ofFile file: String) -> String? {
        guard file.hasSuffix(".eml") || file.hasSuffix(".txt") else { return nil }
        let base = String(file.dropLast(4))
        return parseName(base) == nil ? nil : base
    }

    // MARK: Names

    /// entry-name = 8DIGIT "T" 6DIGIT "." 6DIGIT "Z-" 1*64(ALPHA / DIGIT)
    /// (UTC date, time, microseconds, then the queue id). Returns nil for anything else.
    public static func parseName(_ base: String) -> (date: Date, queueID: String)? {
        let bytes = Array(base.utf8)
        guard bytes.count >= 25, bytes.count <= 24 + 64 else { return nil }
        func digits(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for i in range {
                guard bytes.indices.contains(i), bytes[i] >= 0x30, bytes[i] <= 0x39 else { return nil }
                value = value * 10 + Int64(bytes[i] - 0x30)
            }
            return value
        }
        guard bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "."), bytes[22] == UInt8(ascii: "Z"),
            bytes[23] == UInt8(ascii: "-"),
            let year = digits(0..<4), let month = digits(4..<6), let day = digits(6..<8),
            let hour = digits(9..<11), let minute = digits(11..<13), let second = digits(13..<15),
            let micro = digits(16..<22),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        let queue = bytes[24...]
        guard queue.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) }) else {
            return nil
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second
        let date = Date(timeIntervalSince1970: TimeInterval(seconds) + TimeInterval(micro) / 1_000_000)
        return (date, String(decoding: queue, as: UTF8.self))
    }

    /// The base name for a time (microseconds since 1970, UTC) and a queue id part.
    public static func entryName(micros: Int64, queueID: String) -> String {
        let seconds = floorDiv(micros, 1_000_000)
        let fraction = micros - seconds * 1_000_000
        let days = floorDiv(seconds, 86_400)
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civilFromDays(days)
        func pad(_ v: Int64, _ width: Int) -> String {
            let text = String(v)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        return pad(year, 4) + pad(month, 2) + pad(day, 2) + "T" + pad(secondOfDay / 3600, 2)
            + pad(secondOfDay % 3600 / 60, 2) + pad(secondOfDay % 60, 2) + "." + pad(fraction, 6) + "Z-" + queueID
    }

    public static func micros(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1_000_000).rounded(.down)
        // Years 0000...9999 keep the name shape.
        return Int64(max(0, min(value, 253_402_300_799_000_000)))
    }

    /// Letters and digits of the queue id (at most 64); "unknown" when none are left.
    public static func queueIDPart(_ queueID: String) -> String {
        let kept = queueID.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }
        let text = String(String.UnicodeScalarView(kept.prefix(64)))
        return text.isEmpty ? "unknown" : text
    }

    /// A user-given name with an optional .eml / .txt, checked to be an entry name.
    public static func validatedBase(_ name: String) throws(BadmailError) -> String {
        var base = name
        if base.hasSuffix(".eml") || base.hasSuffix(".txt") { base = String(base.dropLast(4)) }
        guard !base.contains("/"), !base.contains(".."), !base.contains("\0"), parseName(base) != nil else {
            throw .invalidName(name)
        }
        return base
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// H. Hinnant's `civil_from_days` / `days_from_civil` (proleptic Gregorian).
    static func civilFromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, m, d)
    }

    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    // MARK: The .txt description

    /// The description file: `Key: value` lines, then "Reason:" and the reason's lines (sanitised,
    /// at most 100 lines of 998 octets).
    public static func describe(
        queueID: String, reason: String, sender: String, recipients: [String], arrivedAt: Date?,
        stored: Date, messageSize: Int64, kept: Int64, truncated: Bool, cap: Int64
    ) -> [UInt8] {
        func clean(_ s: String) -> String { DeliveryReport.limit(DeliveryReport.sanitize(s, allowUTF8: true), octets: 998) }
        var lines: [String] = []
        lines.append("Queue-ID: \(queueID)")
        lines.append("Stored: \(RFC5322Date.format(stored))")
        if let arrivedAt { lines.append("Arrived: \(RFC5322Date.format(arrivedAt))") }
        let from = clean(sender)
        lines.append("Sender: \(from.isEmpty ? "<>" : from)")
        lines.append(clean("Recipients: " + recipients.map { clean($0) }.joined(separator: ", ")))
        lines.append("Message-Size: \(messageSize)")
        if truncated {
            lines.append(
                "Truncated: yes: only the first \(kept) of \(messageSize) octets of the .eml are kept"
                    + " (the badmail cap is \(cap) octets)")
        }
        lines.append("")
        lines.append("Reason:")
        let reasonLines = reason.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .map { clean(String($0)) }.filter { !$0.isEmpty }
        lines += reasonLines.prefix(100)
        if reasonLines.isEmpty { lines.append("(no reason given)") }
        return Array((lines.joined(separator: "\n") + "\n").utf8)
    }

    /// The first line after "Reason:" in a description.
    public static func firstReasonLine(_ info: String) -> String {
        let lines = info.split(separator: "\n", omittingEmptySubsequences: false)
        guard let index = lines.firstIndex(of: "Reason:"), lines.indices.contains(index + 1) else { return "" }
        return String(lines[index + 1])
    }

}
