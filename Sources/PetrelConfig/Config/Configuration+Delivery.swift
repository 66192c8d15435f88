/// `[delivery]`: the outbound queue and SMTP client (RFC 5321 §4.5.4.1 retry strategy, §4.5.3.2 client
/// timeouts, §5.1 MX routing; RFC 3464 non-delivery reports; the Badmail directory).
/// Read by ConfigParser+Delivery.swift; documented in docs/CONFIGURATION.md and docs/DELIVERY.md.
import MailCore

extension PetrelConfiguration {
    /// `[queue]`: how queue work is owned (docs/QUEUE.md "Leases").
    public struct Queue: Sendable, Equatable {
        /// Seconds a node holds the entries it claimed; renewed at a third of it during a transfer. A dead
        /// node's entries are delivered by another node once this has passed.
        public var leaseSeconds: Int = 300

        /// The accepted range of `lease_seconds`.
        public static let leaseRange = 3...86400

        public init() {}
    }

    /// How outbound TLS is used.
    public enum OutboundTLS: String, Sendable, Equatable, CaseIterable {
        /// Never STARTTLS.
        case none
        /// STARTTLS when the server offers it, without certificate checks (MX hosts cannot be verified
        /// without DANE or MTA-STS); plain text otherwise.
        case opportunistic
        /// STARTTLS or no delivery (deferred); the certificate is verified unless `*_tls_verify = false`.
        case required
    }

    /// A next hop given by the administrator: a smarthost or a per-domain route (`host:port`, port ≥ 1).
    public typealias NextHop = HostPort

    public struct Delivery: Sendable, Equatable {
        /// Seconds between attempts: the n-th retry waits `retryIntervals[n-1]`, the last value repeats.
        public var retryIntervals: [Int] = [300, 900, 1800, 3600, 7200, 14400]
        /// Seconds after arrival when a message still undelivered is returned (Postfix: 5 days).
        public var expire: Int = 5 * 86400
        /// Seconds after arrival when the sender is told the message is delayed; 0 = never.
        public var delayWarning: Int = 4 * 3600
        /// Outbound SMTP connections at once, over all destinations.
        public var maxConnections: Int = 20
        /// Outbound SMTP connections at once to one destination domain (or next hop).
        public var maxConnectionsPerDomain: Int = 4
        /// TCP port of MX hosts (25; tests use another).
        public var remotePort: Int = 25
        /// TLS towards MX hosts and per-domain routes.
        public var tls: OutboundTLS = .opportunistic
        /// More `Received:` header fields than this and the message is returned with 5.4.6 (a mail loop).
        public var hopLimit: Int = 30
        /// A copy of every non-delivery report goes to this address too; nil = none.
        public var bounceCopyTo: String?
        /// Octets of the original message returned in a non-delivery report; bigger ones return headers only.
        public var maxReturnedSize: Int = 262_144
        /// Where undeliverable reports go; nil = `<data_dir>/badmail`.
        public var badmailDirectory: String?
        /// Octets the Badmail directory may hold; the oldest entries are removed first. 0 keeps nothing.
        public var badmailMaxBytes: Int64 = 104_857_600
        /// Seconds between queue scans (new mail and CLI changes also wake the agent sooner).
        public var pollInterval: Int = 10
        /// Seconds allowed for a TCP connection to a remote server.
        public var connectTimeout: Int = 30
        /// Seconds to wait for a reply to a command (RFC 5321 §4.5.3.2: 5 minutes).
        public var commandTimeout: Int = 300
        /// Seconds to wait for the reply to the final dot (RFC 5321 §4.5.3.2.6: 10 minutes).
        public var dataTimeout: Int = 600
        /// Send all outbound mail through this host instead of MX lookups.
        public var smarthost: NextHop?
        public var smarthostUsername: String?
        public var smarthostPassword: String?
        public var smarthostTLS: OutboundTLS = .required
        /// Verify the smarthost's certificate (system trust store, name = smarthost host) when TLS is required.
        public var smarthostTLSVerify: Bool = true
        /// Per-domain next hops (like Postfix transport maps): lower-case domain → host:port. Checked before
        /// the smarthost and MX records.
        public var routes: [String: NextHop] = [:]
        /// RFC 5322 files dropped here are queued and removed (docs/DELIVERY.md#pickup-directory); nil = off.
        public var pickupDirectory: String?

        public init() {}

        /// The Badmail directory for a data directory.
        public func badmailPath(dataDirectory: String) -> String {
            if let badmailDirectory { return badmailDirectory }
            return dataDirectory.hasSuffix("/") ? dataDirectory + "badmail" : dataDirectory + "/badmail"
        }
    }
}
