/// One `petrel serve` per data directory, and a node id kept across restarts (DataDirectoryLock.swift).
import Foundation
import Logging
import MailCore
import Testing

@testable import PetrelServer

@Suite struct DataDirectoryLockTests {
    func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("petrel-datadir-\(UUID().uuidString)").path
    }

    let logger = Logger(label: "test.datadir")

    @Test func aSecondServerOnTheSameDirectoryIsRefusedUntilTheFirstReleases() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try DataDirectoryLock.acquire(dataDirectory: dir)
        #expect(try String(contentsOfFile: dir + "/petrel.lock", encoding: .utf8) == "\(getpid())\n")
        var message = "no error"
        do { _ = try DataDirectoryLock.acquire(dataDirectory: dir) } catch { message = "\(error)" }
        #expect(message.contains("another petrel serve (pid \(getpid())) is running on the data directory \(dir)"), "\(message)")
        first.release()
        first.release()
        let second = try DataDirectoryLock.acquire(dataDirectory: dir)
        second.release()
    }

    @Test func theGeneratedNodeIDIsKeptAndAConfiguredOneWins() throws {
        let dir = directory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let id = DataDirectoryLock.nodeID(configured: nil, dataDirectory: dir, hostname: "mx1.example.test", logger: logger)
        #expect(id.hasPrefix("mx1.example.test-") && NodeID.isValid(id))
        #expect(DataDirectoryLock.nodeID(configured: nil, dataDirectory: dir, hostname: "other", logger: logger) == id)
        #expect(DataDirectoryLock.nodeID(configured: "mx9", dataDirectory: dir, hostname: "mx1", logger: logger) == "mx9")
        #expect(try String(contentsOfFile: dir + "/node-id", encoding: .utf8) == id + "\n")
    }

    @Test func anInvalidNodeIDFileIsReplaced() throws {
        let dir = directory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("not a valid id!\n".utf8).write(to: URL(fileURLWithPath: dir + "/node-id"))
        let id = DataDirectoryLock.nodeID(configured: nil, dataDirectory: dir, hostname: "mx1", logger: logger)
        #expect(id.hasPrefix("mx1-"))
        #expect(try String(contentsOfFile: dir + "/node-id", encoding: .utf8) == id + "\n")
    }
}
