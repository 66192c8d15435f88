/// A real PostgreSQL server for tests: its own cluster in a temporary directory (initdb + pg_ctl from
/// Debian's packages), listening on 127.0.0.1 on a free port, one per test process (`shared`, started
/// on first use, stopped when the process exits).
///
/// As root (CI), initdb refuses to run, so the cluster belongs to an unprivileged user (`nobody`, or
/// `PETREL_PG_TEST_USER`): the directory is given to it and every PostgreSQL program runs through
/// `runuser -u USER --`. Clients connect over TCP with SCRAM-SHA-256 as the superuser `petrel` with a
/// random password (`password`), so the tests go through the same authentication as a real site.
///
/// When PostgreSQL is not installed, `shared` fails with a message naming the package; tests skip
/// then, except under CI=true where a missing peer is an error (see e2e/peers.py).
import Foundation
import Synchronization

public final class PostgresTestCluster: Sendable {
    public let host = "127.0.0.1"
    public let port: Int
    public let user = "petrel"
    public let password: String
    public let database = "petrel"
    /// The cluster directory (data, socket, log).
    public let directory: String
    let binDirectory: String
    let runAs: String?

    /// The directory holding initdb and pg_ctl: PATH first, then Debian's /usr/lib/postgresql/N/bin.
    public static func findBinDirectory() -> String? {
        var candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        if let versions = try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            let sorted = versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }
            candidates += sorted.map { "/usr/lib/postgresql/\($0)/bin" }
        }
        guard
            let dir = candidates.first(where: { dir in
                ["initdb", "pg_ctl", "psql"].allSatisfy { FileManager.default.isExecutableFile(atPath: dir + "/" + $0) }
                    || ["initdb", "pg_ctl"].allSatisfy { FileManager.default.isExecutableFile(atPath: dir + "/" + $0) }
            })
        else { return nil }
        // A symbolic link (e.g. /usr/local/bin/initdb) leads to the installation's own bin directory,
        // which has psql and postgres too.
        let resolved = URL(fileURLWithPath: dir + "/initdb").resolvingSymlinksInPath().deletingLastPathComponent().path
        return FileManager.default.isExecutableFile(atPath: resolved + "/psql") ? resolved : dir
    }

    /// True when the CI environment variable says so: then a missing PostgreSQL is an error, not a skip.
    public static var isCI: Bool {
        ["true", "1", "yes"].contains((ProcessInfo.processInfo.environment["CI"] ?? "").lowercased())
    }

    /// Whether the PostgreSQL tests run: PostgreSQL is installed, or CI demands it (and then fails).
    public static var shouldRun: Bool { findBinDirectory() != nil || isCI }

    /// Why the PostgreSQL tests are skipped.
    public static let skipReason =
        "PostgreSQL (initdb, pg_ctl) not found on PATH nor in /usr/lib/postgresql/*/bin; install: apt-get install postgresql"

    /// The cluster of this test process, started on first use.
    public static let shared: Result<PostgresTestCluster, ClusterError> = {
        do {
            let cluster = try PostgresTestCluster()
            sharedDirectoryForExit.withLock { $0 = (cluster.binDirectory, cluster.directory, cluster.runAs) }
            atexit {
                PostgresTestCluster.stopAtExit()
            }
            return .success(cluster)
        } catch let error as ClusterError {
            return .failure(error)
        } catch {
            return .failure(ClusterError(message: "\(error)"))
        }
    }()

    public struct ClusterError: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    private static let sharedDirectoryForExit = Mutex<(String, String, String?)?>(nil)

    private static func stopAtExit() {
        guard let (bin, dir, runAs) = sharedDirectoryForExit.withLock({ $0 }) else { return }
        _ = try? run(bin + "/pg_ctl", ["-D", dir + "/data", "-m", "immediate", "-w", "stop"], as: runAs)
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Starts a new cluster (initdb, then pg_ctl start on a free loopback port; three tries when the port
    /// is taken meanwhile).
    public init() throws {
        guard let bin = Self.findBinDirectory() else { throw ClusterError(message: Self.skipReason) }
        binDirectory = bin
        runAs = getuid() == 0 ? (ProcessInfo.processInfo.environment["PETREL_PG_TEST_USER"] ?? "nobody") : nil
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-pg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        directory = dir
        var bytes = [UInt8](repeating: 0, count: 18)
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
        password = Data(bytes).base64EncodedString().replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "+", with: "-")
        let pwfile = dir + "/pwfile"
        guard FileManager.default.createFile(atPath: pwfile, contents: Data(password.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ClusterError(message: "cannot write \(pwfile)")
        }
        if let runAs {
            // The directory and the password file belong to the unprivileged user.
            _ = try Self.run("/bin/chown", ["-R", runAs, dir], as: nil)
        }
        _ = try Self.run(
            bin + "/initdb",
            [
                "-D", dir + "/data", "-U", user, "--pwfile=" + pwfile, "--auth-local=trust", "--auth-host=scram-sha-256",
                "-E", "UTF8", "--locale=C", "--no-sync"
            ], as: runAs)
        var lastError: (any Error)?
        var started: Int?
        for _ in 0..<3 where started == nil {
            let port = try Self.freePort()
            let options = [
                "-c listen_addresses=127.0.0.1", "-p \(port)", "-c unix_socket_directories=\(dir)",
                "-c max_connections=300", "-c shared_buffers=32MB", "-c fsync=on"
            ].joined(separator: " ")
            do {
                // No output pipe: the server would inherit it and hold it open (its output goes to the log).
                _ = try Self.run(
                    bin + "/pg_ctl", ["-D", dir + "/data", "-l", dir + "/server.log", "-o", options, "-w", "-t", "120", "start"], as: runAs,
                    capture: false)
                started = port
            } catch {
                lastError = error
            }
        }
        guard let started else { throw lastError ?? ClusterError(message: "PostgreSQL did not start") }
        port = started
        do {
            _ = try Self.run(psqlPath, ["-h", dir, "-p", "\(started)", "-U", user, "-d", "postgres", "-c", "CREATE DATABASE petrel"], as: runAs)
        } catch {
            _ = try? Self.run(bin + "/pg_ctl", ["-D", dir + "/data", "-m", "immediate", "-w", "stop"], as: runAs)
            throw error
        }
    }

    /// psql: next to initdb, else on PATH.
    var psqlPath: String {
        if FileManager.default.isExecutableFile(atPath: binDirectory + "/psql") { return binDirectory + "/psql" }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map { String($0) + "/psql" }
        return path.first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/bin/psql"
    }

    /// Creates a database (for tests that want their own).
    public func createDatabase(_ name: String) throws {
        _ = try Self.run(psqlPath, ["-h", directory, "-p", "\(port)", "-U", user, "-d", "postgres", "-c", "CREATE DATABASE \(name)"], as: runAs)
    }

    /// Runs SQL through psql as the superuser on the Unix socket; returns its unaligned output.
    public func psql(_ sql: String, database: String = "petrel") throws -> String {
        try Self.run(
            psqlPath, ["-h", directory, "-p", "\(port)", "-U", user, "-d", database, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql], as: runAs)
    }

    /// A free TCP port on 127.0.0.1 (bound to port 0 and released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClusterError(message: "socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw ClusterError(message: "bind() failed") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard named == 0 else { throw ClusterError(message: "getsockname() failed") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Runs a program (through `runuser -u USER --` when `user` is set) and returns its output (standard
    /// output and error, through a file: a server it starts could otherwise inherit and hold a pipe);
    /// throws with the output when it exits non-zero. posix_spawn + waitpid: no run loop involved.
    ///
    /// The child gets standard input, output and error and no other descriptor of this process: SwiftNIO
    /// opens its sockets without close-on-exec, so the PostgreSQL server that `pg_ctl start` leaves
    /// running would otherwise hold, for the rest of the test run, every socket another test had open at
    /// that moment — a connection the other test's server then closed stayed open for its client (that
    /// was `IMAPCompressTests.sessionOverDeflate` seeing no close after LOGOUT in full runs).
    @discardableResult
    public static func run(_ program: String, _ arguments: [String], as user: String?, capture: Bool = true) throws -> String {
        let argv = (user.map { ["/usr/sbin/runuser", "-u", $0, "--"] } ?? []) + [program] + arguments
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-pg-out-\(UUID().uuidString)").path
        defer { unlink(outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, capture ? outPath : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        closeOtherDescriptors(&actions)
        var cArgs = argv.map { strdup($0) }
        defer { cArgs.forEach { free($0) } }
        cArgs.append(nil)
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
        guard spawned == 0 else { throw ClusterError(message: "cannot run \(argv[0]): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw ClusterError(message: "waitpid failed: \(errno)") }
        }
        let text = capture ? ((try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "") : ""
        // WIFEXITED && WEXITSTATUS == 0
        guard status & 0x7F == 0, (status >> 8) & 0xFF == 0 else {
            throw ClusterError(message: "\((program as NSString).lastPathComponent) failed (status \(status)): \(text.suffix(2000))")
        }
        return text
    }

    /// glibc 2.34's `posix_spawn_file_actions_addclosefrom_np(actions, 3)` (not in Swift's Glibc module,
    /// so found with dlsym); without it, a close action for each descriptor above 2 open now.
    private static func closeOtherDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
            return
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap({ Int32($0) }) where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }
}
