import Foundation
import MailQueue
import Testing

@testable import BadmailStore

/// The Badmail directory on a real disk (temporary directories): files, fsync'd renames, caps, symlinks,
/// purges. The rules alone are tested without a disk in MailQueueTests/BadmailRulesTests.swift.
@Suite struct BadmailDirectoryTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func tempDir() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("petrel-badmail-\(UUID().uuidString)").path
    }

    func store(
        _ dir: BadmailDirectory, _ qid: String, size: Int, at offset: TimeInterval,
        reason: String = "550 5.1.1 no such user"
    ) throws -> BadmailDirectory.StoreResult {
        try dir.store(
            queueID: qid, reason: reason, sender: "<a@b.example>", recipients: ["x@y.example"],
            arrivedAt: t0, message: Array(repeating: UInt8(ascii: "m"), count: size),
            now: t0.addingTimeInterval(offset))
    }

    @Test func storesOneEntryWithTwoFilesAndPrivateDirectory() throws {
        let path = tempDir() + "/nested/badmail"
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let dir = BadmailDirectory(path: path)
        let result = try store(dir, "0R2X8K4M9T3ABCDE", size: 100, at: 0.25, reason: "550 5.1.1 unknown\nsecond line")
        guard case .stored(let name, let truncated, let pruned) = result else { Issue.record("not stored"); return }
        #expect(name == "20270115T080000.250000Z-0R2X8K4M9T3ABCDE")
        #expect(!truncated && pruned.isEmpty)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o700)
        let files = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        #expect(files == [name + ".eml", name + ".txt"])
        let record = try dir.read(name)
        #expect(record.messageSize == 100)
        #expect(record.entry.queueID == "0R2X8K4M9T3ABCDE")
        #expect(record.entry.reason == "550 5.1.1 unknown")
        #expect(record.entry.date == t0.addingTimeInterval(0.25))
        #expect(record.info.contains("Sender: <a@b.example>\n"))
        #expect(record.info.contains("Recipients: x@y.example\n"))
        #expect(record.info.contains("second line"))
        #expect(try dir.readMessage(name + ".eml", offset: 90, maxLength: 100) == Array(repeating: UInt8(ascii: "m"), count: 10))
        #expect(try dir.totalSize() == record.entry.size)
        #expect(record.entry.size > 100)
    }

    @Test func capPrunesOldestFirstAndListsNewestFirst() throws {
        let path = tempDir()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let probe = BadmailDirectory(path: path, maxBytes: 1_000_000)
        // Measure one entry.
        guard case .stored(let first, _, _) = try store(probe, "AAA1", size: 1000, at: 0) else { Issue.record("no"); return }
        let one = try probe.totalSize()
        let dir = BadmailDirectory(path: path, maxBytes: one * 3 + 10)
        _ = try store(dir, "AAA2", size: 1000, at: 10)
        _ = try store(dir, "AAA3", size: 1000, at: 20)
        #expect(try dir.list().map(\.queueID) == ["AAA3", "AAA2", "AAA1"])
        let result = try store(dir, "AAA4", size: 1000, at: 30)
        guard case .stored(_, false, let pruned) = result else { Issue.record("\(result)"); return }
        #expect(pruned == [first])
        #expect(try dir.list().map(\.queueID) == ["AAA4", "AAA3", "AAA2"])
        #expect(try dir.totalSize() <= dir.maxBytes)
        // A big one pushes out two.
        guard case .stored(_, false, let pruned2) = try store(dir, "AAA5", size: 2000, at: 40) else { Issue.record("no"); return }
        #expect(pruned2.count == 2)
        #expect(try dir.list().map(\.queueID) == ["AAA5", "AAA4"])
    }

    @Test func oversizedEntryIsTruncatedToTheCap() throws {
        let path = tempDir()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let dir = BadmailDirectory(path: path, maxBytes: 4000)
        _ = try store(dir, "OLD", size: 100, at: 0)
        let result = try store(dir, "HUGE", size: 50_000, at: 1)
        guard case .stored(let name, true, let pruned) = result else { Issue.record("\(result)"); return }
        #expect(pruned.count == 1)
        #expect(try dir.totalSize() == 4000)
        let record = try dir.read(name)
        #expect(record.info.contains("Truncated: yes"))
        #expect(record.info.contains("of 50000 octets"))
        #expect(record.messageSize < 4000 && record.messageSize > 3000)
    }

    @Test func zeroCapKeepsNothing() throws {
        let path = tempDir()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let dir = BadmailDirectory(path: path, maxBytes: 0)
        let result = try store(dir, "Q", size: 10, at: 0)
        guard case .notStored(let reason) = result else { Issue.record("stored"); return }
        #expect(reason.contains("0"))
        #expect(try dir.list().isEmpty)
        let tiny = BadmailDirectory(path: path, maxBytes: 20)
        guard case .notStored = try store(tiny, "Q", size: 10, at: 0) else { Issue.record("stored"); return }
    }

    @Test func sameSecondEntriesGetDistinctNames() throws {
        let path = tempDir()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let dir = BadmailDirectory(path: path)
        guard case .stored(let a, _, _) = try store(dir, "SAME", size: 5, at: 0),
            case .stored(let b, _, _) = try store(dir, "SAME", size: 5, at: 0)
        else { Issue.record("no"); return }
        #expect(a != b)
        #expect(try dir.list().count == 2)
    }

    @Test(arguments: [
        "../etc/passwd", "a/b", "..", "", "20270115T080000.250000Z-", "20270115T080000.250000Z-A/B",
        "20271315T080000.250000Z-ABC", "20270115T080000.250000Z-../x", "notanentry.eml", "/etc/passwd"
    ])
    func invalidNamesAreRefused(name: String) throws {
        let path = tempDir()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let dir = BadmailDirectory(path: path)
        #expect(throws: BadmailError.invalidName(name)) { try dir.read(name) }
        #expect(throws: BadmailError.invalidName(name)) { try dir.readMessage(name, offset: 0, maxLength: 10) }
    }

    @Test func missingEntryIsNotFound() throws {
        let dir = BadmailDirectory(path: tempDir())
        #expect(throws: BadmailError.notFound("20270115T080000.250000Z-ABC")) { try dir.read("20270115T080000.250000Z-ABC") }
        #expect(try dir.list().isEmpty)
        #expect(try dir.purge(.all).isEmpty)
    }

    @Test func symlinksAreNeverFollowed() throws {
        let path = tempDir()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let dir = BadmailDirectory(path: path)
        _ = try store(dir, "REAL", size: 5, at: 0)
        let outside = tempDir()
        try Data("secret".utf8).write(to: URL(fileURLWithPath: outside))
        defer { try? FileManager.default.removeItem(atPath: outside) }
        let linkName = "20270115T090000.000000Z-LINK"
        try FileManager.default.createSymbolicLink(atPath: path + "/" + linkName + ".eml", withDestinationPath: outside)
        #expect(try dir.list().map(\.queueID) == ["REAL"])
        #expect(throws: BadmailError.notFound(linkName)) { try dir.read(linkName) }
        #expect(throws: BadmailError.notFound(linkName)) { try dir.readMessage(linkName, offset: 0, maxLength: 10) }
        _ = try dir.purge(.all)
        #expect(FileManager.default.fileExists(atPath: outside))
    }

    @Test func purgeAllAndOlderThan() throws {
        let path = tempDir()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let dir = BadmailDirectory(path: path)
        _ = try store(dir, "P1", size: 5, at: 0)
        _ = try store(dir, "P2", size: 5, at: 86_400)
        _ = try store(dir, "P3", size: 5, at: 2 * 86_400)
        let removed = try dir.purge(.olderThan(t0.addingTimeInterval(86_400)))
        #expect(removed.count == 1 && removed.first?.hasSuffix("-P1") == true)
        #expect(try dir.list().map(\.queueID) == ["P3", "P2"])
        #expect(try dir.purge(.all).count == 2)
        #expect(try dir.list().isEmpty)
        #expect(try dir.totalSize() == 0)
    }

    @Test func streamingStoreReadsOnlyWhatFits() async throws {
        let path = tempDir()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let dir = BadmailDirectory(path: path, maxBytes: 200_000)
        let source = (0..<300_000).map { UInt8($0 % 251) }
        var reads = 0
        let result = try await dir.store(
            queueID: "STREAM", reason: "expired", sender: "<>", recipients: ["r@x.example"],
            arrivedAt: nil, messageSize: Int64(source.count), now: t0
        ) { offset, max in
            reads += 1
            let start = Int(offset)
            return Array(source[start..<min(source.count, start + max)])
        }
        guard case .stored(let name, true, _) = result else { Issue.record("\(result)"); return }
        let record = try dir.read(name)
        #expect(record.messageSize == Int64(try dir.readMessage(name, offset: 0, maxLength: 1_000_000).count))
        #expect(try dir.readMessage(name, offset: 0, maxLength: 1000) == Array(source.prefix(1000)))
        #expect(try dir.totalSize() == 200_000)
        #expect(reads == 4) // 200 000 - description, in 64 KiB chunks
        #expect(record.info.contains("Sender: <>"))
    }
}
