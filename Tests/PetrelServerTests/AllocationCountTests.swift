// The allocation-count guard of issue 21: heap allocations per accepted SMTP message (4 KiB and 64 KiB,
// one message per connection as smtp-source sends them, and several per session) and per POP3 RETR,
// through a real MailServer on 127.0.0.1 with the SQLite store (the group commit's fsync included) and an
// info-level log handler that formats every line.
//
// The counts come from bench/alloccount.c, an LD_PRELOAD shim; `bench/allocs.sh` builds it and runs this
// suite alone with it loaded. Without the shim (a plain `swift test`, where other suites run in parallel
// and would be counted too) the tests skip. The count is deterministic for a given build: the client
// below is plain POSIX calls on buffers made before counting starts, so everything counted is the
// server's work (event loops, store writer, thread pools), and each step waits for its reply.
import Foundation
import Logging
import MailAuth
import MailCore
import MailStore
import Testing

@testable import PetrelConfig
@testable import PetrelServer

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The counter of bench/alloccount.c, found in the process when the shim is preloaded.
enum AllocationCounter {
    typealias Count = @convention(c) () -> UInt64
    typealias Trace = @convention(c) (Int32) -> Void

    static let count: Count? = dlsym(nil, "petrel_alloc_count").map { unsafeBitCast($0, to: Count.self) }
    static let trace: Trace? = dlsym(nil, "petrel_alloc_trace").map { unsafeBitCast($0, to: Trace.self) }

    /// The ceilings, per message or RETR, of a debug build (what `swift build` makes for the tests), with
    /// about 15 % headroom over the counts recorded in BENCHMARKS.md. Lower them when a change removes
    /// allocations; a change that adds some has to say why here. pop3-retr-4k: 125 since the read-ahead
    /// reads a batch in one store read (2026-12-05: 87–102 in four local runs, was 125–154); the count
    /// varies with timing on the same build (reads and partial writes per RETR: 143.4 in a CI rehearsal of
    /// 12-04 against 125–131 locally), so the headroom is wider than 15 %.
    /// pop3-retr-64k: 200 since the body is read straight into the buffer that is sent (2026-12-05: 171.5–174.1
    /// in four local runs, was 181).
    /// The SMTP counts grew with the RCPT quota check (issue 17) until the look-up's "no limits" answer
    /// spared its second read: session reuse 1,432 → 1,323 per message; 1,183.5 once the
    /// group commit's BEGIN/COMMIT/SAVEPOINT and the look-ups' BEGIN/COMMIT were no longer prepared per message.
    /// SMTP lowered on 2026-12-06 when MAIL FROM's and RCPT's answers were kept for `[store] recipient_cache`
    /// (`RecipientCache`, no read per message): 4 KiB per connection 1,568–1,601 → 1,492.1–1,492.9, 64 KiB
    /// 1,752–1,788, session reuse 1,198 → 1,103.8–1,116.0 (two runs each).
    static let ceilings: [String: Double] = [
        "smtp-4k-per-connection": 1_720,
        "smtp-64k-per-connection": 2_060,
        "smtp-4k-session-reuse": 1_285,
        "pop3-retr-4k": 125,
        "pop3-retr-64k": 200
    ]
}

/// The client's one receive buffer, made before counting starts (and handed to its thread).
final class ReplyBuffer: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer
    init(size: Int) { bytes = .allocate(byteCount: size, alignment: 16) }
    deinit { bytes.deallocate() }
}

/// A blocking loopback client that allocates nothing while it runs: one buffer made up front, replies
/// checked in place.
struct RawClient: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible { let description: String }

    static let crlf: [UInt8] = [13, 10]

    let fd: Int32
    let buffer: UnsafeMutableRawBufferPointer

    static func open(port: Int, buffer: ReplyBuffer) throws -> RawClient {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw Failure(description: "connect to 127.0.0.1:\(port): errno \(errno)")
        }
        return RawClient(fd: fd, buffer: buffer.bytes)
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = send(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset, Int32(MSG_NOSIGNAL))
                guard n > 0 else { throw Failure(description: "send: errno \(errno)") }
                offset += n
            }
        }
    }

    /// Reads until what arrived ends with `terminator`, then checks that it starts with `prefix`.
    func expect(_ prefix: [UInt8], terminator: [UInt8] = RawClient.crlf) throws {
        var length = 0
        while true {
            guard length < buffer.count else { throw Failure(description: "reply longer than \(buffer.count) octets") }
            let n = recv(fd, buffer.baseAddress.map { $0 + length }, buffer.count - length, 0)
            guard n > 0 else { throw Failure(description: "connection closed or timed out (errno \(errno)) after \(length) octets") }
            length += n
            if length >= terminator.count, endsWith(terminator, length) { break }
        }
        guard length >= prefix.count, prefix.indices.allSatisfy({ buffer[$0] == prefix[$0] }) else {
            throw Failure(description: "unexpected reply: \(String(decoding: buffer[0..<min(length, 200)], as: UTF8.self))")
        }
    }

    private func endsWith(_ terminator: [UInt8], _ length: Int) -> Bool {
        let start = length - terminator.count
        return terminator.indices.allSatisfy { buffer[start + $0] == terminator[$0] }
    }

    /// Waits for the server to close the connection, then closes this end.
    func finish() throws {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n == 0 { break }
            guard n > 0 else { throw Failure(description: "no close from the server (errno \(errno))") }
        }
        close(fd)
    }
}

@Suite(.serialized) struct AllocationCountTests {
    static let domain = "bench.test"
    static let password = "benchpass"

    static func configuration(dataDir: String) throws -> PetrelConfiguration {
        // bench/profile.sh's configuration; the inbound SPF/DKIM/DMARC check is off because its DNS
        // answers would make the count depend on a resolver (the DKIM signing hook stays, as by default),
        // and the delivery agent polls hourly: background work counted while a phase runs grows with
        // how long it takes, which a loaded machine must not change much (the access-list refresh every
        // 2 s stays: ~20 allocations a second).
        let text = """
            [server]
            hostname = "mx.bench.test"
            data_dir = "\(dataDir)"
            [smtp]
            listen = ["127.0.0.1:0"]
            max_connections_per_ip = 1000
            max_messages_per_connection = 1000
            [submission]
            listen = []
            tls_listen = []
            [pop3]
            listen = ["127.0.0.1:0"]
            tls_listen = []
            [imap]
            listen = []
            tls_listen = []
            [auth]
            allow_plaintext = true
            [authentication]
            check_inbound = false
            [delivery]
            poll_interval = 3600
            [admin]
            listen = ""
            [dns]
            nameserver = "127.0.0.1:9"
            timeout = 1
            """
        switch PetrelConfiguration.parse(text) {
        case .success(let c): return c
        case .failure(let errors): throw errors
        }
    }

    /// A message of about `size` octets: a few header fields, then 76-octet lines (every 20th starting
    /// with a dot, so the dot-stuffing is exercised), CRLF-terminated, ending with the final dot.
    static func message(size: Int, number: Int) -> [UInt8] {
        var text = "From: loadgen@\(domain)\r\nTo: u1@\(domain)\r\nSubject: allocation count \(number)\r\n"
        text += "Message-ID: <\(number).\(size)@\(domain)>\r\n\r\n"
        var line = 0
        while text.utf8.count < size {
            let lead = line % 20 == 19 ? "." : "x"
            text += lead + String(repeating: "abcdefghij", count: 7) + "abcde\r\n"
            line += 1
        }
        return Array(text.utf8) + Array(".\r\n".utf8)
    }

    /// Runs `body(block)` for each of `blocks` blocks of `unitsPerBlock` units on its own thread (it
    /// blocks on sockets) and returns the fewest allocations per unit of a block. Work the server does
    /// in the background (the access-list refresh every 2 s, SQLite's WAL checkpoints) only ever adds to
    /// a block's count, so the smallest block is the message path's own count, however slow the machine.
    /// PETREL_ALLOC_TRACE=path (bench/allocs.sh --trace NAME) writes the stacks of the phase named by
    /// PETREL_ALLOC_TRACE_PHASE.
    static func counted(
        _ name: String, blocks: Int, unitsPerBlock: Int, _ body: @escaping @Sendable (Int) throws -> Void
    ) async throws -> Double {
        let count = try #require(AllocationCounter.count)
        let environment = ProcessInfo.processInfo.environment
        let tracePath = environment["PETREL_ALLOC_TRACE_PHASE"] == name ? environment["PETREL_ALLOC_TRACE"] : nil
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do {
                    var traceFD: Int32 = -1
                    if let path = tracePath, let trace = AllocationCounter.trace {
                        traceFD = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
                        trace(traceFD)
                    }
                    var fewest = UInt64.max
                    for block in 0..<blocks {
                        let before = count()
                        try body(block)
                        fewest = min(fewest, count() - before)
                    }
                    if traceFD >= 0 {
                        AllocationCounter.trace?(-1)
                        close(traceFD)
                    }
                    continuation.resume(returning: Double(fewest) / Double(unitsPerBlock))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    static func record(_ name: String, _ perUnit: Double) {
        let ceiling = AllocationCounter.ceilings[name] ?? 0
        print("allocations per unit: \(name) = \(String(format: "%.1f", perUnit)) (ceiling \(Int(ceiling)))")
        #expect(perUnit <= ceiling, "\(name): \(perUnit) allocations per unit, ceiling \(ceiling) (bench/allocs.sh)")
    }

    struct SMTPScript: Sendable {
        let helo = Array("HELO client.bench.test\r\n".utf8)
        let mail = Array("MAIL FROM:<loadgen@bench.test>\r\n".utf8)
        let rcpt = Array("RCPT TO:<u1@bench.test>\r\n".utf8)
        let data = Array("DATA\r\n".utf8)
        let quit = Array("QUIT\r\n".utf8)
        let code220 = Array("220".utf8)
        let code221 = Array("221".utf8)
        let code250 = Array("250".utf8)
        let code354 = Array("354".utf8)

        func transaction(_ client: RawClient, _ message: [UInt8]) throws {
            try client.write(mail)
            try client.expect(code250)
            try client.write(rcpt)
            try client.expect(code250)
            try client.write(data)
            try client.expect(code354)
            try client.write(message)
            try client.expect(code250)
        }

        /// One connection: greeting, HELO, `messages.count` transactions, QUIT, the server's close.
        func session(port: Int, buffer: ReplyBuffer, _ messages: ArraySlice<[UInt8]>) throws {
            let client = try RawClient.open(port: port, buffer: buffer)
            try client.expect(code220)
            try client.write(helo)
            try client.expect(code250)
            for message in messages { try transaction(client, message) }
            try client.write(quit)
            try client.expect(code221)
            try client.finish()
        }
    }

    /// Every line formatted as `petrel serve` formats it at level info, then dropped. swift-log takes
    /// one bootstrap per process: these tests run alone in theirs (bench/allocs.sh), never in `swift test`.
    static let loggingBootstrapped: Void = {
        LoggingSystem.bootstrap { PetrelLogHandler(label: $0, level: .info, sink: { _ in }) }
    }()

    /// Starts the server on a fresh data directory with mailbox u1@bench.test, runs `body`, stops it.
    static func withServer(_ body: (_ smtp: Int, _ pop3: Int) async throws -> Void) async throws {
        let dir = NSTemporaryDirectory() + "petrel-allocs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let configuration = try configuration(dataDir: dir)
        let store = try MailServer.openStore(configuration: configuration)
        _ = try await store.addDomain(domain)
        let user = try #require(EmailAddress("u1@\(domain)"))
        _ = try await store.addMailbox(user, passwordHash: try PasswordHasher.fastForTests.hash(password), isAdmin: false)
        _ = loggingBootstrapped
        let logger = Logger(label: "petrel")
        let server = try await MailServer.start(configuration: configuration, store: store, logger: logger)
        do {
            try await body(try #require(server.port(.smtp)), try #require(server.port(.pop3)))
        } catch {
            await server.shutdown(deadline: .seconds(2))
            throw error
        }
        await server.shutdown(deadline: .seconds(2))
    }

    @Test(.enabled(if: AllocationCounter.count != nil, "needs bench/alloccount.c preloaded: run bench/allocs.sh"))
    func smtpAcceptance() async throws {
        try await Self.withServer { smtp, _ in
            let script = SMTPScript()
            let buffer = ReplyBuffer(size: 1 << 16)
            for (name, size) in [("smtp-4k-per-connection", 4096), ("smtp-64k-per-connection", 65536)] {
                let messages = (0..<60).map { Self.message(size: size, number: $0) }
                // Warm-up: first-use caches (metadata, prepared statements, pools) are not per message.
                for i in 0..<20 { try script.session(port: smtp, buffer: buffer, messages[i..<i + 1]) }
                let perMessage = try await Self.counted(name, blocks: 4, unitsPerBlock: 10) { block in
                    for i in (20 + 10 * block)..<(30 + 10 * block) {
                        try script.session(port: smtp, buffer: buffer, messages[i..<i + 1])
                    }
                }
                Self.record(name, perMessage)
            }
            let messages = (0..<120).map { Self.message(size: 4096, number: 1000 + $0) }
            let client = try RawClient.open(port: smtp, buffer: buffer)
            try client.expect(script.code220)
            try client.write(script.helo)
            try client.expect(script.code250)
            for message in messages[0..<20] { try script.transaction(client, message) }
            let perMessage = try await Self.counted("smtp-4k-session-reuse", blocks: 5, unitsPerBlock: 20) { block in
                for message in messages[(20 + 20 * block)..<(40 + 20 * block)] { try script.transaction(client, message) }
            }
            try client.write(script.quit)
            try client.expect(script.code221)
            try client.finish()
            Self.record("smtp-4k-session-reuse", perMessage)
        }
    }

    @Test(.enabled(if: AllocationCounter.count != nil, "needs bench/alloccount.c preloaded: run bench/allocs.sh"))
    func pop3Retrieval() async throws {
        try await Self.withServer { smtp, pop3 in
            let script = SMTPScript()
            let buffer = ReplyBuffer(size: 1 << 17)
            // 68 × 4 KiB, then 68 × 64 KiB, in one SMTP session each.
            let small = (0..<68).map { Self.message(size: 4096, number: $0) }
            let large = (0..<68).map { Self.message(size: 65536, number: 100 + $0) }
            try script.session(port: smtp, buffer: buffer, small[...])
            try script.session(port: smtp, buffer: buffer, large[...])
            let login = [Array("USER u1@\(Self.domain)\r\n".utf8), Array("PASS \(Self.password)\r\n".utf8)]
            let retr = (1...136).map { Array("RETR \($0)\r\n".utf8) }
            let ok = Array("+OK".utf8)
            let end = Array("\r\n.\r\n".utf8)
            let quit = Array("QUIT\r\n".utf8)
            let client = try RawClient.open(port: pop3, buffer: buffer)
            try client.expect(ok)
            for line in login {
                try client.write(line)
                try client.expect(ok)
            }
            for (name, range) in [("pop3-retr-4k", 0..<68), ("pop3-retr-64k", 68..<136)] {
                // Warm-up: the first 20 of each size.
                for i in range.prefix(20) {
                    try client.write(retr[i])
                    try client.expect(ok, terminator: end)
                }
                // Blocks of 16: a whole number of read-ahead refills (a batch whenever fewer than 8 are ahead).
                let perRETR = try await Self.counted(name, blocks: 3, unitsPerBlock: 16) { block in
                    for i in range.dropFirst(20 + 16 * block).prefix(16) {
                        try client.write(retr[i])
                        try client.expect(ok, terminator: end)
                    }
                }
                Self.record(name, perRETR)
            }
            try client.write(quit)
            try client.expect(ok)
            try client.finish()
        }
    }
}
