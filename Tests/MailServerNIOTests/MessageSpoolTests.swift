import Foundation
import MailServerNIO
import MailStore
import NIOCore
import NIOPosix
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

/// File work on a thread pool (never on the event loop): one write at a time, the body ready once it
/// is done, `reset` during a write deletes the file after it.
@Suite struct MessageSpoolPoolTests {
    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "petrel-spool-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func files(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("spool-") }
    }

    /// Runs `body` on an event loop of a fresh group with a fresh pool.
    func withLoop(_ body: @escaping @Sendable (any EventLoop, NIOThreadPool) async throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        do {
            try await body(group.next(), pool)
        } catch {
            try? await pool.shutdownGracefully()
            try? await group.shutdownGracefully()
            throw error
        }
        try await pool.shutdownGracefully()
        try await group.shutdownGracefully()
    }

    @Test func writesRunOnThePoolOneAtATime() async throws {
        let dir = try tempDir()
        try await withLoop { loop, pool in
            let bound = try await loop.submit { NIOLoopBound(MessageSpool(directory: dir, memoryThreshold: 1024), eventLoop: loop) }.get()
            let chunk = [UInt8](repeating: 0x42, count: 700)
            // Below the threshold: memory, no write.
            let first = try await loop.submit { bound.value.append(chunk, pool: pool, eventLoop: loop) == nil }.get()
            #expect(first)
            // Over it: one write (memory + chunk) on the pool; the spool says so until it is done.
            let write = try await loop.submit { () -> EventLoopFuture<Void>? in
                let spool = bound.value
                let future = spool.append(chunk, pool: pool, eventLoop: loop)
                #expect(spool.isWriting)
                #expect(throws: SpoolError.self) { try spool.body() }
                return future
            }.get()
            guard let write else { Issue.record("expected a write"); return }
            try await write.get()
            let second = try await loop.submit { () -> EventLoopFuture<Void>? in
                let spool = bound.value
                #expect(!spool.isWriting)
                return spool.append(chunk, pool: pool, eventLoop: loop)
            }.get()
            try await second?.get()
            let body = try await loop.submit { try bound.value.body() }.get()
            guard case .file(let path, let size) = body else { Issue.record("expected a file body"); return }
            #expect(size == 2100)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(repeating: 0x42, count: 2100))
            try await loop.submit { bound.value.reset() }.get()
            let deadline = Date().addingTimeInterval(10)
            while FileManager.default.fileExists(atPath: path) && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test func resetDuringAWriteDeletesTheFileAfterIt() async throws {
        let dir = try tempDir()
        try await withLoop { loop, pool in
            let bound = try await loop.submit { NIOLoopBound(MessageSpool(directory: dir, memoryThreshold: 16), eventLoop: loop) }.get()
            let write = try await loop.submit { () -> EventLoopFuture<Void>? in
                let spool = bound.value
                let future = spool.append([UInt8](repeating: 0x43, count: 100_000), pool: pool, eventLoop: loop)
                spool.reset() // the connection closed while the write runs
                #expect(spool.isWriting)
                return future
            }.get()
            try await write?.get()
            try await loop.submit {
                let spool = bound.value
                #expect(!spool.isWriting)
                if case .bytes(let rest)? = try? spool.body() { #expect(rest.isEmpty) } else { Issue.record("expected an empty memory body") }
            }.get()
            let deadline = Date().addingTimeInterval(10)
            while !files(in: dir).isEmpty && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(files(in: dir).isEmpty)
        }
    }

    @Test func appendingDuringAWriteFailsTheBodyInsteadOfReordering() async throws {
        let dir = try tempDir()
        try await withLoop { loop, pool in
            let bound = try await loop.submit { NIOLoopBound(MessageSpool(directory: dir, memoryThreshold: 16), eventLoop: loop) }.get()
            let write = try await loop.submit { () -> EventLoopFuture<Void>? in
                let spool = bound.value
                let future = spool.append([UInt8](repeating: 1, count: 100), pool: pool, eventLoop: loop)
                #expect(spool.append([2, 3], pool: pool, eventLoop: loop) == nil)
                #expect(spool.hasFailed)
                return future
            }.get()
            try await write?.get()
            try await loop.submit {
                let spool = bound.value
                #expect(spool.hasFailed)
                #expect(throws: SpoolError.self) { try spool.body() }
                spool.reset()
            }.get()
        }
    }

    @Test func unwritableDirectoryFailsCleanlyOnThePool() async throws {
        try await withLoop { loop, pool in
            let bound = try await loop.submit {
                NIOLoopBound(MessageSpool(directory: "/nonexistent-petrel-dir", memoryThreshold: 4), eventLoop: loop)
            }.get()
            let write = try await loop.submit { bound.value.append([1, 2, 3, 4, 5, 6], pool: pool, eventLoop: loop) }.get()
            try await write?.get()
            try await loop.submit {
                let spool = bound.value
                #expect(spool.hasFailed)
                #expect(throws: SpoolError.self) { try spool.body() }
            }.get()
        }
    }
}
