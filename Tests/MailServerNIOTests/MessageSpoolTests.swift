import Foundation
import MailServerNIO
import MailStore
import Testing

@Suite struct MessageSpoolTests {
    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "petrel-spool-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func smallBodiesStayInMemory() throws {
        let spool = MessageSpool(directory: try tempDir(), memoryThreshold: 1024)
        spool.append(Array("hello\r\n".utf8))
        guard case .bytes(let b) = try spool.body() else { Issue.record("expected memory body"); return }
        #expect(b == Array("hello\r\n".utf8))
    }

    @Test func largeBodiesGoToAFileThatResetDeletes() throws {
        let dir = try tempDir()
        let spool = MessageSpool(directory: dir, memoryThreshold: 1024)
        let chunk = [UInt8](repeating: 0x41, count: 700)
        for _ in 0..<10 { spool.append(chunk) }
        guard case .file(let path, let size) = try spool.body() else { Issue.record("expected file body"); return }
        #expect(size == 7000)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(repeating: 0x41, count: 7000))
        spool.reset()
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func staleFilesAreCleaned() throws {
        let dir = try tempDir()
        _ = FileManager.default.createFile(atPath: dir + "/spool-abc123", contents: Data([1, 2, 3]))
        _ = FileManager.default.createFile(atPath: dir + "/keep.txt", contents: Data([1]))
        MessageSpool.cleanStaleFiles(in: dir)
        #expect(!FileManager.default.fileExists(atPath: dir + "/spool-abc123"))
        #expect(FileManager.default.fileExists(atPath: dir + "/keep.txt"))
    }

    @Test func unwritableDirectoryFailsCleanly() throws {
        let spool = MessageSpool(directory: "/nonexistent-petrel-dir", memoryThreshold: 4)
        spool.append([1, 2, 3, 4, 5, 6])
        #expect(spool.hasFailed)
        #expect(throws: SpoolError.self) { try spool.body() }
    }
}
