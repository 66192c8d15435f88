/// File-system helpers of the Badmail directory: entry names (UTC time + queue id), the .txt
/// description, temporary files written with O_EXCL|O_NOFOLLOW and fsync, the directory flock, and
/// reads that never follow symbolic links. POSIX only (Linux, macOS); no RFC applies.
import Foundation
import MailCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension BadmailDirectory {
    // MARK: Names

    /// entry-name = 8DIGIT "T" 6DIGIT "." 6DIGIT "Z-" 1*64(ALPHA / DIGIT)
    /// (UTC date, time, microseconds, then the queue id). Returns nil for anything else.
    static func parseName(_ base: String) -> (date: Date, queueID: String)? {
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
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
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
    static func entryName(micros: Int64, queueID: String) -> String {
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

    static func micros(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1_000_000).rounded(.down)
        // Years 0000...9999 keep the name shape.
        return Int64(max(0, min(value, 253_402_300_799_000_000)))
    }

    /// Letters and digits of the queue id (at most 64); "unknown" when none are left.
    static func queueIDPart(_ queueID: String) -> String {
        let kept = queueID.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }
        let text = String(String.UnicodeScalarView(kept.prefix(64)))
        return text.isEmpty ? "unknown" : text
    }

    /// A user-given name with an optional .eml / .txt, checked to be an entry name.
    static func validatedBase(_ name: String) throws(BadmailError) -> String {
        var base = name
        if base.hasSuffix(".eml") || base.hasSuffix(".txt") { base = String(base.dropLast(4)) }
        guard !base.contains("/"), !base.contains(".."), !base.contains("\0"), parseName(base) != nil else {
            throw .invalidName(name)
        }
        return base
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
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
    static func describe(queueID: String, reason: String, sender: String, recipients: [String], arrivedAt: Date?,
                         stored: Date, messageSize: Int64, kept: Int64, truncated: Bool, cap: Int64) -> [UInt8] {
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
            lines.append("Truncated: yes: only the first \(kept) of \(messageSize) octets of the .eml are kept"
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
    static func firstReasonLine(_ info: String) -> String {
        let lines = info.split(separator: "\n", omittingEmptySubsequences: false)
        guard let index = lines.firstIndex(of: "Reason:"), lines.indices.contains(index + 1) else { return "" }
        return String(lines[index + 1])
    }

    // MARK: Files

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Follows a symlink for the directory itself (the administrator may point it elsewhere).
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The size of a regular file, nil for anything else (symbolic links included).
    static func regularFileSize(_ path: String) -> Int64? {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(info.st_size)
    }

    static func readFile(_ path: String, offset: Int64 = 0, maxBytes: Int) throws(BadmailError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw .io("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var out: [UInt8] = []
        var position = max(0, offset)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while out.count < maxBytes {
            let want = min(buffer.count, maxBytes - out.count)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(position)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            out.append(contentsOf: buffer[0..<n])
            position += Int64(n)
        }
        return out
    }

    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}

// File-scope wrappers: inside `TempFile`, `write` and `rename` name its own methods.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, buffer, count) }
private func posixRename(_ from: String, _ to: String) -> Int32 { rename(from, to) }

/// Seconds of a file's modification time (lstat).
func modificationSeconds(_ info: stat) -> Int {
    #if canImport(Darwin)
    return Int(info.st_mtimespec.tv_sec)
    #else
    return Int(info.st_mtim.tv_sec)
    #endif
}

/// A file created with O_EXCL|O_NOFOLLOW under a hidden temporary name in the directory.
final class TempFile {
    static let prefix = ".tmp-"
    let path: String
    private var fd: Int32

    init(directory: String, suffix: String) throws(BadmailError) {
        var rng = SystemRandomNumberGenerator()
        var lastError: Int32 = 0
        for _ in 0..<8 {
            let name = Self.prefix + QueueID.generate(date: Date(), using: &rng) + suffix
            let candidate = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 {
                self.path = candidate
                self.fd = fd
                return
            }
            lastError = errno
            if lastError != EEXIST { break }
        }
        throw .io("cannot create a file in \(directory): \(String(cString: strerror(lastError)))")
    }

    func write(_ bytes: ArraySlice<UInt8>) throws(BadmailError) {
        var rest = bytes
        while !rest.isEmpty {
            let n = rest.withUnsafeBytes { posixWrite(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            rest = rest.dropFirst(n)
        }
    }

    func sync() throws(BadmailError) {
        if fsync(fd) != 0 { throw .io("cannot fsync \(path): \(String(cString: strerror(errno)))") }
    }

    func rename(to destination: String) throws(BadmailError) {
        close(fd)
        fd = -1
        if posixRename(path, destination) != 0 {
            let message = String(cString: strerror(errno))
            _ = unlink(path)
            throw .io("cannot rename \(path) to \(destination): \(message)")
        }
    }

    /// Closes and removes the file (after a failure).
    func discard() {
        if fd >= 0 { close(fd); fd = -1 }
        _ = unlink(path)
    }

    deinit { if fd >= 0 { close(fd) } }
}

/// An exclusive flock on the directory, held between writers and purges (several processes).
struct DirectoryLock {
    private let fd: Int32

    init(_ path: String) throws(BadmailError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .io("cannot open \(path): \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let message = String(cString: strerror(errno))
            close(fd)
            throw .io("cannot lock \(path): \(message)")
        }
        self.fd = fd
    }

    func release() {
        _ = flock(fd, LOCK_UN)
        close(fd)
    }
}
