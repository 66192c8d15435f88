import MailStore
import NIOCore
import NIOPosix

/// Where a message body goes while it arrives: memory up to a threshold, then a file in the spool
/// directory, so memory per connection stays bounded whatever the message size. The store reads the file
/// in chunks and the spool deletes it.
///
/// On a connection the file work (`mkstemp`, `write`, `close`, `unlink`) runs on a thread pool, never on
/// the event loop: `append(_:pool:eventLoop:)` starts one write and returns its future; until it
/// completes (`isWriting`) the handler appends nothing more and stops reading the body, so at most one
/// buffer (what one read decoded, plus the memory part the first time) is pending. `reset()` during a
/// write waits for it. Without a pool (`append(_:)`) the same work runs in place.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

public struct SpoolError: Error, CustomStringConvertible {
    public let description: String
}

public final class MessageSpool {
    private let directory: String
    private let memoryThreshold: Int
    private var memory: [UInt8] = []
    private var fd: Int32 = -1
    private var path: String?
    private(set) var size: Int64 = 0
    private var failed = false
    /// A store (message check, then commit) is reading the body: `discard()` leaves it alone.
    public private(set) var isHeld = false
    /// A write runs on the thread pool: nothing more may be appended, and the body is not ready.
    public private(set) var isWriting = false
    /// `reset()` was called during a write: it happens when the write is done.
    private var resetAfterWrite = false
    /// Where `reset()` closes and deletes the file (nil: in place).
    private var cleanupPool: NIOThreadPool?

    public init(directory: String, memoryThreshold: Int = 256 * 1024) {
        self.directory = directory
        self.memoryThreshold = memoryThreshold
    }

    deinit { reset() }

    /// Appends body bytes. After an I/O error the spool stays failed until `reset()`.
    public func append(_ bytes: [UInt8]) {
        guard !failed, !bytes.isEmpty else { return }
        size += Int64(bytes.count)
        if fd < 0 && memory.count + bytes.count <= memoryThreshold {
            memory.append(contentsOf: bytes)
            return
        }
        if fd < 0 {
            guard let (newFD, newPath) = Self.openFile(in: directory) else { failed = true; return }
            fd = newFD
            path = newPath
            if !Self.writeAll(memory, to: fd) { failed = true; return }
            memory = []
        }
        if !Self.writeAll(bytes, to: fd) { failed = true }
    }

    public var hasFailed: Bool { failed }

    /// Appends body bytes; file work runs on `pool`. Returns nil when the bytes were kept in memory (or
    /// the spool has failed), else the future of the write, completed on `eventLoop` after the spool's
    /// own state is updated. While it is pending (`isWriting`) the caller must not append.
    public func append(_ bytes: [UInt8], pool: NIOThreadPool, eventLoop: any EventLoop) -> EventLoopFuture<Void>? {
        guard !failed, !bytes.isEmpty else { return nil }
        // The caller waits for a running write; appending anyway would reorder bytes: fail the body.
        guard !isWriting else {
            failed = true
            return nil
        }
        size += Int64(bytes.count)
        if fd < 0 && memory.count + bytes.count <= memoryThreshold {
            memory.append(contentsOf: bytes)
            return nil
        }
        cleanupPool = pool
        let pending: [UInt8]
        if fd < 0 {
            pending = memory + bytes
            memory = []
        } else {
            pending = bytes
        }
        let job = WriteJob(directory: directory, fd: fd, path: path)
        isWriting = true
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        return pool.runIfActive(eventLoop: eventLoop) { job.run(pending) }
            .recover { _ in WriteJob.Result(fd: job.fd, path: job.path, ok: false) }
            .map { result in
                let spool = bound.value
                spool.isWriting = false
                spool.fd = result.fd
                spool.path = result.path
                if !result.ok { spool.failed = true }
                if spool.resetAfterWrite {
                    spool.resetAfterWrite = false
                    spool.reset()
                }
            }
    }

    /// One write on the pool: opens the file first when there is none. Values in, values out.
    private struct WriteJob: Sendable {
        struct Result: Sendable {
            var fd: Int32
            var path: String?
            var ok: Bool
        }
        let directory: String
        let fd: Int32
        let path: String?

        func run(_ bytes: [UInt8]) -> Result {
            var result = Result(fd: fd, path: path, ok: false)
            if result.fd < 0 {
                guard let (newFD, newPath) = MessageSpool.openFile(in: directory) else { return result }
                result.fd = newFD
                result.path = newPath
            }
            result.ok = MessageSpool.writeAll(bytes, to: result.fd)
            return result
        }
    }

    /// The body for the store. For a file body the caller must keep the spool alive until the store is done,
    /// then call `reset()` (which deletes the file).
    public func body() throws -> MessageBody {
        if failed { throw SpoolError(description: "spool write failed") }
        if isWriting { throw SpoolError(description: "spool write still running") }
        if let path {
            return .file(path: path, size: size)
        }
        return .bytes(memory)
    }

    /// The first `maxLength` octets of the body so far (from memory, or read back from the spool file);
    /// fewer when the body is shorter or the file cannot be read.
    public func prefix(_ maxLength: Int) -> [UInt8] {
        guard maxLength > 0 else { return [] }
        guard fd >= 0 else { return Array(memory.prefix(maxLength)) }
        let want = Int(min(Int64(maxLength), size))
        var out = [UInt8](repeating: 0, count: want)
        var done = 0
        while done < want {
            let n = out.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return pread(fd, base + done, want - done, off_t(done))
            }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
        return Array(out.prefix(done))
    }

    /// The store takes the body (`body()`): it stays until `release()`.
    public func hold() { isHeld = true }

    /// The store is done with the body: drops it (deleting any file).
    public func release() {
        isHeld = false
        reset()
    }

    /// Drops the body unless a store holds it (the connection closed, the transaction was discarded).
    public func discard() {
        if !isHeld { reset() }
    }

    /// Drops the body (deleting any file; on the pool when appends used one). During a write the file
    /// is dropped when the write is done.
    public func reset() {
        memory = []
        size = 0
        failed = false
        if isWriting {
            resetAfterWrite = true
            return
        }
        let (oldFD, oldPath) = (fd, path)
        fd = -1
        path = nil
        guard oldFD >= 0 || oldPath != nil else { return }
        if let pool = cleanupPool {
            pool.submit { _ in Self.removeFile(fd: oldFD, path: oldPath) }
        } else {
            Self.removeFile(fd: oldFD, path: oldPath)
        }
    }

    private static func removeFile(fd: Int32, path: String?) {
        if fd >= 0 { close(fd) }
        if let path { unlink(path) }
    }

    private static func openFile(in directory: String) -> (Int32, String)? {
        var template = Array("\(directory)/spool-XXXXXX".utf8CString)
        let newFD = template.withUnsafeMutableBufferPointer { buf -> Int32 in
            guard let base = buf.baseAddress else { return -1 }
            return mkstemp(base)
        }
        guard newFD >= 0 else { return nil }
        return (newFD, String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    private static func writeAll(_ bytes: [UInt8], to fd: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return write(fd, base + offset, bytes.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }

    /// Removes spool files left behind by a crash (they belong to transactions that never got a 250).
    public static func cleanStaleFiles(in directory: String) {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { ptr in
                ptr.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name.hasPrefix("spool-") { unlink("\(directory)/\(name)") }
        }
    }
}
