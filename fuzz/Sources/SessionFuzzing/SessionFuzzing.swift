/// Whole-session fuzzing: the input is a client's side of one SMTP or POP3 session, fed in random pieces
/// through the REAL connection handler (`SMTPConnectionHandler` / `POP3ConnectionHandler`) on an
/// `NIOAsyncTestingChannel`, with a fresh `InMemoryMailStore`, a real `Authenticator` (scrypt with tiny
/// parameters, so a login costs microseconds), a real `AuthThrottle` (no delay, low concurrency bounds),
/// a TLS context (so STARTTLS/STLS runs into a handshake) and the spool on disk.
///
/// Input: byte 0 holds flags — bit 0: advance the clock past the idle timeout at the end (the timeout
/// path), bit 1: hold one login slot for alice@example.test before the session starts (so her logins
/// hit the concurrency bound); bits 2–7 seed the split generator. The rest is fed in pieces of 1–64
/// octets; after each piece the harness lets the handler's asynchronous work (store, password check)
/// finish before the next one.
///
/// Beyond "no trap, no memory error", every run checks invariants (`precondition`, so libFuzzer reports
/// a crash): SMTP replies are well-formed lines of at most 512 octets; every stored message has no NUL and
/// no bare CR or LF (RFC 5322, RFC 6152: DataDecoder / ChunkDecoder) and a 7-bit `Received:` field unless
/// the message is SMTPUTF8 (TraceHeaders); POP3 output has only CRLF line ends and status lines of at most 512
/// octets; no message disappears without a QUIT; after the connection closes the maildrop lock
/// is free and no login slot is left taken (item 3); and once the session is over the connection handler
/// is freed (a reference cycle or a task that never finishes would keep it, and everything it holds, for
/// the life of the server: checked per input, so the input that leaks is the one written out).
import Dispatch
import Foundation
import Logging
import MailAuth
import MailCore
import MailPolicy
import MailQueue
import MailServerNIO
import MailStore
import NIOCore
import NIOEmbedded
import NIOPosix
import POP3Core
import SMTPCore
import Synchronization

public enum SessionFuzzing {
    public enum Kind: Sendable { case smtp, pop3 }

    /// Runs one input synchronously (libFuzzer calls from a plain thread).
    public static func run(_ kind: Kind, _ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        guard let data, size > 0 else { return 0 }
        let bytes = Array(UnsafeBufferPointer(start: data, count: size))
        let done = DispatchSemaphore(value: 0)
        Task {
            switch kind {
            case .smtp: await runSMTP(bytes)
            case .pop3: await runPOP3(bytes)
            }
            done.signal()
        }
        done.wait()
        return 0
    }

    // MARK: - Shared fixtures (made once)

    static let shared = Shared()

    final class Shared: Sendable {
        let pool: NIOThreadPool
        let secretHash: String
        let dummyHash: String
        let tls: TLSContextProvider?
        let spool: String

        init() {
            pool = NIOThreadPool(numberOfThreads: 1)
            pool.start()
            // Stopped at exit, before LeakSanitizer's check (registered earlier, so it runs later): a
            // running pool's queue storage is reported as a leak, and symbolizing its stack to match the
            // suppression kept the process alive for about four minutes after the fuzzing was done.
            atexit { try? SessionFuzzing.shared.pool.syncShutdownGracefully() }
            let cheap = PasswordHasher(parameters: .init(logN: 1, r: 1, p: 1))
            secretHash = (try? cheap.hash("secret")) ?? ""
            dummyHash = (try? cheap.hash("petrel-dummy-password")) ?? ""
            let dir = NSTemporaryDirectory() + "petrel-session-fuzz-\(getpid())"
            try? FileManager.default.createDirectory(atPath: dir + "/spool", withIntermediateDirectories: true)
            spool = dir + "/spool"
            let paths = try? TLSContextProvider.ensureCertificate(
                configured: nil, directory: dir + "/tls",
                hostname: "mx.example.test", logger: SessionFuzzing.quiet)
            tls = paths.flatMap { try? TLSContextProvider(paths: $0) }
        }
    }

    static let quiet = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
    static let clientIP = IPAddress("192.0.2.7")
    static let alice = EmailAddress(localPart: "alice", domain: "example.test")
    static let bob = EmailAddress(localPart: "bob", domain: "example.test")

    struct Fixture {
        let store: InMemoryMailStore
        let throttle: AuthThrottle
        let authenticator: Authenticator
        let held: AuthThrottle.LoginSlot?
        let mailboxIDs: [Int64]
    }

    /// A fresh store: example.test with alice (password "secret", three messages) and bob (password
    /// "secret", empty); the throttle without delays, at most 2 logins in flight per IP and 1 per account.
    static func makeFixture(holdAliceSlot: Bool) async -> Fixture? {
        let store = InMemoryMailStore()
        do {
            _ = try await store.addDomain("example.test")
            let a = try await store.addMailbox(alice, passwordHash: shared.secretHash, isAdmin: true)
            let b = try await store.addMailbox(bob, passwordHash: shared.secretHash, isAdmin: false)
            let bodies = ["Subject: one\r\n\r\nhello\r\n", "Subject: two\r\n\r\n.leading dot\r\n..two\r\n.\r\nend\r\n", ""]
            for (index, body) in bodies.enumerated() {
                _ = try await store.deliver(
                    IncomingMessage(
                        queueID: "SEED\(index)", sender: .mailbox(bob), localRecipients: [a.id], receivedAt: Date(),
                        traceHeaders: Array("Return-Path: <bob@example.test>\r\n".utf8), body: .bytes(Array(body.utf8))))
            }
            let throttle = AuthThrottle(
                settings: .init(
                    baseDelay: 0, maxDelay: 0, maxConcurrentPerIP: 2,
                    maxConcurrentPerAccount: 1))
            let authenticator = Authenticator(
                store: store, threadPool: shared.pool, throttle: throttle, logger: quiet,
                unknownUserHash: shared.dummyHash)
            let held = holdAliceSlot ? throttle.beginLogin(ip: clientIP, account: alice.description) : nil
            return Fixture(store: store, throttle: throttle, authenticator: authenticator, held: held, mailboxIDs: [a.id, b.id])
        } catch {
            return nil
        }
    }

    // MARK: - Feeding

    /// xorshift32: the piece sizes, reproducible from the seed.
    struct Splitter {
        var state: UInt32
        init(seed: UInt8) { state = 0x9E37_79B9 ^ (UInt32(seed) &* 0x0101_0101) | 1 }
        mutating func next() -> Int {
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            // A quarter of the pieces are tiny (1-8 octets: splits inside a word or a CRLF), the rest up
            // to 128 octets (several pipelined lines at once).
            return state % 4 == 0 ? Int((state >> 8) % 8) + 1 : Int((state >> 8) % 128) + 1
        }
    }

    /// Lets the loop run until the handler has been quiet for a few rounds (its store and password work
    /// runs on other threads and comes back through the loop), collecting what it wrote.
    /// Quiet means: `rounds` passes in a row with nothing new written. Between pieces the passes only
    /// yield (the store and the tiny scrypt answer within microseconds; a timer sleep costs a millisecond
    /// and would slow fuzzing twentyfold) — when an answer takes longer, the next piece simply arrives
    /// while the handler waits, which it must handle too. At the end (`patient`) the last passes sleep.
    static func settle(
        _ channel: NIOAsyncTestingChannel, into output: inout [UInt8], rounds: Int = 8,
        patient: Bool = false
    ) async {
        var idle = 0
        var total = 0
        while idle < rounds, total < 5000 {
            total += 1
            await channel.testingEventLoop.run()
            var got = false
            while let buffer = try? await channel.readOutbound(as: ByteBuffer.self) {
                output += buffer.readableBytesView
                got = true
            }
            if got {
                idle = 0
            } else {
                idle += 1
                if !patient || idle < rounds - 2 {
                    await Task.yield()
                } else {
                    try? await Task.sleep(nanoseconds: 50_000)
                }
            }
        }
    }

    static func feed(_ channel: NIOAsyncTestingChannel, _ input: ArraySlice<UInt8>, seed: UInt8, output: inout [UInt8]) async {
        var splitter = Splitter(seed: seed)
        var offset = input.startIndex
        await settle(channel, into: &output)
        while offset < input.endIndex, channel.isActive {
            let end = min(input.endIndex, offset + splitter.next())
            var buffer = channel.allocator.buffer(capacity: end - offset)
            buffer.writeBytes(input[offset..<end])
            _ = try? await channel.writeInbound(buffer)
            offset = end
            await settle(channel, into: &output)
        }
    }

    /// After the session: no login slot may still be taken (beyond the one the harness holds). A failed
    /// login gives its slot back after its (zero) delay; allow the other threads some time.
    static func checkSlots(_ fixture: Fixture, channel: NIOAsyncTestingChannel) async {
        let baseline = fixture.held == nil ? 0 : 1
        for _ in 0..<2000 {
            await channel.testingEventLoop.run()
            if fixture.throttle.loginsInFlight(ip: clientIP).ip == baseline { return }
            try? await Task.sleep(nanoseconds: 200_000)
        }
        preconditionFailure("a login slot was not given back: \(fixture.throttle.loginsInFlight(ip: clientIP).ip) in flight, expected \(baseline)")
    }

    /// A weak reference to the session's connection handler, set on the test loop.
    /// (`@unchecked`: the weak field is only touched under `lock`.)
    final class WeakReference: @unchecked Sendable {
        private let lock = Mutex(())
        private weak var object: AnyObject?
        var isAlive: Bool { lock.withLock { _ in object != nil } }
        func set(_ handler: AnyObject) { lock.withLock { _ in object = handler } }
    }

    /// After the session (connection closed), before the test loop is shut down: the connection handler
    /// must be freed. A store call or password check still returning to the loop may hold it a moment (a
    /// second of real time is far beyond that), a delayed reply or a timer until it fires (the test clock
    /// moves a minute per pass). Checked before the shutdown, which cancels what is scheduled: a timer
    /// that re-arms forever would otherwise be hidden, and an answer arriving during the shutdown could be
    /// left on the closed loop, holding the handler — a cycle of the harness's own.
    static func checkFreed(_ handler: WeakReference, loop: NIOAsyncTestingEventLoop) async {
        for _ in 0..<2000 {
            await loop.advanceTime(by: .minutes(1))
            if !handler.isAlive { return }
            try? await Task.sleep(nanoseconds: 500_000)
        }
        preconditionFailure(
            "the connection handler is still alive a second after its session ended (a reference cycle or a task that never ends)")
    }

    /// A test channel with the handler `make` builds (on the test loop), connected as 192.0.2.7:4000.
    static func connect(_ make: @escaping @Sendable () -> any ChannelHandler) async -> (NIOAsyncTestingChannel, WeakReference)? {
        let channel = NIOAsyncTestingChannel()
        let handlerRef = WeakReference()
        do {
            try await channel.testingEventLoop.executeInContext {
                let handler = make()
                handlerRef.set(handler)
                try channel.pipeline.syncOperations.addHandler(handler)
            }
            try await channel.connect(to: try SocketAddress(ipAddress: "192.0.2.7", port: 4000))
        } catch {
            return nil
        }
        return (channel, handlerRef)
    }

    /// After the session's checks: the handler must be freed, then the test loop is shut down, which
    /// cancels what is still scheduled on it (a task that still held the handler would make a cycle of
    /// handler, channel and loop that LeakSanitizer reports at exit; a real loop runs or cancels its tasks).
    static func finish(_ channel: NIOAsyncTestingChannel, handler: WeakReference) async {
        _ = try? await channel.finish()
        await checkFreed(handler, loop: channel.testingEventLoop)
        await channel.testingEventLoop.shutdownGracefully()
    }

    static func close(_ channel: NIOAsyncTestingChannel, output: inout [UInt8], advanceClock: Bool) async {
        await settle(channel, into: &output, patient: true)
        if advanceClock, channel.isActive {
            await channel.testingEventLoop.advanceTime(by: .hours(1))
            await settle(channel, into: &output, patient: true)
        }
        if channel.isActive { try? await channel.close() }
        await settle(channel, into: &output, patient: true)
    }

    // MARK: - SMTP

    static func runSMTP(_ bytes: [UInt8]) async {
        let flags = bytes[0]
        guard let fixture = await makeFixture(holdAliceSlot: flags & 2 != 0) else { return }
        var configuration = SMTPServerConfiguration(hostname: "mx.example.test")
        configuration.maxMessageSize = 2048
        configuration.maxRecipients = 5
        configuration.maxErrors = 20
        configuration.allowPlaintextAuth = true
        configuration.tlsAvailable = shared.tls != nil
        configuration.maxAuthFailures = 3
        var context = SMTPServerContext(
            configuration: configuration, store: fixture.store, relayRules: RelayRules(allowAuthenticated: true),
            spoolDirectory: shared.spool, commandTimeout: .minutes(5), dataTimeout: .minutes(3), maxSessionBytes: 64 * 1024,
            connections: ConnectionTracker(limits: .init(maxConnections: 10, maxConnectionsPerIP: 10)),
            authenticator: fixture.authenticator, tls: shared.tls, logger: quiet)
        let store = fixture.store
        context.successReports = SuccessReports(make: { dsn, original, size in
            // What the delivery agent does, minus the queue: render, and address to a local sender.
            let rendered = dsn.render(original: original, originalSize: size, date: Date(), uniqueID: "FUZZREPORT")
            guard let address = dsn.originalSender.address, case .mailbox(let id, _)? = try? await store.resolveRecipient(address) else {
                return nil
            }
            return IncomingMessage(
                queueID: "FUZZREPORT", sender: .null, localRecipients: [id], receivedAt: Date(),
                traceHeaders: Array("Return-Path: <>\r\n".utf8), body: .bytes(rendered.bytes))
        })
        let services = context
        guard let (channel, handlerRef) = await connect({ SMTPConnectionHandler(server: services, client: ClientInfo(ip: clientIP, port: 4000)) })
        else {
            return
        }
        var output: [UInt8] = []
        await feed(channel, bytes.dropFirst(), seed: flags >> 2, output: &output)
        await close(channel, output: &output, advanceClock: flags & 1 != 0)
        checkSMTPReplies(output)
        await checkSlots(fixture, channel: channel)
        await checkStored(fixture)
        await finish(channel, handler: handlerRef)
    }

    /// Every reply line: three digits, " " or "-", text, CRLF; at most 512 octets (RFC 5321 §4.5.3.1.5).
    /// After "220 2.0.0 Ready to start TLS" the output is TLS records: not checked.
    static func checkSMTPReplies(_ output: [UInt8]) {
        let tlsStart = Array("220 2.0.0 Ready to start TLS\r\n".utf8)
        var start = 0
        for index in output.indices where output[index] == 0x0A {
            if output[start...index].elementsEqual(tlsStart) { return }
            let line = output[start...index]
            precondition(line.count >= 6, "short reply line \(String(decoding: line, as: UTF8.self).debugDescription)")
            precondition(line.count <= 512, "reply line over 512 octets")
            precondition(output[index - 1] == 0x0D, "reply line without CRLF")
            let code = line.prefix(3)
            precondition(
                code.allSatisfy { (0x30...0x39).contains($0) }, "reply without a code: \(String(decoding: line, as: UTF8.self).debugDescription)")
            let sep = line[line.startIndex + 3]
            precondition(sep == UInt8(ascii: " ") || sep == UInt8(ascii: "-"), "bad reply separator")
            precondition(!line.dropLast(2).contains(0x0D), "CR inside a reply line")
            start = index + 1
        }
        precondition(start == output.count, "output ends inside a reply line")
    }

    /// Every stored message (mailboxes and queue): no NUL, CRLF line ends only, and the `Received:` field
    /// 7-bit unless it says UTF8SMTP (then the message is SMTPUTF8).
    static func checkStored(_ fixture: Fixture) async {
        var messages: [[UInt8]] = []
        for id in fixture.mailboxIDs {
            for message in (try? await fixture.store.messages(mailboxID: id)) ?? [] {
                if let bytes = try? await fixture.store.readMessage(
                    mailboxID: id, deliveryID: message.deliveryID,
                    offset: 0, maxLength: 1 << 20)
                {
                    messages.append(bytes)
                }
            }
        }
        for entry in (try? await fixture.store.queueEntries()) ?? [] {
            if let bytes = try? await fixture.store.readQueuedMessage(messageID: entry.messageID, offset: 0, maxLength: 1 << 20) {
                messages.append(bytes)
            }
        }
        for bytes in messages {
            precondition(!bytes.contains(0), "a stored message contains NUL")
            var previous: UInt8 = 0
            for (index, byte) in bytes.enumerated() {
                if byte == 0x0A { precondition(previous == 0x0D, "a stored message has a bare LF") }
                if previous == 0x0D { precondition(byte == 0x0A, "a stored message has a bare CR at \(index)") }
                previous = byte
            }
            if let received = receivedField(bytes), !received.contains(Array("UTF8SMTP".utf8)) {
                precondition(received.allSatisfy { $0 < 0x80 }, "8-bit Received: in a message that is not SMTPUTF8")
            }
        }
    }

    /// The first `Received:` field (with its folded lines) in the message's header section (within its first
    /// 4 KiB), where Petrel puts its own; nil when there is none. Only the header section: a delivery report
    /// has no `Received:` of its own, and its body (the human text, the attached header section of the
    /// original, RFC 6533 `message/global-headers` when that is 8-bit) is not a trace field.
    static func receivedField(_ bytes: [UInt8]) -> [UInt8]? {
        let name = Array("\r\nReceived:".utf8)
        let blank = Array("\r\n\r\n".utf8)
        let window = min(bytes.count, 4096)
        guard window >= name.count else { return nil }
        // The header section ends at the first empty line.
        let headerEnd =
            (0...(window - blank.count)).first(where: { bytes[$0..<($0 + blank.count)].elementsEqual(blank) }).map { $0 + 2 } ?? window
        guard headerEnd >= name.count,
            let start = (0...(headerEnd - name.count)).first(where: { bytes[$0..<($0 + name.count)].elementsEqual(name) })
        else { return nil }
        var end = start + 2
        while end + 2 < bytes.count {
            if bytes[end] == 0x0D, bytes[end + 1] == 0x0A, bytes[end + 2] != 0x09, bytes[end + 2] != 0x20 { break }
            end += 1
        }
        return Array(bytes[(start + 2)..<end])
    }

    // MARK: - POP3

    static func runPOP3(_ bytes: [UInt8]) async {
        let flags = bytes[0]
        guard let fixture = await makeFixture(holdAliceSlot: flags & 2 != 0) else { return }
        var configuration = POP3ServerConfiguration(hostname: "mx.example.test")
        configuration.allowPlaintextAuth = true
        configuration.tlsAvailable = shared.tls != nil
        configuration.maxAuthFailures = 3
        configuration.maxErrors = 20
        let context = POP3ServerContext(
            configuration: configuration, store: fixture.store,
            authenticator: fixture.authenticator, idleTimeout: .minutes(10),
            connections: ConnectionTracker(limits: .init(maxConnections: 10, maxConnectionsPerIP: 10)),
            tls: shared.tls, logger: quiet)
        var before: [Int64: Int] = [:]
        for id in fixture.mailboxIDs { before[id] = (try? await fixture.store.messages(mailboxID: id))?.count ?? 0 }
        let services = context
        guard let (channel, handlerRef) = await connect({ POP3ConnectionHandler(server: services, client: ClientInfo(ip: clientIP, port: 4000)) })
        else {
            return
        }
        var output: [UInt8] = []
        await feed(channel, bytes.dropFirst(), seed: flags >> 2, output: &output)
        await close(channel, output: &output, advanceClock: flags & 1 != 0)
        checkPOP3Output(output)
        await checkSlots(fixture, channel: channel)
        // The lock is free once the connection is gone (a read still running may hold it a moment).
        for id in fixture.mailboxIDs {
            var free = false
            for _ in 0..<2000 where !free {
                // Free when another owner can take it (then hand it back at once).
                if let probe = try? await fixture.store.acquireMaildropLock(mailboxID: id, owner: "fuzz-probe", duration: .seconds(60)) {
                    free = true
                    try? await fixture.store.releaseMaildropLock(probe)
                }
                if !free { try? await Task.sleep(nanoseconds: 200_000) }
            }
            precondition(free, "maildrop lock of mailbox \(id) still held after the connection closed")
        }
        // Nothing is deleted without a QUIT (RFC 1939 §6: only the UPDATE state deletes). The client may
        // hang up before the "+OK ... signing off" arrives, so the input is checked, not the output.
        let quit = Array("QUIT".utf8)
        let sentQuit = bytes.indices.contains { i in
            i + quit.count <= bytes.count && zip(bytes[i..<(i + quit.count)], quit).allSatisfy { ($0 & 0xDF) == $1 }
        }
        if !sentQuit {
            for id in fixture.mailboxIDs {
                let after = (try? await fixture.store.messages(mailboxID: id))?.count ?? 0
                precondition(after == before[id], "messages of mailbox \(id) deleted without QUIT")
            }
        }
        await finish(channel, handler: handlerRef)
    }

    /// Only CRLF line ends; status lines (+OK / -ERR) at most 512 octets (RFC 2449 §4); ends at a line end.
    /// After "+OK Begin TLS negotiation" the output is TLS records: not checked.
    static func checkPOP3Output(_ output: [UInt8]) {
        let tlsStart = Array("+OK Begin TLS negotiation\r\n".utf8)
        var start = 0
        for index in output.indices where output[index] == 0x0A {
            if output[start...index].elementsEqual(tlsStart) { return }
            precondition(index > 0 && output[index - 1] == 0x0D, "POP3 output has a bare LF")
            let line = output[start...index]
            if line.starts(with: Array("+OK".utf8)) || line.starts(with: Array("-ERR".utf8)) {
                precondition(line.count <= 512, "POP3 status line over 512 octets")
            }
            start = index + 1
        }
        precondition(start == output.count, "POP3 output ends inside a line")
    }
}
