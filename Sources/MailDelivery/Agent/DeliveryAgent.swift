/// The delivery agent: the scheduler that turns queue entries into SMTP deliveries.
///
/// A loop scans the queue for due entries (`QueueStore.dueQueueEntries`), groups them by destination
/// (a route or the smarthost, else the recipient domain), and starts one delivery task per group and
/// connection slot, within `maxConnections` in all and `maxConnectionsPerDestination` per destination.
/// A task delivers its messages over one connection (reused: RSET between messages; all recipients of a
/// message at that destination in one transaction), then records the results with
/// `QueueStore.completeAttempt` — one durable transaction with the reports they produce; results of
/// attempts that complete while a commit is in flight share the next one (`ResultCommitter`).
/// The loop sleeps until the next entry is due, `pollInterval` passes, or `wake()` is called (a message
/// was queued, a delivery finished).
///
/// Entries being worked on are kept in memory (`inFlight`) so two tasks never take the same entry; one
/// Petrel process owns a queue. After a crash, entries whose results were not recorded are simply due
/// again: delivery is at least once.
///
/// Blocking work never runs on the actor: Badmail writes (fsync, rename, flock), the Badmail size scan
/// and report rendering run on `blockingPool` (a NIOThreadPool), so one slow disk write does not stall
/// the scheduler and the other deliveries.
///
/// Attempts: DeliveryAgent+Attempt.swift. Reports and Badmail: DeliveryAgent+Reports.swift.
import Foundation
import Logging
import MailCore
import MailDNS
import MailQueue
import MailStore
import NIOCore
import NIOPosix

public actor DeliveryAgent {
    let store: any MailStore
    let configuration: DeliveryAgentConfiguration
    let resolver: any DNSResolver
    let group: any EventLoopGroup
    let logger: Logger
    let metrics: DeliveryMetrics
    /// Queue times and the scan loop's sleep (`WallClock` in the server, a manual clock in tests).
    let clock: any MailClock
    /// Where blocking file work and report rendering run (never on the actor).
    let blockingPool: NIOThreadPool
    /// Results of attempts completed close together share one store commit.
    let results: ResultCommitter
    nonisolated let doorbell = Doorbell()
    /// The queue counts of the last scan.
    public nonisolated let snapshot = QueueSnapshot()

    private var inFlight: Set<Int64> = []
    private var activeTotal = 0
    private var activePerDestination: [String: Int] = [:]
    /// Scans done (for tests).
    public private(set) var scans = 0

    /// Work for one connection.
    struct Batch: Sendable {
        var destination: String
        /// The routing domain of the first entry (all entries share the next hop).
        var domain: String
        /// Entries grouped by message, in queue order.
        var messages: [[QueueEntry]]
        var entryIDs: [Int64] { messages.flatMap { $0.map(\.id) } }
    }

    public init(
        store: any MailStore, configuration: DeliveryAgentConfiguration, resolver: any DNSResolver,
        group: any EventLoopGroup, logger: Logger, metrics: DeliveryMetrics = .disabled(),
        clock: any MailClock = WallClock(), blockingPool: NIOThreadPool = .singleton
    ) {
        self.store = store
        self.configuration = configuration
        self.resolver = resolver
        self.group = group
        self.logger = logger
        self.metrics = metrics
        self.clock = clock
        self.blockingPool = blockingPool
        self.results = ResultCommitter(isShutdown: { Self.isShutdown($0) }) { updates, notifications in
            _ = try await store.completeAttempt(updates, notifications: notifications)
        }
    }

    /// Asks the agent to scan the queue now.
    public nonisolated func wake() { doorbell.ring() }

    /// Runs until the task is cancelled; deliveries in progress are cancelled with it (their entries stay
    /// queued and are tried again after a restart).
    public func run() async {
        logger.info(
            "delivery agent started",
            metadata: [
                "max_connections": "\(configuration.maxConnections)",
                "per_destination": "\(configuration.maxConnectionsPerDestination)"
            ])
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                let (batches, wait) = await scan()
                for batch in batches {
                    group.addTask { await self.deliver(batch) }
                }
                await doorbell.wait(timeout: wait, clock: clock)
            }
        }
        logger.info("delivery agent stopped")
    }

    /// Runs one scan and waits for the deliveries it started (for tests and `petrel queue flush`-like use).
    /// Returns the number of entries that were attempted.
    @discardableResult
    public func runOnce() async -> Int {
        let (batches, _) = await scan()
        await withDiscardingTaskGroup { group in
            for batch in batches {
                group.addTask { await self.deliver(batch) }
            }
        }
        return batches.reduce(0) { $0 + $1.entryIDs.count }
    }

    /// Reads the queue counts into `snapshot` and the metrics now (at start, so `/status` has them at once).
    public func refreshSnapshot() async {
        do {
            let summary = try await store.queueSummary(now: clock.now)
            metrics.queue(summary)
            snapshot.update(summary)
        } catch {
            logger.error("queue summary failed", metadata: ["error": "\(error)"])
        }
    }

    /// Picks due entries within the connection limits; returns the batches to start and how long to sleep.
    func scan() async -> ([Batch], Duration) {
        scans += 1
        let now = clock.now
        var wait = configuration.pollInterval
        do {
            let summary = try await store.queueSummary(now: now)
            metrics.queue(summary)
            snapshot.update(summary)
            if let next = summary.nextDue, next > now {
                let seconds = next.timeIntervalSince(now)
                if seconds < Double(wait.components.seconds) { wait = .milliseconds(Int64(seconds * 1000) + 10) }
            }
        } catch  where Self.isShutdown(error) {
            logger.debug("queue scan cancelled (shutting down)")
            return ([], wait)
        } catch {
            logger.error("queue summary failed", metadata: ["error": "\(error)"])
        }
        guard activeTotal < configuration.maxConnections else { return ([], wait) }
        let due: [QueueEntry]
        do {
            due = try await store.dueQueueEntries(now: now, limit: 1000, excluding: inFlight)
        } catch  where Self.isShutdown(error) {
            // SIGTERM cancels the agent's task; the store refuses new work with CancellationError.
            // That is a normal stop, not a failed scan.
            logger.debug("queue scan cancelled (shutting down)")
            return ([], wait)
        } catch {
            logger.error("queue scan failed", metadata: ["error": "\(error)"])
            return ([], wait)
        }
        var batches: [Batch] = []
        for (destination, entries) in Self.group(due, by: { configuration.routes.destinationKey(domain: $0.recipient.domain) }) {
            let messages = Self.group(entries, by: \.messageID).map(\.1)
            var start = 0
            while start < messages.count {
                let perDestination = activePerDestination[destination, default: 0]
                guard perDestination < configuration.maxConnectionsPerDestination,
                    activeTotal < configuration.maxConnections
                else { break }
                let end = min(messages.count, start + configuration.maxMessagesPerConnection)
                let batch = Batch(
                    destination: destination, domain: entries[0].recipient.domain,
                    messages: Array(messages[start..<end]))
                inFlight.formUnion(batch.entryIDs)
                activeTotal += 1
                activePerDestination[destination] = perDestination + 1
                batches.append(batch)
                start = end
            }
        }
        return (batches, wait)
    }

    /// Called when a batch is done: frees its slot and entries, and rings for the next scan.
    func finished(_ batch: Batch) {
        inFlight.subtract(batch.entryIDs)
        activeTotal = max(0, activeTotal - 1)
        let left = (activePerDestination[batch.destination] ?? 1) - 1
        activePerDestination[batch.destination] = left > 0 ? left : nil
        doorbell.ring()
    }

    /// True for the error a store call throws because the agent's task was cancelled (shutdown):
    /// `CancellationError`, or any error once the task is cancelled.
    static func isShutdown(_ error: any Error) -> Bool {
        error is CancellationError || Task.isCancelled
    }

    /// Groups keeping the order of first appearance.
    static func group<Key: Hashable>(_ entries: [QueueEntry], by key: (QueueEntry) -> Key) -> [(Key, [QueueEntry])] {
        var order: [Key] = []
        var groups: [Key: [QueueEntry]] = [:]
        for entry in entries {
            let k = key(entry)
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append(entry)
        }
        return order.map { ($0, groups[$0] ?? []) }
    }
}
