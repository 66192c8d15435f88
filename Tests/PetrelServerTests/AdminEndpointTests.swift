import Foundation
import Logging
import MailCore
import MailStore
import NIOHTTP1
import Testing

@testable import PetrelConfig
@testable import PetrelServer

// Tests for the admin endpoint (AdminServer.swift, ServerOperations.swift, StatusReport.swift): a real
// MailServer on loopback port 0 with an in-memory store serves /metrics and /status, and the numbers
// move when a message is sent over SMTP.
#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct AdminEndpointTests {
    static func configuration(dataDir: String) -> PetrelConfiguration {
        var c = PetrelConfiguration.developmentDefaults(hostname: "mx.petrel.test")
        c.server.dataDirectory = dataDir
        c.smtp.listen = [.init(host: "127.0.0.1", port: 0)]
        c.submission.listen = []
        c.submission.tlsListen = []
        c.pop3.listen = [.init(host: "127.0.0.1", port: 0)]
        c.pop3.tlsListen = []
        // IMAP (when the store serves it) on a port the kernel picks, never the development default.
        c.imap.listen = [.init(host: "127.0.0.1", port: 0)]
        c.imap.tlsListen = []
        c.admin.listen = .init(host: "127.0.0.1", port: 0)
        // The SPF/DKIM/DMARC checks on port 25 would ask the system's resolver: no DNS from this test.
        c.authentication.checkInbound = false
        return c
    }

    static func tempDir() -> String {
        let dir = NSTemporaryDirectory() + "petrel-admin-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Runs a blocking SMTP dialogue on a loopback socket; returns every line the server sent.
    static func smtpDialogue(port: Int, _ commands: [String]) throws -> [String] {
        let fd = try AdminClient.connect(host: "127.0.0.1", port: port, timeoutSeconds: 5)
        defer { close(fd) }
        var received = ""
        func readReply() {
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return }
                received += String(decoding: chunk[0..<n], as: UTF8.self)
                // A complete reply ends with a line "NNN text\r\n" (no hyphen after the code).
                if let last = received.split(separator: "\r\n").last, last.count >= 4,
                    last[last.index(last.startIndex, offsetBy: 3)] == " ", received.hasSuffix("\r\n")
                {
                    return
                }
            }
        }
        readReply()
        for command in commands {
            let bytes = Array((command + "\r\n").utf8)
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            readReply()
        }
        return received.split(separator: "\r\n").map(String.init)
    }

    static func metricValue(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func metricsAndStatusMoveWhenMailFlows() async throws {
        let store = InMemoryMailStore()
        _ = try await store.addDomain("petrel.test")
        let alice = try #require(EmailAddress("alice@petrel.test"))
        _ = try await store.addMailbox(alice, passwordHash: nil, isAdmin: false)
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try await MailServer.start(
            configuration: Self.configuration(dataDir: dir), store: store,
            logger: Logger(label: "test"))
        let adminPort = server.operations.adminAddress?.port ?? 0
        var startedAt = "-"
        do {
            let admin = try #require(server.operations.adminAddress)
            #expect(admin.port != 0)
            let smtpPort = try #require(server.port(.smtp))

            let (code, before) = try AdminClient.get(host: admin.host, port: admin.port, path: "/metrics")
            #expect(code == 200)
            #expect(Self.metricValue(before, "petrel_smtp_messages_accepted_total{protocol=\"smtp\"}") == nil)

            let lines = try Self.smtpDialogue(
                port: smtpPort,
                [
                    "EHLO client.test", "MAIL FROM:<bob@client.test>", "RCPT TO:<alice@petrel.test>", "DATA",
                    "Subject: hi\r\n\r\nhello\r\n.", "QUIT"
                ])
            #expect(lines.contains { $0.hasPrefix("250 2.0.0") || ($0.hasPrefix("250 ") && $0.contains("queued")) })
            // The connection is closed after QUIT; the close is counted asynchronously.
            var after = ""
            for _ in 0..<50 {
                after = try AdminClient.get(host: admin.host, port: admin.port, path: "/metrics").1
                if Self.metricValue(after, "petrel_connections_open{protocol=\"smtp\"}") == 0 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(Self.metricValue(after, "petrel_smtp_messages_accepted_total{protocol=\"smtp\"}") == 1)
            #expect(Self.metricValue(after, "petrel_smtp_transactions_total{protocol=\"smtp\",class=\"2xx\"}") == 1)
            #expect(Self.metricValue(after, "petrel_connections_total{protocol=\"smtp\"}") == 1)
            #expect(Self.metricValue(after, "petrel_connections_open{protocol=\"smtp\"}") == 0)
            #expect((Self.metricValue(after, "petrel_bytes_received_total{protocol=\"smtp\"}") ?? 0) > 50)
            #expect(Self.metricValue(after, "petrel_store_commit_seconds_count") == 1)

            let (statusCode, body) = try AdminClient.get(host: admin.host, port: admin.port, path: "/status")
            #expect(statusCode == 200)
            let report = try JSONDecoder().decode(StatusReport.self, from: Data(body.utf8))
            startedAt = report.startedAt
            #expect(report.version == PetrelBuild.version)
            #expect(report.hostname == "mx.petrel.test")
            #expect(report.connections["smtp"] == StatusReport.Connections(open: 0, total: 1, rejected: 0))
            #expect(report.connections["pop3"] == StatusReport.Connections(open: 0, total: 0, rejected: 0))
            #expect(report.listeners.contains { $0.protocol == "admin" && $0.address == "\(admin)" })
            // The delivery agent scans the (empty) queue at start.
            #expect(report.queueSize == 0)
            #expect(report.queue == StatusReport.Queue(new: 0, deferred: 0, held: 0))
            #expect(report.text().contains("queue: 0 (new 0, deferred 0, held 0)"))

            #expect(try AdminClient.get(host: admin.host, port: admin.port, path: "/nope").0 == 404)
        } catch {
            await server.shutdown(deadline: .seconds(1))
            throw error
        }
        await server.shutdown(deadline: .seconds(1))
        // After shutdown our endpoint no longer answers. Usually the client reports "refused"; in a full
        // parallel run another test's listener may already have been given the freed port (a silent one
        // times out), so the check is that whatever answers there is not this server's /status.
        #expect(server.operations.adminAddress == nil)
        do {
            let (code, body) = try AdminClient.get(host: "127.0.0.1", port: adminPort, path: "/status")
            #expect(
                !(code == 200 && body.contains("\"mx.petrel.test\"") && body.contains(startedAt)), "the admin endpoint still answers after shutdown")
        } catch let failure as AdminClient.Failure {
            if !failure.refused { print("note: port \(adminPort) was taken by another listener after shutdown: \(failure)") }
        }
    }

    @Test func disabledAdminDoesNotListen() async throws {
        var c = Self.configuration(dataDir: Self.tempDir())
        c.admin.listen = nil
        let server = try await MailServer.start(configuration: c, store: InMemoryMailStore(), logger: Logger(label: "test"))
        #expect(server.operations.adminAddress == nil)
        await server.shutdown(deadline: .seconds(1))
        try? FileManager.default.removeItem(atPath: c.server.dataDirectory)
    }

    @Test func routesAnswerByMethodAndPath() {
        let routes = AdminServer.Routes(
            metrics: { "m 1\n" },
            status: {
                StatusReport(
                    version: "9", hostname: "h", startedAt: Date(timeIntervalSince1970: 0),
                    now: Date(timeIntervalSince1970: 90), listeners: [], connections: [:])
            })
        let metrics = AdminServer.respond(method: .GET, path: "/metrics", routes: routes)
        #expect(metrics.0 == .ok && metrics.2 == "m 1\n" && metrics.1.hasPrefix("text/plain; version=0.0.4"))
        let status = AdminServer.respond(method: .GET, path: "/status?x=1", routes: routes)
        #expect(status.0 == .ok && status.2.contains("\"uptime_seconds\":90"))
        #expect(status.2.contains("\"queue_size\":null"))
        #expect(AdminServer.respond(method: .POST, path: "/status", routes: routes).0 == .methodNotAllowed)
        #expect(AdminServer.respond(method: .GET, path: "/", routes: routes).0 == .notFound)
    }
}
