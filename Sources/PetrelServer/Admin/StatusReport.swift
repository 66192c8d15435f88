/// What `GET /status` returns and `petrel status` prints: version, uptime, listeners, connections per
/// protocol, the outbound queue (as of the delivery agent's last scan; `null` before the first one).
import Foundation
import MailServerNIO
import MailStore

/// The running server's version (also `petrel --version`).
public enum PetrelBuild {
    public static let version = "0.1.0"
}

public struct StatusReport: Codable, Sendable, Equatable {
    public struct ListenerInfo: Codable, Sendable, Equatable {
        public var `protocol`: String
        public var address: String
    }
    public struct Connections: Codable, Sendable, Equatable {
        public var open: Int
        public var total: Int
        public var rejected: Int
    }

    public var version: String
    public var hostname: String
    public var startedAt: String
    public var uptimeSeconds: Int
    public var listeners: [ListenerInfo]
    /// Keyed by protocol (smtp, submission, submissions, pop3, pop3s, imap, imaps); every listening protocol appears.
    public var connections: [String: Connections]
    public struct Queue: Codable, Sendable, Equatable {
        /// Never tried yet.
        public var new: Int
        /// Tried and waiting for a retry.
        public var deferred: Int
        public var held: Int
    }

    /// IMAP logins since start (both IMAP listener kinds); nil when no IMAP listener runs.
    public struct Logins: Codable, Sendable, Equatable {
        public var success: Int
        public var failure: Int
        public var refused: Int
    }
    public var imapLogins: Logins?

    /// Recipients waiting in the outbound queue (all states): nil before the agent's first scan.
    public var queueSize: Int?
    public var queue: Queue?

    enum CodingKeys: String, CodingKey {
        case version, hostname, listeners, connections, queue
        case startedAt = "started_at", uptimeSeconds = "uptime_seconds", queueSize = "queue_size"
        case imapLogins = "imap_logins"
    }

    public init(
        version: String, hostname: String, startedAt: Date, now: Date, listeners: [ListenerInfo],
        connections: [String: Connections], queueSize: Int? = nil, queue: Queue? = nil
    ) {
        self.version = version
        self.hostname = hostname
        self.startedAt = ISO8601DateFormatter().string(from: startedAt)
        self.uptimeSeconds = max(0, Int(now.timeIntervalSince(startedAt)))
        self.listeners = listeners
        self.connections = connections
        self.queueSize = queueSize
        self.queue = queue
    }

    /// The report of a running server's listeners and counters.
    static func make(
        hostname: String, startedAt: Date, now: Date, listeners: [BoundListener], admin: ListenAddress?,
        metrics: ServerMetrics, queue: QueueSummary?
    ) -> StatusReport {
        var infos = listeners.map { ListenerInfo(protocol: $0.kind.rawValue, address: "\($0.localAddress)") }
        if let admin { infos.append(ListenerInfo(protocol: "admin", address: "\(admin)")) }
        var connections: [String: Connections] = [:]
        for l in listeners { connections[l.kind.rawValue] = Connections(open: 0, total: 0, rejected: 0) }
        for (kind, c) in metrics.connectionCounts {
            connections[kind.rawValue] = Connections(open: c.open, total: c.total, rejected: c.rejected)
        }
        var report = StatusReport(
            version: PetrelBuild.version, hostname: hostname, startedAt: startedAt, now: now,
            listeners: infos, connections: connections, queueSize: queue?.total,
            queue: queue.map { Queue(new: $0.new, deferred: $0.deferred, held: $0.held) })
        if listeners.contains(where: { $0.kind == .imap || $0.kind == .imaps }) {
            let logins = metrics.imapLoginCounts
            report.imapLogins = Logins(success: logins.success, failure: logins.failure, refused: logins.refused)
        }
        return report
    }

    /// Like the synthesized encoding, but `queue_size` is written as `null` rather than left out.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(hostname, forKey: .hostname)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(uptimeSeconds, forKey: .uptimeSeconds)
        try c.encode(listeners, forKey: .listeners)
        try c.encode(connections, forKey: .connections)
        if let queueSize { try c.encode(queueSize, forKey: .queueSize) } else { try c.encodeNil(forKey: .queueSize) }
        if let queue { try c.encode(queue, forKey: .queue) } else { try c.encodeNil(forKey: .queue) }
        try c.encodeIfPresent(imapLogins, forKey: .imapLogins)
    }

    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(self), let text = String(data: data, encoding: .utf8) else { return "{}" }
        return text
    }

    /// The human-readable form `petrel status` prints.
    public func text() -> String {
        var lines = ["petrel \(version) on \(hostname)", "up \(Self.duration(uptimeSeconds)) (since \(startedAt))", "listeners:"]
        for l in listeners { lines.append("  \(l.protocol.padding(toLength: 12, withPad: " ", startingAt: 0)) \(l.address)") }
        lines.append("connections (open / total / rejected):")
        for key in connections.keys.sorted() {
            guard let c = connections[key] else { continue }
            lines.append("  \(key.padding(toLength: 12, withPad: " ", startingAt: 0)) \(c.open) / \(c.total) / \(c.rejected)")
        }
        if let logins = imapLogins {
            lines.append("imap logins (success / failed / refused): \(logins.success) / \(logins.failure) / \(logins.refused)")
        }
        if let queue {
            lines.append("queue: \(queue.new + queue.deferred + queue.held) (new \(queue.new), deferred \(queue.deferred), held \(queue.held))")
        } else {
            lines.append("queue: \(queueSize.map(String.init) ?? "n/a (not scanned yet)")")
        }
        return lines.joined(separator: "\n")
    }

    static func duration(_ seconds: Int) -> String {
        let d = seconds / 86400, h = seconds % 86400 / 3600, m = seconds % 3600 / 60, s = seconds % 60
        if d > 0 { return "\(d)d \(h)h \(m)m" }
        if h > 0 { return "\(h)h \(m)m \(s)s" }
        return m > 0 ? "\(m)m \(s)s" : "\(s)s"
    }
}
