/// The Badmail directory: a copy of every undeliverable report Petrel could not send anywhere (a
/// failed message whose sender is `<>`, or whose own bounce failed), kept for the administrator under a
/// byte cap. Not defined by an RFC (the name comes from IIS/Exchange); see docs/BADMAIL.md.
///
/// One entry is two files with the same base name `<UTC time>-<queue id>`, e.g.
/// `20261129T080102.123456Z-0R2X8K4M9T3ABCDE`:
/// - `.eml`: the report message (RFC 3464), which carries the original message (or its headers);
/// - `.txt`: why — the reason / remote reply, sender, recipients, dates, and whether the .eml was cut.
/// Files are written under a temporary name, fsync'd, renamed, and the directory fsync'd, so an entry
/// is complete or absent after a crash. Before writing, the oldest entries (by name = time) are removed
/// until the new one fits under the cap; an entry larger than the cap alone is truncated to it.
/// Only regular files whose names have the entry shape are ever read or removed: symbolic links are
/// never followed (O_NOFOLLOW, lstat). Writers and purges take an exclusive flock on the directory, so
/// the server and `petrel badmail purge` can run together.
///
/// This is the disk side; the rules (names, the description, the cap, pruning and purge order) are
/// `BadmailRules` in MailQueue, pure and tested without a disk.
import Foundation
import MailQueue

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A Badmail directory at `path` with a byte cap.
public struct BadmailDirectory: Sendable {
    /// 100 MiB.
    public static let defaultMaxBytes: Int64 = 100 * 1024 * 1024

    public let path: String
    /// Total octets of all entries (both files). 0 = keep nothing (the caller only logs).
    public let maxBytes: Int64

    public init(path: String, maxBytes: Int64 = BadmailDirectory.defaultMaxBytes) {
        self.path = path
        self.maxBytes = max(0, maxBytes)
    }

    /// One entry, as `list()` shows it.
    public typealias Entry = BadmailEntry
    public typealias PurgeScope = BadmailPurgeScope

    /// An entry's description and where its message is.
    public struct Record: Hashable, Sendable {
        public var entry: Entry
        /// The .txt file's content.
        public var info: String
        /// The .eml file (absent when only the .txt survived).
        public var messagePath: String?
        public var messageSize: Int64
    }

    /// What `store` did.
    public enum StoreResult: Hashable, Sendable {
        /// Stored under `name`; `truncated` when the .eml was cut to fit; `pruned` lists removed entries.
        case stored(name: String, truncated: Bool, pruned: [String])
        /// Nothing written (the cap is 0 or smaller than the description alone): log the reason instead.
        case notStored(reason: String)
    }

    /// Stores one entry whose message is in memory.
    @discardableResult
    public func store(
        queueID: String, reason: String, sender: String, recipients: [String], arrivedAt: Date?,
        message: [UInt8], now: Date
    ) throws(BadmailError) -> StoreResult {
        let plan = try prepare(
            queueID: queueID, reason: reason, sender: sender, recipients: recipients,
            arrivedAt: arrivedAt, messageSize: Int64(message.count), now: now)
        guard case .write(let p) = plan else { return Self.notStored(plan) }
        let temp = try TempFile(directory: path, suffix: ".eml")
        do throws(BadmailError) {
            try temp.write(message.prefix(Int(p.keep)))
            return try commit(p, messageTemp: temp)
        } catch {
            temp.discard()
            throw error
        }
    }

    /// Stores one entry whose message is read in chunks: `read(offset, maxLength)` returns the next
    /// octets (empty at the end). At most the part that fits under the cap is read.
    @discardableResult
    public func store(
        queueID: String, reason: String, sender: String, recipients: [String], arrivedAt: Date?,
        messageSize: Int64, now: Date,
        read: (_ offset: Int64, _ maxLength: Int) async throws -> [UInt8]
    ) async throws -> StoreResult {
        let plan = try prepare(
            queueID: queueID, reason: reason, sender: sender, recipients: recipients,
            arrivedAt: arrivedAt, messageSize: messageSize, now: now)
        guard case .write(var p) = plan else { return Self.notStored(plan) }
        let temp = try TempFile(directory: path, suffix: ".eml")
        do {
            var offset: Int64 = 0
            while offset < p.keep {
                let chunk = try await read(offset, Int(min(64 * 1024, p.keep - offset)))
                if chunk.isEmpty { break }
                try temp.write(chunk.prefix(Int(p.keep - offset))[...])
                offset += Int64(min(chunk.count, Int(p.keep - offset)))
            }
            if offset < p.keep { p.keep = offset } // the message was shorter than announced
            return try commit(p, messageTemp: temp)
        } catch {
            temp.discard()
            throw error
        }
    }

    /// Every entry, newest first.
    public func list() throws(BadmailError) -> [Entry] {
        try scan().sorted { $0.name > $1.name }
    }

    /// Total octets of all entries.
    public func totalSize() throws(BadmailError) -> Int64 {
        try scan().reduce(0) { $0 + $1.size }
    }

    /// The entry `name` (base name, or with `.eml` / `.txt`). Names that are not of the entry shape
    /// (path separators, "..", anything else) are refused; the entry must exist.
    public func read(_ name: String) throws(BadmailError) -> Record {
        let base = try BadmailRules.validatedBase(name)
        guard let entry = try scan().first(where: { $0.name == base }) else { throw .notFound(name) }
        let info =
            (try? Self.readFile(join(base + ".txt"), maxBytes: 1024 * 1024)).map {
                String(decoding: $0, as: UTF8.self)
            } ?? ""
        let emlPath = join(base + ".eml")
        let emlSize = Self.regularFileSize(emlPath)
        return Record(entry: entry, info: info, messagePath: emlSize == nil ? nil : emlPath, messageSize: emlSize ?? 0)
    }

    /// Up to `maxLength` octets of entry `name`'s .eml from `offset` (empty at the end).
    public func readMessage(_ name: String, offset: Int64, maxLength: Int) throws(BadmailError) -> [UInt8] {
        let base = try BadmailRules.validatedBase(name)
        let file = join(base + ".eml")
        guard Self.regularFileSize(file) != nil else { throw .notFound(name) }
        do {
            return try Self.readFile(file, offset: offset, maxBytes: maxLength)
        } catch {
            throw .io("cannot read \(file): \(error)")
        }
    }

    /// Removes entries (both files); returns the removed names, oldest first.
    @discardableResult
    public func purge(_ scope: PurgeScope) throws(BadmailError) -> [String] {
        guard Self.isDirectory(path) else { return [] }
        let lock = try DirectoryLock(path)
        defer { lock.release() }
        let removed = BadmailRules.purge(try scan(), scope: scope)
        for name in removed { removeEntry(name) }
        removeStaleTemps(olderThan: Date().addingTimeInterval(-3600)) // never a file being written now
        Self.syncDirectory(path)
        return removed
    }

    // MARK: - Writing

    private static func notStored(_ preparation: BadmailRules.Preparation) -> StoreResult {
        if case .skip(let reason) = preparation { return .notStored(reason: reason) }
        return .notStored(reason: "internal: not a skip")
    }

    /// The plan for an entry (pure), with the directory created unless the cap is 0.
    private func prepare(
        queueID: String, reason: String, sender: String, recipients: [String], arrivedAt: Date?,
        messageSize: Int64, now: Date
    ) throws(BadmailError) -> BadmailRules.Preparation {
        if maxBytes > 0 { try ensureDirectory() }
        return BadmailRules.plan(
            queueID: queueID, reason: reason, sender: sender, recipients: recipients,
            arrivedAt: arrivedAt, messageSize: messageSize, now: now, maxBytes: maxBytes)
    }

    private func commit(_ p: BadmailRules.Plan, messageTemp: TempFile) throws(BadmailError) -> StoreResult {
        let infoTemp = try TempFile(directory: path, suffix: ".txt")
        do throws(BadmailError) {
            try infoTemp.write(p.infoBytes[...])
            try messageTemp.sync()
            try infoTemp.sync()
            let lock = try DirectoryLock(path)
            defer { lock.release() }
            removeStaleTemps(olderThan: Date().addingTimeInterval(-3600)) // the real clock: file times are real
            // Prune oldest-first until the new entry fits.
            let pruned = BadmailRules.prune(try scan(), toFit: p.entrySize, maxBytes: maxBytes)
            for name in pruned { removeEntry(name) }
            // A unique name: the microseconds bumped while taken.
            guard
                let name = BadmailRules.freeName(
                    now: p.now, queueID: p.queueID,
                    isTaken: {
                        Self.exists(join($0 + ".eml")) || Self.exists(join($0 + ".txt"))
                    })
            else { throw .io("cannot find a free entry name in \(path)") }
            try infoTemp.rename(to: join(name + ".txt"))
            try messageTemp.rename(to: join(name + ".eml"))
            Self.syncDirectory(path)
            return .stored(name: name, truncated: p.truncated, pruned: pruned)
        } catch {
            infoTemp.discard()
            throw error
        }
    }

    private func ensureDirectory() throws(BadmailError) {
        if Self.isDirectory(path) { return }
        if Self.exists(path) { throw .io("\(path) exists and is not a directory") }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, !Self.isDirectory(parent) {
            do {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            } catch {
                throw .io("cannot create \(parent): \(error)")
            }
        }
        if mkdir(path, 0o700) != 0, errno != EEXIST {
            throw .io("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        _ = chmod(path, 0o700)
    }

    // MARK: - Reading the directory

    /// Entries made of regular files with entry-shaped names; unsorted.
    private func scan() throws(BadmailError) -> [Entry] {
        guard Self.isDirectory(path) else { return [] }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw .io("cannot list \(path): \(error)")
        }
        var sizes: [String: Int64] = [:]
        for file in names {
            guard let base = BadmailRules.entryBase(ofFile: file), let size = Self.regularFileSize(join(file)) else { continue }
            sizes[base, default: 0] += size
        }
        return sizes.compactMap { base, size in
            guard let parsed = BadmailRules.parseName(base) else { return nil }
            let reason =
                (try? Self.readFile(join(base + ".txt"), maxBytes: 64 * 1024))
                .map { BadmailRules.firstReasonLine(String(decoding: $0, as: UTF8.self)) } ?? ""
            return Entry(name: base, date: parsed.date, size: size, queueID: parsed.queueID, reason: reason)
        }
    }

    private func removeEntry(_ base: String) {
        _ = unlink(join(base + ".eml"))
        _ = unlink(join(base + ".txt"))
    }

    private func removeStaleTemps(olderThan date: Date) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return }
        for file in names where file.hasPrefix(TempFile.prefix) {
            var info = stat()
            guard lstat(join(file), &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            if Double(modificationSeconds(info)) < date.timeIntervalSince1970 { _ = unlink(join(file)) }
        }
    }

    func join(_ file: String) -> String { path.hasSuffix("/") ? path + file : path + "/" + file }
}
