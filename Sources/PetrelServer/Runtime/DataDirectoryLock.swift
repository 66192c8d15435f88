/// The data directory belongs to one `petrel serve` at a time, and that process keeps one node id across
/// restarts.
///
/// - `<data_dir>/petrel.lock` is held with `flock(LOCK_EX)` while the server runs (the kernel drops it
///   when the process dies, even by `kill -9`). A second `petrel serve` on the same directory stops at
///   once with the first one's pid: two processes would clean each other's spool files at start and
///   share one node id. The CLI does not take it (it manages a running server's store).
/// - `<data_dir>/node-id` keeps the generated node id when `[server] node_id` is not set, so a node
///   restarted after a crash is the same owner as before and hands back the queue leases of its dead run
///   at once (`DeliveryAgent.run`, docs/QUEUE.md "When a node dies") instead of waiting for them to expire.
import Foundation
import Logging
import MailCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

public final class DataDirectoryLock: Sendable {
    public let path: String
    private let descriptor: Mutex<Int32?>

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = Mutex(descriptor)
    }

    /// Takes the lock of `dataDirectory` (created if missing) or throws `ServerStartError` naming the
    /// process that holds it.
    public static func acquire(dataDirectory: String) throws -> DataDirectoryLock {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let path = dataDirectory + "/petrel.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ServerStartError(message: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            if reason == EWOULDBLOCK {
                let who = holder.flatMap { $0.isEmpty ? nil : "pid \($0)" } ?? "another process"
                throw ServerStartError(
                    message: "another petrel serve (\(who)) is running on the data directory \(dataDirectory) "
                        + "(it holds \(path)); stop it first, or give this one its own [server] data_dir")
            }
            throw ServerStartError(message: "cannot lock \(path): \(String(cString: strerror(reason)))")
        }
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 { _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
        return DataDirectoryLock(path: path, descriptor: fd)
    }

    /// Lets the next `petrel serve` start (closing the file drops the lock). Safe to call twice.
    public func release() {
        descriptor.withLock { fd in
            guard let open = fd else { return }
            close(open)
            fd = nil
        }
    }

    deinit { release() }

    /// This node's id: `configured` (`[server] node_id`), else the one kept in `<data_dir>/node-id`, else a
    /// new one (`NodeID.generate`) written there. A file that is unreadable or holds an invalid id is
    /// replaced (and logged); when it cannot be written the id lasts for this run only.
    public static func nodeID(configured: String?, dataDirectory: String, hostname: String, logger: Logger) -> String {
        if let configured { return configured }
        let path = dataDirectory + "/node-id"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let kept = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if NodeID.isValid(kept) { return kept }
            logger.warning("ignoring an invalid node id file; writing a new id", metadata: ["path": "\(path)"])
        }
        let id = NodeID.generate(hostname: hostname)
        do {
            try Data((id + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            logger.warning(
                "cannot keep the node id; a restart will use a new one", metadata: ["path": "\(path)", "error": "\(error)"])
        }
        return id
    }
}
