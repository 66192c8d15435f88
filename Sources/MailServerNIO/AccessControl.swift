/// The live relay and connection rules of a running server: the configured lists (`[relay]`,
/// `[smtp] connection_allow/deny`) merged with the lists in the data directory (`petrel relay …`,
/// `petrel access …`, RelayDirectory.swift) by MailPolicy's `AccessLists.merge`, plus the per-IP
/// connection-rate table. SMTP RCPT, the pickup directory and delivery reports read the relay rules here.
///
/// Reads never wait: listeners and sessions take the current snapshot under a lock. A background loop
/// (`runRefreshing`, run by the server as a ServiceLifecycle service) re-reads the data directory every `refreshInterval` (2 s by default), so a CLI
/// change applies to new connections and new RCPTs within about two seconds, without a restart.
/// A store entry that does not parse (written by hand or by a newer version) is skipped and logged once;
/// if the store cannot be read, the previous snapshot stays.
import Logging
import MailCore
import MailPolicy
import MailStore
import Synchronization

public final class AccessControl: Sendable {
    /// What the rules say right now.
    public struct Snapshot: Sendable, Equatable {
        public var relay: RelayRules
        public var connections: ConnectionRules
    }

    public let configuredRelay: RelayRules
    public let configuredConnections: ConnectionRules
    private let store: (any RelayDirectory)?
    private let state: Mutex<Snapshot>
    private let rates: Mutex<ConnectionRateTable>
    private let reported = Mutex<Set<String>>([])
    private let logger: Logger
    public let refreshInterval: Duration
    /// The refresh loop's sleep (`WallClock` in the server, a manual clock in tests).
    let clock: any MailClock

    /// `maxConnectionRatePerIP` new connections per client IP per minute (0: unlimited).
    public init(
        relay: RelayRules, connections: ConnectionRules = .open, store: (any RelayDirectory)?,
        maxConnectionRatePerIP: Int = 0, refreshInterval: Duration = .seconds(2),
        logger: Logger = Logger(label: "petrel.access"), clock: any MailClock = WallClock()
    ) {
        self.configuredRelay = relay
        self.configuredConnections = connections
        self.store = store
        self.state = Mutex(Snapshot(relay: relay, connections: connections))
        self.rates = Mutex(ConnectionRateTable(limit: maxConnectionRatePerIP))
        self.refreshInterval = refreshInterval
        self.logger = logger
        self.clock = clock
    }

    public var snapshot: Snapshot { state.withLock { $0 } }
    public var relayRules: RelayRules { state.withLock { $0.relay } }

    /// Re-reads the data directory's lists and merges them with the configured ones.
    public func refresh() async {
        guard let store else { return }
        let entries: [AccessEntry]
        do {
            entries = try await store.accessEntries()
        } catch {
            logger.warning("cannot read the access lists; keeping the previous rules", metadata: ["error": "\(error)"])
            return
        }
        let merged = Self.merge(relay: configuredRelay, connections: configuredConnections, entries: entries) { bad, reason in
            let key = "\(bad.list):\(bad.value)"
            if reported.withLock({ $0.insert(key).inserted }) {
                logger.warning(
                    "ignoring invalid access list entry", metadata: ["list": "\(bad.list)", "value": "\(bad.value)", "reason": "\(reason)"])
            }
        }
        let changed = state.withLock { current -> Bool in
            defer { current = merged }
            return current != merged
        }
        if changed { logger.info("access lists updated", metadata: ["entries": "\(entries.count)"]) }
    }

    /// Configured rules plus the store's entries (MailPolicy `AccessLists.merge`: duplicates dropped,
    /// invalid entries reported and skipped).
    public static func merge(
        relay: RelayRules, connections: ConnectionRules, entries: [AccessEntry],
        invalid: (AccessEntry, String) -> Void = { _, _ in }
    ) -> Snapshot {
        let (relay, connections) = AccessLists.merge(relay: relay, connections: connections, entries: entries, invalid: invalid)
        return Snapshot(relay: relay, connections: connections)
    }

    /// Refreshes now and then every `refreshInterval` of `clock`'s time until the task is cancelled.
    public func runRefreshing() async {
        while !Task.isCancelled {
            await refresh()
            do { try await clock.sleep(for: refreshInterval) } catch { return }
        }
    }

    /// `runRefreshing` in a task of its own (for tests and one-off users; the server runs it as a service).
    public func startRefreshing() -> Task<Void, Never> {
        Task { [self] in await runRefreshing() }
    }

    /// The greeting-time screen of an SMTP client: connection control first (deny wins; a non-empty allow
    /// list admits only its members), then the per-minute rate (only admitted clients are counted).
    /// `now` in nanoseconds (a time going backwards starts the client's window again).
    public func screen(_ ip: IPAddress?, now: UInt64) -> ConnectionTracker.Refusal? {
        switch ConnectionAccess.decide(ip, rules: state.withLock { $0.connections }) {
        case .denied, .notAllowed: return .denied
        case .accept: break
        }
        guard let ip else { return nil }
        return rates.withLock { $0.record(ip, now: now) } ? nil : .rateLimited
    }

    /// `screen(_:now:)` at the injected clock's time (what the SMTP listener calls).
    public func screen(_ ip: IPAddress?) -> ConnectionTracker.Refusal? {
        screen(ip, now: UInt64(max(0, clock.now.timeIntervalSince1970 * 1_000_000_000)))
    }
}
