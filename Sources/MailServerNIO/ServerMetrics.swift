/// Server counters: every place that matters (accept, refuse, close, SMTP transaction, bytes read, POP3
/// login/retrieval, auth failure, store commit) calls one method here. Each call updates swift-metrics
/// instruments made by the injected `MetricsFactory` (Prometheus in production, no-op by default) and the
/// per-protocol connection counts that `/status` shows.
///
/// Metric names (Prometheus style; the label sets of one name never change):
/// - `petrel_connections_open{protocol}` gauge, `petrel_connections_total{protocol}` counter
/// - `petrel_connections_rejected_total{protocol,reason}` (`too_many_connections`, `too_many_from_ip`,
///   `denied`, `rate_limited`, `pregreet`, `invalid_recipients`; the last two end sessions already open)
/// - `petrel_smtp_transactions_total{protocol,class}` (`2xx`/`4xx`/`5xx` of the final reply, or `aborted`)
/// - `petrel_smtp_messages_accepted_total{protocol}`, `petrel_smtp_messages_rejected_total{protocol,class}`
/// - `petrel_bytes_received_total{protocol}`
/// - `petrel_pop3_logins_total{result}` (`success`/`failure`/`refused`), `petrel_pop3_retrievals_total`
/// - `petrel_imap_logins_total{result}` (`success`/`failure`/`refused`)
/// - `petrel_auth_failures_total{protocol}`
/// - `petrel_store_commit_seconds` histogram (time from handing a message to the store until it is durable)
import CoreMetrics
import Synchronization

public final class ServerMetrics: Sendable {
    /// Connection counts of one protocol, as `/status` shows them.
    public struct ConnectionCounts: Sendable, Equatable {
        public var open: Int
        public var total: Int
        public var rejected: Int
    }

    private let factory: any MetricsFactory
    private let counts = Mutex([MailProtocol: ConnectionCounts]())
    /// `petrel_connections_open` per protocol, made on first use (under `counts`' lock, where it is set).
    private let openGauges = Mutex([MailProtocol: Gauge]())
    private let storeCommit: CoreMetrics.Timer
    private let retrievals: Counter
    private let imapLogins = Mutex(LoginCounts())

    /// Metrics that go nowhere but still count connections for `/status`.
    public static func disabled() -> ServerMetrics { ServerMetrics(factory: NOOPMetricsHandler.instance) }

    public init(factory: any MetricsFactory) {
        self.factory = factory
        self.storeCommit = CoreMetrics.Timer(label: "petrel_store_commit_seconds", dimensions: [], factory: factory)
        self.retrievals = Counter(label: "petrel_pop3_retrievals_total", dimensions: [], factory: factory)
    }

    private func count(_ name: String, _ dimensions: [(String, String)], by amount: Int = 1) {
        Counter(label: name, dimensions: dimensions, factory: factory).increment(by: amount)
    }

    /// The counters every connection, read and transaction updates, each made on its first use and then
    /// kept: making one looks it up in the registry by name and labels (checking both, under the
    /// registry's lock, with a label array and strings built for the call), several times per message.
    /// The keys are few (protocols × reply classes).
    private enum Hot: Hashable {
        case connections(MailProtocol), bytes(MailProtocol), authFailures(MailProtocol), accepted(MailProtocol)
        /// `replyClass`: 2, 4, 5 (…) for "2xx", "4xx", "5xx"; 0 for "aborted".
        case transactions(MailProtocol, replyClass: Int), rejected(MailProtocol, replyClass: Int)

        var name: String {
            switch self {
            case .connections: "petrel_connections_total"
            case .bytes: "petrel_bytes_received_total"
            case .authFailures: "petrel_auth_failures_total"
            case .accepted: "petrel_smtp_messages_accepted_total"
            case .transactions: "petrel_smtp_transactions_total"
            case .rejected: "petrel_smtp_messages_rejected_total"
            }
        }

        var dimensions: [(String, String)] {
            switch self {
            case .connections(let kind), .bytes(let kind), .authFailures(let kind), .accepted(let kind):
                [("protocol", kind.rawValue)]
            case .transactions(let kind, let replyClass), .rejected(let kind, let replyClass):
                [("protocol", kind.rawValue), ("class", replyClass == 0 ? "aborted" : "\(replyClass)xx")]
            }
        }
    }

    private let hot = Mutex([Hot: Counter]())

    private func count(_ key: Hot, by amount: Int = 1) {
        let counter = hot.withLock { made in
            if let counter = made[key] { return counter }
            let counter = Counter(label: key.name, dimensions: key.dimensions, factory: factory)
            made[key] = counter
            return counter
        }
        counter.increment(by: amount)
    }

    // MARK: - Connections

    public func connectionOpened(_ kind: MailProtocol) {
        count(.connections(kind))
        updateOpen(kind) {
            $0.open += 1; $0.total += 1
        }
    }

    public func connectionClosed(_ kind: MailProtocol) {
        updateOpen(kind) { $0.open = max(0, $0.open - 1) }
    }

    public func connectionRejected(_ kind: MailProtocol, reason: ConnectionTracker.Refusal) {
        count("petrel_connections_rejected_total", [("protocol", kind.rawValue), ("reason", reason.label)])
        updateOpen(kind) { $0.rejected += 1 }
    }

    private func updateOpen(_ kind: MailProtocol, _ change: (inout ConnectionCounts) -> Void) {
        counts.withLock { all in
            var c = all[kind] ?? ConnectionCounts(open: 0, total: 0, rejected: 0)
            change(&c)
            all[kind] = c
            // Recorded under the lock so concurrent changes cannot leave a stale value behind.
            openGauge(kind).record(c.open)
        }
    }

    private func openGauge(_ kind: MailProtocol) -> Gauge {
        openGauges.withLock { made in
            if let gauge = made[kind] { return gauge }
            let gauge = Gauge(label: "petrel_connections_open", dimensions: [("protocol", kind.rawValue)], factory: factory)
            made[kind] = gauge
            return gauge
        }
    }

    /// Open/total/rejected connections per protocol since start.
    public var connectionCounts: [MailProtocol: ConnectionCounts] { counts.withLock { $0 } }

    // MARK: - SMTP

    /// One ended SMTP transaction: `stored` with a 2xx reply is an accepted message; a 4xx/5xx final reply
    /// a rejected one; a 2xx reply without a stored message (RSET, a new MAIL) counts as class `aborted`.
    public func smtpTransaction(_ kind: MailProtocol, replyCode: Int, stored: Bool) {
        let replyClass = replyCode / 100
        if replyClass == 2 {
            count(.transactions(kind, replyClass: stored ? replyClass : 0))
            if stored { count(.accepted(kind)) }
        } else {
            count(.transactions(kind, replyClass: replyClass))
            count(.rejected(kind, replyClass: replyClass))
        }
    }

    public func bytesReceived(_ kind: MailProtocol, _ n: Int) {
        count(.bytes(kind), by: n)
    }

    public func authFailure(_ kind: MailProtocol) {
        count(.authFailures(kind))
    }

    /// Time the store took to make one message durable.
    public func storeCommit(nanoseconds: Int64) {
        storeCommit.recordNanoseconds(nanoseconds)
    }

    // MARK: - POP3

    public enum LoginResult: String, Sendable { case success, failure, refused }

    public func pop3Login(_ result: LoginResult) {
        count("petrel_pop3_logins_total", [("result", result.rawValue)])
    }

    public func pop3Retrieval() { retrievals.increment() }

    // MARK: - IMAP

    public func imapLogin(_ result: LoginResult) {
        count("petrel_imap_logins_total", [("result", result.rawValue)])
        imapLogins.withLock { counts in
            switch result {
            case .success: counts.success += 1
            case .failure: counts.failure += 1
            case .refused: counts.refused += 1
            }
        }
    }

    /// IMAP logins since start, as `/status` shows them.
    public struct LoginCounts: Sendable, Equatable {
        public var success = 0
        public var failure = 0
        public var refused = 0
    }

    public var imapLoginCounts: LoginCounts { imapLogins.withLock { $0 } }
}

extension SMTPServerContext {
    /// Which SMTP listener kind this context serves.
    var protocolKind: MailProtocol {
        if configuration.implicitTLS { return .submissions }
        return configuration.isSubmission ? .submission : .smtp
    }
}

extension POP3ServerContext {
    var protocolKind: MailProtocol { configuration.implicitTLS ? .pop3s : .pop3 }
}
