/// File-system helpers of the Badmail directory: temporary files written with O_EXCL|O_NOFOLLOW and
/// fsync, the directory flock, and reads that never follow symbolic links. POSIX only (Linux, macOS);
/// no RFC applies. (Names and the description: `BadmailRules` in MailQueue.)
import Foundation
import MailCore
import MailQueue

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension BadmailDirectory {
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
