/// The IMAP listener and `IMAPConnectionHandler` over real loopback sockets, with the in-memory store as the
/// `IMAPMailboxProvider`: greeting, CAPABILITY before and after STARTTLS (LOGINDISABLED), LOGIN,
/// SELECT/FETCH, IDLE woken by an APPEND from another connection, an endless line and a huge literal
/// (refused while reading), a client trickling one byte at a time (cut by the deadline), login
/// throttling, implicit TLS, the connection cap and the shutdown BYE.
import Foundation
import IMAPCore
import IMAPTestSupport
import Logging
import MailCore
import MailServerNIO
import MailStore
import MailTestSupport
import NIOCore
import NIOPosix
import Testing

@Suite(.serialized) struct IMAPListenerTests {
    /// scrypt (ln=10, fast) of "secret", salt "petrel-test-salt".
    static let secretHash = "$scrypt$ln=10,r=8,p=1$cGV0cmVsLXRlc3Qtc2FsdA$F6NoQSNEaJ4lBCchrCu1ximbPZV86jMyw2pLeOhgB0Q"
    static let user = "alice@example.test"

    /// One server: an in-memory account store with alice (password "secret"), the in-memory IMAP store as
    /// the provider (alice's store mailbox id mapped to the IMAP user), a listener on 127.0.0.1:0.
    final class Fixture: Sendable {
        let group: MultiThreadedEventLoopGroup
        let pool: NIOThreadPool
        let provider: InMemoryIMAPProvider
        let listener: BoundListener
        let logs: CapturedLogs
        let metrics: ServerMetrics
        let connections: ConnectionTracker

        init(
            group: MultiThreadedEventLoopGroup, pool: NIOThreadPool, provider: InMemoryIMAPProvider,
            listener: BoundListener, logs: CapturedLogs, metrics: ServerMetrics, connections: ConnectionTracker
        ) {
            self.group = group
            self.pool = pool
            self.provider = provider
            self.listener = listener
            self.logs = logs
            self.metrics = metrics
            self.connections = connections
        }

        var port: Int { listener.port }

        /// After `client` pipelined `s SELECT INBOX` and then an endless line tagged `tag` while the store was
        /// held: nothing was answered and the connection is open (reading stopped before the session's 1 MiB
        /// backstop); once the store answers, SELECT is OK, the line gets BAD, and once 1 MiB of it was
        /// dropped, BYE and close — never `Too much input while busy`.
        func expectHeldLineIsCutOnceTheStoreAnswers(_ client: IMAPTestClient, tag: String) async throws {
            try await Task.sleep(for: .seconds(1))
            #expect(!client.isClosed)
            #expect(client.pendingBytes == 0, "the server answered while the store was busy")
            provider.hold(false)
            let select = try await client.lines(through: "s ")
            #expect(select.last?.hasPrefix("s OK") == true, "\(select)")
            let bad = try #require(try await client.line(timeout: .seconds(30)))
            #expect(bad.hasPrefix("\(tag) BAD") && bad.lowercased().contains("too long"), "\(bad)")
            let bye = try await client.lines(through: "* BYE", timeout: .seconds(30))
            #expect(bye.last == "* BYE Command line too long", "\(bye)")
            #expect(try await client.waitClosed())
            #expect(!logs.all.contains { $0.contains("Too much input") })
        }

        static func start(
            implicitTLS: Bool = false, allowPlaintext: Bool = true, idleTimeout: TimeAmount = .minutes(30),
            throttle: AuthThrottle.Settings = .init(baseDelay: 0, maxDelay: 0), maxConnections: Int = 100,
            tlsAvailable: Bool = true, compress: Bool = false
        ) async throws -> Fixture {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let pool = NIOThreadPool(numberOfThreads: 2)
            pool.start()
            let accounts = InMemoryMailStore()
            _ = try await accounts.addDomain("example.test")
            let box = try await accounts.addMailbox(
                EmailAddress(localPart: "alice", domain: "example.test"), passwordHash: secretHash, isAdmin: false)
            let imapStore = InMemoryIMAPStore()
            await imapStore.addUser(user, password: "unused")
            let provider = InMemoryIMAPProvider(store: imapStore)
            provider.map(mailboxID: box.id, to: user)
            let logs = CapturedLogs()
            let logger = logs.logger(label: "petrel.imap")
            let tls = tlsAvailable ? try makeTLS() : nil
            var configuration = IMAPServerConfiguration(hostname: "imap.test")
            configuration.allowPlaintextAuth = allowPlaintext
            configuration.implicitTLS = implicitTLS
            configuration.tlsAvailable = tlsAvailable && !implicitTLS
            configuration.compressionAvailable = compress
            let connections = ConnectionTracker(limits: .init(maxConnections: maxConnections, maxConnectionsPerIP: maxConnections))
            let metrics = ServerMetrics.disabled()
            var context = IMAPServerContext(
                configuration: configuration, provider: provider,
                authenticator: Authenticator(
                    store: accounts, threadPool: pool, throttle: AuthThrottle(settings: throttle), logger: logger,
                    unknownUserHash: secretHash),
                idleTimeout: idleTimeout, connections: connections, tls: tls, logger: logger)
            context.metrics = metrics
            let listener = try await Listeners.bindIMAP(
                ListenAddress(host: "127.0.0.1", port: 0), kind: implicitTLS ? .imaps : .imap, context: context, group: group)
            return Fixture(
                group: group, pool: pool, provider: provider, listener: listener, logs: logs, metrics: metrics,
                connections: connections)
        }

        static func makeTLS() throws -> TLSContextProvider {
            let dir = NSTemporaryDirectory() + "petrel-imap-tls-\(UUID().uuidString)"
            let paths = try TLSContextProvider.ensureCertificate(
                configured: nil, directory: dir, hostname: "imap.test", logger: Logger(label: "test"))
            return try TLSContextProvider(paths: paths)
        }

        func connect(tls: Bool = false) async throws -> IMAPTestClient {
            try await IMAPTestClient.connect(port: port, tls: tls, group: group)
        }

        /// Connected, greeted and logged in as alice.
        func loggedIn(tls: Bool = false) async throws -> IMAPTestClient {
            let client = try await connect(tls: tls)
            _ = try await client.line()
            let reply = try await client.command("L", "LOGIN \(IMAPListenerTests.user) secret")
            #expect(reply.last?.hasPrefix("L OK") == true, "\(reply)")
            return client
        }

        func stop() async {
            try? await listener.channel.close()
            try? await pool.shutdownGracefully()
            try? await group.shutdownGracefully()
        }
    }

    static let message = Array("From: bob@example.test\r\nSubject: hello\r\n\r\nIMAP over a real socket\r\n".utf8)

    @Test func greetingCapabilityAndLoginDisabledUntilSTARTTLS() async throws {
        let server = try await Fixture.start(allowPlaintext: false)
        let client = try await server.connect()
        let greeting = try #require(try await client.line())
        #expect(greeting.hasPrefix("* OK [CAPABILITY "))
        #expect(greeting.contains("STARTTLS") && greeting.contains("LOGINDISABLED"))

        let before = try await client.command("a", "CAPABILITY")
        let caps = try #require(before.first { $0.hasPrefix("* CAPABILITY") })
        #expect(caps.contains("STARTTLS") && caps.contains("LOGINDISABLED"))
        let refused = try await client.command("b", "LOGIN \(Self.user) secret")
        #expect(refused.last?.hasPrefix("b NO [PRIVACYREQUIRED]") == true, "\(refused)")

        // Pipelined after STARTTLS: discarded, never executed (CVE-2011-0411 class).
        try await client.send("c STARTTLS\r\nd LOGIN \(Self.user) secret\r\n")
        let ok = try await client.lines(through: "c ")
        #expect(ok.last?.hasPrefix("c OK") == true)
        try await client.startTLS()
        let after = try await client.command("e", "CAPABILITY")
        #expect(!after.contains { $0.hasPrefix("d ") }, "the pipelined LOGIN was executed: \(after)")
        let tlsCaps = try #require(after.first { $0.hasPrefix("* CAPABILITY") })
        #expect(!tlsCaps.contains("STARTTLS") && !tlsCaps.contains("LOGINDISABLED"))
        let login = try await client.command("f", "LOGIN \(Self.user) secret")
        #expect(login.last?.hasPrefix("f OK") == true, "\(login)")
        #expect(server.provider.openedAccesses == 1)
        await client.close()
        await server.stop()
    }

    @Test func loginSelectFetchAndLogout() async throws {
        let server = try await Fixture.start()
        try await server.provider.deliver(to: Self.user, Self.message)
        let client = try await server.loggedIn()
        let select = try await client.command("s", "SELECT INBOX")
        #expect(select.contains("* 1 EXISTS"), "\(select)")
        #expect(select.last?.hasPrefix("s OK [READ-WRITE]") == true)
        try await client.send("f FETCH 1 (FLAGS BODY[])\r\n")
        let fetch = try await client.lines(through: "f ")
        #expect(fetch.first?.hasPrefix("* 1 FETCH (") == true, "\(fetch)")
        #expect(fetch.contains("IMAP over a real socket"))
        #expect(fetch.last?.hasPrefix("f OK") == true)
        let flags = try await client.command("g", "FETCH 1 FLAGS")
        #expect(flags.contains { $0.contains("\\Seen") }, "\(flags)")
        let logout = try await client.command("z", "LOGOUT")
        #expect(logout.first?.hasPrefix("* BYE") == true)
        #expect(try await client.waitClosed())
        #expect(server.logs.entries.contains { $0.message == "imap login" && "\($0.metadata["user"] ?? "")" == Self.user })
        // The logout line is written after the close was asked for: wait for it.
        for _ in 0..<200 where !server.logs.all.contains(where: { $0.contains("imap logout") }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(server.logs.all.contains { $0.contains("imap logout") })
        #expect(server.metrics.imapLoginCounts.success == 1)
        await server.stop()
    }

    /// A FETCH answer larger than the channel's high watermark (64 KiB) makes the channel unwritable, so the
    /// session's next store request waits for writability. The flush that sends the answer can make the
    /// channel writable again at once (a client that reads): the request must still run and the tagged OK
    /// come. Found by fetchmail and a 100 KB message: the answer arrived, the `OK` never did.
    @Test func fetchLargerThanTheHighWatermarkIsCompleted() async throws {
        let server = try await Fixture.start()
        let lines = (0..<3000).map { "line \($0) of a message larger than 64 KiB\r\n" }.joined()
        try await server.provider.deliver(to: Self.user, Array("Subject: big\r\n\r\n\(lines)".utf8))
        try await server.provider.deliver(to: Self.user, Self.message)
        let client = try await server.loggedIn()
        _ = try await client.command("s", "EXAMINE INBOX")
        try await client.send("f FETCH 1:2 (BODY.PEEK[])\r\n")
        let fetch = try await client.lines(through: "f ", timeout: .seconds(5))
        #expect(fetch.contains("line 2999 of a message larger than 64 KiB"))
        #expect(fetch.contains("IMAP over a real socket"))
        #expect(fetch.last?.hasPrefix("f OK") == true, "\(fetch.suffix(3))")
        await client.close()
        await server.stop()
    }

    @Test func idleIsWokenByAnAppendFromAnotherConnection() async throws {
        let server = try await Fixture.start()
        try await server.provider.deliver(to: Self.user, Self.message)
        let idler = try await server.loggedIn()
        _ = try await idler.command("s", "SELECT INBOX")
        try await idler.send("i IDLE\r\n")
        let idling = try #require(try await idler.line())
        #expect(idling.hasPrefix("+ "))
        for _ in 0..<200 where server.provider.activeWatchers == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(server.provider.activeWatchers == 1)

        let other = try await server.loggedIn()
        try await other.send("a APPEND INBOX {\(Self.message.count)+}\r\n")
        try await other.send(Self.message + Array("\r\n".utf8))
        let appended = try await other.lines(through: "a ")
        #expect(appended.last?.hasPrefix("a OK [APPENDUID ") == true, "\(appended)")

        let update = try #require(try await idler.line(timeout: .seconds(5)))
        #expect(update == "* 2 EXISTS")
        try await idler.send("DONE\r\n")
        let done = try await idler.lines(through: "i ")
        #expect(done.last?.hasPrefix("i OK") == true)
        // IDLE ended: the watch is released.
        for _ in 0..<200 where server.provider.activeWatchers > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(server.provider.activeWatchers == 0)
        await idler.close()
        await other.close()
        await server.stop()
    }

    /// 4 MiB without a line end: BAD as soon as 64 KiB have passed (long before the rest is sent), the rest
    /// discarded as it arrives, and once more than 1 MiB of it was dropped (`maxDiscardedLine`) BYE and
    /// close. A long line that does end is only BAD: the connection then works normally.
    @Test func endlessLineGetsBADWhileArrivingAndIsDiscarded() async throws {
        let server = try await Fixture.start()
        let client = try await server.connect()
        _ = try await client.line()
        try await client.send("a NOOP ")
        try await client.send([UInt8](repeating: UInt8(ascii: "x"), count: 70 * 1024))
        let bad = try #require(try await client.line(timeout: .seconds(5)))
        #expect(bad.contains("BAD") && bad.lowercased().contains("too long"), "\(bad)")
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 256 * 1024)
        try await client.send(chunk)
        try await client.send("\r\nb NOOP\r\n")
        let after = try await client.lines(through: "b ")
        #expect(after.last?.hasPrefix("b OK") == true, "\(after)")
        try await client.send("c NOOP ")
        for _ in 0..<16 where !client.isClosed { try? await client.send(chunk) }
        let bye = try await client.lines(through: "* BYE", timeout: .seconds(10))
        #expect(bye.contains("c BAD Command line too long") && bye.last == "* BYE Command line too long", "\(bye)")
        #expect(try await client.waitClosed())
        await client.close()
        await server.stop()
    }

    /// While SELECT waits for a busy store, the client pipelines 16 MiB without a line end. The adapter
    /// stops reading after about 64 KiB: the session's own backstop (`* BYE Too much input while busy` past
    /// 1 MiB) never fires; once the store answers, the line gets BAD, and past 1 MiB dropped, BYE.
    @Test func pipelinedInputWhileTheStoreIsBusyStopsReading() async throws {
        let server = try await Fixture.start()
        let client = try await server.loggedIn()
        server.provider.hold(true)
        try await client.send("s SELECT INBOX\r\n")
        var payload = client.channel.allocator.buffer(capacity: 16 << 20)
        payload.writeString("c NOOP ")
        payload.writeRepeatingByte(UInt8(ascii: "x"), count: 16 << 20)
        let written = client.channel.eventLoop.makePromise(of: Void.self)
        client.channel.writeAndFlush(payload, promise: written)
        try await server.expectHeldLineIsCutOnceTheStoreAnswers(client, tag: "c")
        _ = try? await written.futureResult.get()
        await client.close()
        await server.stop()
    }

    @Test func hugeLiteralsAreRefusedAtTheirHeader() async throws {
        let server = try await Fixture.start()
        let client = try await server.loggedIn()
        // APPEND over APPENDLIMIT, synchronizing: NO [TOOBIG], the octets are never asked for.
        try await client.send("a APPEND INBOX {999999999}\r\n")
        let append = try #require(try await client.line())
        #expect(append.hasPrefix("a NO [TOOBIG]"), "\(append)")
        // A literal outside APPEND over 64 KiB: BAD [TOOBIG].
        try await client.send("b SELECT {100000}\r\n")
        let select = try #require(try await client.line())
        #expect(select.hasPrefix("b BAD [TOOBIG]"), "\(select)")
        // Non-synchronizing: the client would send the octets at once, so the connection ends.
        try await client.send("c APPEND INBOX {999999999+}\r\n")
        let refused = try await client.lines(through: "* BYE")
        #expect(refused.contains { $0.contains("TOOBIG") }, "\(refused)")
        #expect(try await client.waitClosed())
        await server.stop()
    }

    /// One byte every 200 ms of a command that never ends: the deadline (1 s here) runs from the first byte
    /// and later bytes do not restart it.
    @Test func tricklingClientIsCutByTheDeadline() async throws {
        let server = try await Fixture.start(idleTimeout: .seconds(1))
        let client = try await server.connect()
        _ = try await client.line()
        let started = ContinuousClock.now
        var sent = 0
        for byte in Array("a NOOP and then some more words that never end".utf8) {
            if client.isClosed { break }
            try? await client.send([byte])
            sent += 1
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(try await client.waitClosed(timeout: .seconds(5)))
        let elapsed = ContinuousClock.now - started
        #expect(elapsed < .seconds(4), "closed after \(elapsed)")
        #expect(sent < 20, "the client could send \(sent) bytes")
        let bye = try await client.lines(through: "* BYE")
        #expect(bye.last?.contains("Autologout") == true)
        #expect(server.logs.all.contains { $0.contains("imap timeout") })
        await server.stop()
    }

    @Test func failedLoginsAreDelayedAndEndTheSession() async throws {
        let server = try await Fixture.start(throttle: .init(baseDelay: 0.3, maxDelay: 2))
        let client = try await server.connect()
        _ = try await client.line()
        var lastStart = ContinuousClock.now
        for tag in ["a", "b", "c"] {
            lastStart = ContinuousClock.now
            try await client.send("\(tag) LOGIN \(Self.user) wrong\r\n")
            let reply = try await client.lines(through: tag == "c" ? "* BYE" : "\(tag) ")
            #expect(reply.contains { $0.hasPrefix("\(tag) NO [AUTHENTICATIONFAILED]") }, "\(reply)")
        }
        // Delays double per failure: the third waited at least 0.3 × 4 s.
        #expect(ContinuousClock.now - lastStart >= .milliseconds(1100))
        #expect(try await client.waitClosed())
        #expect(server.metrics.imapLoginCounts.failure == 3)
        #expect(server.logs.entries.contains { $0.message == "imap login failed" && "\($0.metadata["reason"] ?? "")" == "invalid credentials" })
        await server.stop()
    }

    @Test func implicitTLSListener() async throws {
        let server = try await Fixture.start(implicitTLS: true, allowPlaintext: false)
        let client = try await server.connect(tls: true)
        let greeting = try #require(try await client.line())
        #expect(greeting.hasPrefix("* OK"))
        #expect(!greeting.contains("STARTTLS") && !greeting.contains("LOGINDISABLED"))
        let login = try await client.command("a", "LOGIN \(Self.user) secret")
        #expect(login.last?.hasPrefix("a OK") == true, "\(login)")
        let list = try await client.command("b", "LIST \"\" \"*\"")
        #expect(list.contains { $0.contains("INBOX") })
        await client.close()
        await server.stop()
    }

    @Test func connectionCapAndShutdownSayBYE() async throws {
        let server = try await Fixture.start(maxConnections: 1)
        let first = try await server.connect()
        _ = try await first.line()
        let second = try await server.connect()
        let refused = try #require(try await second.line())
        #expect(refused.hasPrefix("* BYE [UNAVAILABLE]"), "\(refused)")
        #expect(try await second.waitClosed())
        server.connections.requestShutdown()
        let bye = try #require(try await first.line())
        #expect(bye == "* BYE Server shutting down")
        #expect(try await first.waitClosed())
        await server.stop()
    }
}
