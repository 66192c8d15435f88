import Foundation
import Logging
import MailCore
import MailServerNIO
import MailStore
import MailTestSupport
import NIOCore
import NIOEmbedded
import ServiceLifecycle
import Testing

@testable import PetrelServer

/// BackgroundServices.swift and PetrelService.swift: `petrel serve` runs one ServiceGroup — the
/// background jobs, then PetrelService — and a graceful shutdown drains the sessions (an event from the
/// connection trackers, no polling) before the jobs stop.
@Suite(.serialized) struct BackgroundServicesTests {
    /// The group lists the jobs before PetrelService, so it stops PetrelService (drain) first, then
    /// pickup, the agent and the access refresh, each after the one before has returned.
    @Test func groupListsTheJobsBeforeTheServer() throws {
        var c = AdminEndpointTests.configuration(dataDir: "/nonexistent")
        let started = StartedServer()
        func names() throws -> [String] {
            try PetrelService.services(configuration: c, logger: Logger(label: "test"), reload: nil, clock: WallClock(), started: started)
                .map { "\($0.service)" }
        }
        c.delivery.pickupDirectory = nil
        #expect(try names() == ["AccessRefresh", "DeliveryAgent", "PetrelService"])
        c.delivery.pickupDirectory = "/nonexistent/pickup"
        #expect(try names() == ["AccessRefresh", "DeliveryAgent", "Pickup", "PetrelService"])
        // On PostgreSQL the store's client (its connection pool) is a service of the group too, listed
        // first so that it stops last (nothing connects until the group runs).
        c.store.backend = .postgresql
        #expect(try names() == ["PostgresClient", "AccessRefresh", "DeliveryAgent", "Pickup", "PetrelService"])
    }

    /// PostgreSQL settings that cannot be used stop `serve` before the group runs, with the reason.
    @Test func unusablePostgresSettingsStopTheStart() {
        var c = AdminEndpointTests.configuration(dataDir: "/nonexistent")
        c.store.backend = .postgresql
        c.store.passwordFile = "/nonexistent/petrel-store-password"
        #expect {
            try PetrelService.services(configuration: c, logger: Logger(label: "test"), reload: nil, clock: WallClock(), started: StartedServer())
        } throws: { error in
            "\(error)".contains("[store] password_file /nonexistent/petrel-store-password cannot be read")
        }
    }

    /// A failed start ends the group with the start's own error, never with a background job's "finished
    /// unexpectedly" (the jobs wait to be cancelled). Repeated: before the fix it was a race.
    @Test func aFailedStartEndsTheGroupWithItsReason() async throws {
        var c = AdminEndpointTests.configuration(dataDir: AdminEndpointTests.tempDir())
        defer { try? FileManager.default.removeItem(atPath: c.server.dataDirectory) }
        c.admin.listen = nil
        c.tls.certificate = "/nonexistent/petrel-cert.pem"
        c.tls.privateKey = "/nonexistent/petrel-key.pem"
        for _ in 0..<20 {
            let group = ServiceGroup(
                configuration: .init(
                    services: try PetrelService.services(
                        configuration: c, logger: Logger(label: "test"), reload: nil, clock: WallClock(), started: StartedServer()),
                    logger: Logger(label: "test.group")))
            do {
                try await group.run()
                Issue.record("the group ran although the start failed")
            } catch {
                #expect("\(error)".contains("/nonexistent/petrel-cert.pem"), "\(error)")
            }
        }
    }

    /// The whole group on real sockets: a session in the middle of DATA when the shutdown starts may
    /// finish its message (250) and is then closed with 421; the listener stops accepting at once; the
    /// group returns only once the session has closed, and the message is stored.
    @Test func shutdownDrainsABusySessionThenStopsTheGroup() async throws {
        let dir = AdminEndpointTests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = AdminEndpointTests.configuration(dataDir: dir)
        c.admin.listen = nil
        c.delivery.pickupDirectory = dir + "/pickup"
        c.server.shutdownDeadline = 60
        do {
            let admin = PetrelAdmin(configuration: c)
            _ = try await admin.addDomain("petrel.test")
            _ = try await admin.addMailbox(try #require(EmailAddress("alice@petrel.test")), password: nil, isAdmin: false)
            await admin.close()
        }
        let started = StartedServer()
        let group = ServiceGroup(
            configuration: .init(
                services: try PetrelService.services(
                    configuration: c, logger: Logger(label: "test"), reload: nil, clock: WallClock(), started: started),
                logger: Logger(label: "test.group")))
        let running = Task { try await group.run() }
        let server = try #require(await started.wait())
        let port = try #require(server.port(.smtp))

        // The client's blocking socket calls run on their own threads (`onThread`), never on the few
        // cooperative threads the server's tasks need.
        let client = try await onThread { try LineClient(port: port) }
        func reply() async throws -> String { try await onThread { client.reply() } }
        func send(_ lines: [String]) async throws { try await onThread { client.write(lines) } }
        #expect(try await reply().hasPrefix("220 "))
        try await send(["EHLO client.test"])
        #expect(try await reply().hasPrefix("250 "))
        try await send(["MAIL FROM:<bob@client.test>"])
        #expect(try await reply().hasPrefix("250 "))
        try await send(["RCPT TO:<alice@petrel.test>"])
        #expect(try await reply().hasPrefix("250 "))
        try await send(["DATA"])
        #expect(try await reply().hasPrefix("354 "))

        await group.triggerGracefulShutdown()
        // The listener stops accepting (poll for the refusal, generous deadline).
        var refused = false
        for _ in 0..<600 {
            refused = try await onThread {
                do {
                    close(try AdminClient.connect(host: "127.0.0.1", port: port, timeoutSeconds: 5))
                    return false
                } catch let failure as AdminClient.Failure where failure.refused {
                    return true
                }
            }
            if refused { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(refused)
        // The session is still open, so the drain goes on.
        try await Task.sleep(for: .milliseconds(200))
        #expect(server.smtpConnections.openCount == 1)

        try await send(["Subject: drained", "", "finished during shutdown", "."])
        #expect(try await reply().hasPrefix("250 "))
        #expect(try await reply().hasPrefix("421 "))
        #expect(try await onThread { client.isClosed() })
        try await running.value
        await started.current?.close()

        let admin = PetrelAdmin(configuration: c)
        let alice = try await admin.mailbox(try #require(EmailAddress("alice@petrel.test")))
        #expect(try await admin.messages(in: alice).count == 1)
        await admin.close()
    }

    /// `waitUntilEmpty` returns when the last connection closes, not before.
    @Test func trackerSignalsWhenTheLastConnectionCloses() async throws {
        let tracker = ConnectionTracker(limits: .init(maxConnections: 10, maxConnectionsPerIP: 10))
        await tracker.waitUntilEmpty() // none open: at once
        let a = EmbeddedChannel(), b = EmbeddedChannel()
        #expect(tracker.open(a, ip: IPAddress("192.0.2.1")) == nil)
        #expect(tracker.open(b, ip: IPAddress("192.0.2.2")) == nil)
        let waiter = Task {
            await tracker.waitUntilEmpty()
            return tracker.openCount
        }
        tracker.close(a, ip: IPAddress("192.0.2.1"))
        try await Task.sleep(for: .milliseconds(100))
        #expect(tracker.openCount == 1)
        tracker.close(b, ip: IPAddress("192.0.2.2"))
        #expect(await waiter.value == 0)
        // A cancelled waiter returns too.
        #expect(tracker.open(a, ip: nil) == nil)
        let cancelled = Task { await tracker.waitUntilEmpty() }
        cancelled.cancel()
        await cancelled.value
        #expect(tracker.openCount == 1)
    }
}

/// Runs blocking work on a thread of its own and returns its result.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// A blocking SMTP client on a loopback socket, used from one thread at a time (`onThread`).
final class LineClient: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int) throws { fd = try AdminClient.connect(host: "127.0.0.1", port: port, timeoutSeconds: 30) }
    deinit { close(fd) }

    func write(_ lines: [String]) {
        let bytes = Array(lines.map { $0 + "\r\n" }.joined().utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    }

    /// The final line of the next reply ("NNN text"), or "(closed)" at end of stream or timeout.
    func reply() -> String {
        while true {
            while let lf = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<lf], as: UTF8.self).trimmingCharacters(in: .newlines)
                buffer.removeSubrange(...lf)
                if line.count >= 4, line[line.index(line.startIndex, offsetBy: 3)] == " " { return line }
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return "(closed)" }
            buffer += chunk[0..<n]
        }
    }

    /// True when the server has closed the connection (nothing more to read).
    func isClosed() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 1)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n == 0 || (n < 0 && errno == ECONNRESET)
    }
}
