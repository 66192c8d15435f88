import Logging
import MailCore
import MailStore
import MailTestSupport
import NIOCore
import NIOPosix
import NIOSSL
import SMTPCore
import Synchronization
import Testing

@testable import MailDelivery

#if canImport(Glibc)
    import Glibc
#else
    import Darwin
#endif

@Suite struct SMTPClientConnectionTests {
    let group = MultiThreadedEventLoopGroup.singleton
    let logger = Logger(label: "test.smtp-client")

    /// Generous timeouts: a loaded 2-core CI machine can stall the process for seconds (the timeout tests set their own).
    func configuration(_ tls: SMTPClientTLSPolicy = .none) -> SMTPClientConfiguration {
        SMTPClientConfiguration(heloName: "client.test.example", tlsPolicy: tls, timeouts: .uniform(.seconds(30)))
    }

    func recipients(_ addresses: String...) -> [OutboundRecipient] {
        addresses.map { OutboundRecipient(address: address($0)) }
    }

    /// The server's view of a body: DATA octets without the final ".\r\n" and with dot-stuffing undone.
    func unstuff(_ raw: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var atLineStart = true
        var bytes = raw
        if bytes.count >= 3, Array(bytes.suffix(3)) == Array(".\r\n".utf8) { bytes.removeLast(3) }
        for byte in bytes {
            if atLineStart, byte == UInt8(ascii: ".") {
                atLineStart = false
                continue
            }
            out.append(byte)
            atLineStart = byte == 0x0A
        }
        return out
    }

    @Test func deliversBodyWithDotLines() async throws {
        let server = try await ScriptedSMTPServer.start(group: group, options: ScriptedServerOptions())
        defer { Task { await server.stop() } }
        let connection = try await SMTPClientConnection.connect(
            to: try server.address, serverName: "localhost",
            configuration: configuration(), group: group, logger: logger)
        #expect(await connection.peerGreeting?.code == .serviceReady)
        #expect(await connection.capabilities.pipelining)
        let body = Array("Subject: dots\r\n\r\n.first\r\nmiddle\r\n.\r\n..two\r\nlast line".utf8)
        let result = try await connection.send(
            OutboundTransaction(
                sender: sender("me@here.example"),
                recipients: recipients("a@test.example"), body: body))
        #expect(result.recipients.map(\.status) == [.delivered])
        #expect(result.recipients.first?.reply.text == "Ok: queued")
        await connection.quit()
        let record = server.snapshot
        let raw = try #require(record.rawBodies.first)
        #expect(
            String(decoding: raw, as: UTF8.self)
                == "Subject: dots\r\n\r\n..first\r\nmiddle\r\n..\r\n...two\r\nlast line\r\n.\r\n")
        #expect(record.commands.contains("MAIL FROM:<me@here.example> SIZE=\(body.count)"))
        #expect(record.commands.last == "QUIT")
    }

    @Test(arguments: [true, false])
    func pipelinedOrNot(_ pipelining: Bool) async throws {
        var options = ScriptedServerOptions()
        options.extensions = pipelining ? ["PIPELINING"] : ["8BITMIME"]
        options.rcptReplies = ["b@test.example": "450 4.2.0 later", "c@test.example": "550 5.1.1 unknown"]
        let server = try await ScriptedSMTPServer.start(group: group, options: options)
        defer { Task { await server.stop() } }
        let connection = try await SMTPClientConnection.connect(
            to: try server.address, serverName: nil,
            configuration: configuration(), group: group, logger: logger)
        for _ in 0..<2 {
            let result = try await connection.send(
                OutboundTransaction(
                    sender: .null, recipients: recipients("a@test.example", "b@test.example", "c@test.example"),
                    body: Array("Subject: x\r\n\r\nhi\r\n".utf8)))
            #expect(result.recipients.map(\.status) == [.delivered, .temporaryFailure, .permanentFailure])
        }
        await connection.quit()
        let record = server.snapshot
        #expect(record.rawBodies.count == 2)
        #expect(record.commands.filter { $0 == "RSET" }.count == 1)
        if pipelining {
            #expect(record.maxCommandsPerRead >= 4) // MAIL, 3 RCPT, DATA in one write
        } else {
            #expect(record.maxCommandsPerRead == 1)
        }
    }

    @Test func largeMessageIsByteExact() async throws {
        let server = try await ScriptedSMTPServer.start(group: group, options: ScriptedServerOptions())
        defer { Task { await server.stop() } }
        // ~3 MiB of lines, a quarter of them starting with ".", some with bare LF.
        var body: [UInt8] = Array("Subject: big\r\n\r\n".utf8)
        var line = 0
        while body.count < 3 * 1024 * 1024 {
            let prefix = line % 4 == 0 ? "." : ""
            let ending = line % 97 == 0 ? "\n" : "\r\n"
            body += Array("\(prefix)line \(line) \(String(repeating: "x", count: line % 70))\(ending)".utf8)
            line += 1
        }
        let expectedWire = SMTPBodyEncoder.encodeAll(body)
        let reads = LockedCounter()
        let stored = body
        let transaction = OutboundTransaction(
            sender: sender("me@here.example"), recipients: recipients("a@test.example"),
            envelope: OutboundEnvelope(), size: Int64(body.count)
        ) { offset, maxLength in
            reads.increment()
            guard offset < Int64(stored.count) else { return [] }
            let start = Int(offset)
            return Array(stored[start..<min(stored.count, start + maxLength)])
        }
        let connection = try await SMTPClientConnection.connect(
            to: try server.address, serverName: nil,
            configuration: configuration(), group: group, logger: logger)
        let result = try await connection.send(transaction)
        #expect(result.recipients.first?.status == .delivered)
        await connection.quit()
        let raw = try #require(server.snapshot.rawBodies.first)
        #expect(raw.count == expectedWire.count)
        #expect(raw == expectedWire)
        // Bare LFs became CRLF; otherwise the server sees the body as stored.
        let normalized = Array(
            String(decoding: body, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
                .replacingOccurrences(of: "\n", with: "\r\n").utf8)
        #expect(unstuff(raw) == normalized)
        #expect(reads.value >= body.count / (64 * 1024)) // read in chunks, not all at once
    }

    @Test func startTLSOpportunistic() async throws {
        var options = ScriptedServerOptions()
        options.tls = try ServerTLS.generate()
        let server = try await ScriptedSMTPServer.start(group: group, options: options)
        defer { Task { await server.stop() } }
        let connection = try await SMTPClientConnection.connect(
            to: try server.address, serverName: "localhost",
            configuration: configuration(.opportunistic), group: group, logger: logger)
        let info = try #require(await connection.tlsInfo)
        #expect(info.version == "TLSv1.3" || info.version == "TLSv1.2")
        #expect(info.cipher != "unknown")
        let result = try await connection.send(
            OutboundTransaction(
                sender: sender("me@here.example"), recipients: recipients("a@test.example"),
                body: Array("Subject: tls\r\n\r\n.secret\r\n".utf8)))
        #expect(result.recipients.first?.status == .delivered)
        await connection.quit()
        let record = server.snapshot
        #expect(record.tlsUsed)
        #expect(record.commands.filter { $0.hasPrefix("EHLO") }.count == 2)
        #expect(record.rawBodies.first.map { String(decoding: $0, as: UTF8.self) } == "Subject: tls\r\n\r\n..secret\r\n.\r\n")
    }

    /// Plaintext a man in the middle appends to the 220 is dropped, never read as the reply to EHLO
    /// (RFC 3207 §4.2): the client goes on over TLS and asks EHLO again.
    @Test func startTLSDropsPlaintextAfterThe220() async throws {
        var options = ScriptedServerOptions()
        options.tls = try ServerTLS.generate()
        options.afterStartTLSReply = ["250-injected.example", "250 AUTH PLAIN"]
        let server = try await ScriptedSMTPServer.start(group: group, options: options)
        defer { Task { await server.stop() } }
        let connection = try await SMTPClientConnection.connect(
            to: try server.address, serverName: "localhost",
            configuration: configuration(.required), group: group, logger: logger)
        #expect(await connection.tlsInfo != nil)
        let capabilities = await connection.capabilities
        #expect(capabilities.serverName == "mx.test.example")
        #expect(capabilities.authMechanisms.isEmpty)
        let result = try await connection.send(
            OutboundTransaction(
                sender: sender("me@here.example"), recipients: recipients("a@test.example"),
                body: Array("Subject: x\r\n\r\nhi\r\n".utf8)))
        #expect(result.recipients.first?.status == .delivered)
        await connection.quit()
        #expect(server.snapshot.commands.filter { $0.hasPrefix("EHLO") }.count == 2)
    }

    /// STARTTLS refused under the opportunistic policy: the client reads on in plaintext and delivers;
    /// under the required policy the same refusal ends the session.
    @Test func startTLSRefusedGoesOnInPlaintext() async throws {
        var options = ScriptedServerOptions()
        options.tls = try ServerTLS.generate()
        options.startTLSReply = "454 4.7.0 TLS not available"
        let server = try await ScriptedSMTPServer.start(group: group, options: options)
        defer { Task { await server.stop() } }
        let connection = try await SMTPClientConnection.connect(
            to: try server.address, serverName: "localhost",
            configuration: configuration(.opportunistic), group: group, logger: logger)
        #expect(await connection.tlsInfo == nil)
        let result = try await connection.send(
            OutboundTransaction(
                sender: sender("me@here.example"), recipients: recipients("a@test.example"),
                body: Array("Subject: x\r\n\r\nhi\r\n".utf8)))
        #expect(result.recipients.first?.status == .delivered)
        await connection.quit()
        #expect(!server.snapshot.tlsUsed)
        #expect(server.snapshot.commands.contains("STARTTLS"))

        do {
            let refused = try await SMTPClientConnection.connect(
                to: try server.address, serverName: "localhost",
                configuration: configuration(.required), group: group, logger: logger)
            await refused.close()
            Issue.record("required TLS went on after STARTTLS was refused")
        } catch let error as SMTPClientError {
            guard case .startTLSRejected(let reply) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(reply.code == .tempAuthFailure)
        }
    }

    @Test func requiredTLSWithVerification() async throws {
        let tls = try ServerTLS.generate()
        var options = ScriptedServerOptions()
        options.tls = tls
        let server = try await ScriptedSMTPServer.start(group: group, options: options)
        defer { Task { await server.stop() } }

        var trusted = configuration(.required)
        trusted.verifyCertificate = true
        trusted.trustRoots = .certificates([try tls.certificate()])
        let connection = try await SMTPClientConnection.connect(
            to: try server.address, serverName: "localhost",
            configuration: trusted, group: group, logger: logger)
        #expect(await connection.tlsInfo != nil)
        await connection.quit()

        // The same self-signed certificate is not trusted by the system roots: the handshake fails.
        var untrusted = configuration(.required)
        untrusted.verifyCertificate = true
        await #expect {
            _ = try await SMTPClientConnection.connect(
                to: try server.address, serverName: "localhost",
                configuration: untrusted, group: group, logger: logger)
        } throws: { error in
            guard case .tlsHandshakeFailed? = error as? SMTPClientError else { return false }
            return (error as? SMTPClientError)?.isTemporary == true
        }
    }

    @Test func requiredTLSNotOffered() async throws {
        let server = try await ScriptedSMTPServer.start(group: group, options: ScriptedServerOptions())
        defer { Task { await server.stop() } }
        await #expect(throws: SMTPClientError.startTLSNotOffered) {
            _ = try await SMTPClientConnection.connect(
                to: try server.address, serverName: nil,
                configuration: configuration(.required), group: group, logger: logger)
        }
    }

    @Test func heloFallbackOverTheNetwork() async throws {
        var options = ScriptedServerOptions()
        options.ehloRejected = true
        let server = try await ScriptedSMTPServer.start(group: group, options: options)
        defer { Task { await server.stop() } }
        let connection = try await SMTPClientConnection.connect(
            to: try server.address, serverName: nil,
            configuration: configuration(), group: group, logger: logger)
        #expect(await connection.capabilities.extended == false)
        await connection.quit()
        #expect(server.snapshot.commands.prefix(2) == ["EHLO client.test.example", "HELO client.test.example"])
    }

    @Test func connectRefused() async throws {
        // A socket bound to a loopback port but not listening: connecting is refused, and the port stays
        // ours for the test (a port freed by closing a server could be taken by a test running alongside,
        // e.g. greetingTimeout's silent server, and the connect would then succeed).
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &sin) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        #expect(bound)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: Int(UInt16(bigEndian: sin.sin_port)))
        await #expect {
            _ = try await SMTPClientConnection.connect(
                to: address, serverName: nil, configuration: configuration(),
                group: group, logger: logger)
        } throws: { error in
            guard case .connectFailed? = error as? SMTPClientError else { return false }
            return true
        }
    }

    @Test func greetingTimeout() async throws {
        var options = ScriptedServerOptions()
        options.greet = false
        let server = try await ScriptedSMTPServer.start(group: group, options: options)
        defer { Task { await server.stop() } }
        var config = configuration()
        config.timeouts.greeting = .milliseconds(300)
        let start = ContinuousClock.now
        await #expect(throws: SMTPClientError.timeout("the greeting")) {
            _ = try await SMTPClientConnection.connect(
                to: try server.address, serverName: nil, configuration: config,
                group: group, logger: logger)
        }
        // The error above names the greeting timer; this only checks it did not hang (loose: the suite
        // runs on shared 2-core machines where a loaded event loop can be seconds late).
        #expect(ContinuousClock.now - start < .seconds(30))
    }

    @Test func finalReplyTimeoutFailsTheSend() async throws {
        var options = ScriptedServerOptions()
        options.finalReply = nil // the server never answers the final dot
        let server = try await ScriptedSMTPServer.start(group: group, options: options)
        defer { Task { await server.stop() } }
        var config = configuration()
        config.timeouts.finalDot = .milliseconds(300)
        let connection = try await SMTPClientConnection.connect(
            to: try server.address, serverName: nil, configuration: config,
            group: group, logger: logger)
        await #expect(throws: SMTPClientError.timeout("the reply to the end of data")) {
            _ = try await connection.send(
                OutboundTransaction(
                    sender: sender(""), recipients: recipients("a@test.example"),
                    body: Array("x\r\n".utf8)))
        }
        #expect(await connection.isUsable == false)
        #expect(await connection.transcript.lines.contains { $0.hasPrefix("C: <message body") })
    }

    @Test func bodyReadErrorClosesWithoutDot() async throws {
        let server = try await ScriptedSMTPServer.start(group: group, options: ScriptedServerOptions())
        defer { Task { await server.stop() } }
        struct Broken: Error {}
        let connection = try await SMTPClientConnection.connect(
            to: try server.address, serverName: nil,
            configuration: configuration(), group: group, logger: logger)
        let transaction = OutboundTransaction(
            sender: sender(""), recipients: recipients("a@test.example"), envelope: OutboundEnvelope(),
            size: 10
        ) { offset, _ in
            if offset == 0 { return Array("partial".utf8) }
            throw Broken()
        }
        await #expect {
            _ = try await connection.send(transaction)
        } throws: { error in
            guard case .localFailure? = error as? SMTPClientError else { return false }
            return true
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(server.snapshot.rawBodies.isEmpty)
    }
}

/// A thread-safe counter for the body reader closure.
final class LockedCounter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
