/// Where a message body goes while it arrives: memory up to a threshold, then a file in the spool
/// directory, so memory per connection stays bounded whatever the message size. The store reads the file
/// in chunks and the spool deletes it.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import MailStore

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
            guard openFile() else { failed = true; return }
            if !writeAll(memory) { failed = true; return }
            memory = []
        }
        if !writeAll(bytes) { failed = true }
    }

    public var hasFailed: Bool { failed }

    /// The body for the store. For a file body the caller must keep the spool alive until the store is done,
    /// then call `reset()` (which deletes the file).
    public func body() throws -> MessageBody {
        if failed { throw SpoolError(description: "spool write failed") }
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

    /// Drops the body (deleting any file).
    public func reset() {
        if fd >= 0 { close(fd); fd = -1 }
        if let path { unlink(path) }
        path = nil
        memory = []
        size = 0
        failed = false
    }

    private func openFile() -> Bool {
        var template = Array("\(directory)/spool-XXXXXX".utf8CString)
        let newFD = template.withUnsafeMutableBufferPointer { buf -> Int32 in
            guard let base = buf.baseAddress else { return -1 }
            return mkstemp(base)
        }
        guard newFD >= 0 else { return false }
        fd = newFD
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return true
    }

    private func writeAll(_ bytes: [UInt8]) -> Bool {
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
