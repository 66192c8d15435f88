/// The delivery agent: the scheduler that turns queue entries into SMTP deliveries.
///
/// A loop scans the queue for due entries (`QueueStore.dueQueueEntries`), groups them by destination
/// (a route or the smarthost, else the recipient domain) into batches within `maxConnections` in all and
/// `maxConnectionsPerDestination` per destination (MailQueue `DeliveryBatching`), claims exactly those
/// entries with a lease for this node (`QueueStore.claimQueueEntries`, owner = `nodeID`) and starts one
/// delivery task per batch that kept entries.
/// A task delivers its messages over one connection (reused: RSET between messages; all recipients of a
/// message at that destination in one transaction), then records the results with
/// `QueueStore.completeAttempt` — one durable transaction with the reports they produce; results of
/// attempts that complete while a commit is in flight share the next one (`ResultCommitter`).
/// The loop sleeps until the next entry is due, `pollInterval` passes, `wake()` is called (a message
/// was queued, a delivery finished) or the store rings (`QueueStore.queueWakeUps`: PostgreSQL `NOTIFY`
/// from another node).
///
/// Ownership of work is the lease in the store, not a set in memory: two agents, in one process or on two
/// nodes sharing a PostgreSQL database, never send the same entry while its lease runs. A renewal loop
/// extends the leases of every entry in flight each `leaseTiming.renewInterval`; results are recorded only
/// while the lease is held (`completeLeasedAttempts`), a lost lease is logged and its results dropped.
/// After a crash, the entries' leases run out and any node tries them again: delivery is at least once
/// (a node killed after the remote 250 and before the commit sends that message a second time).
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

    /// The entries this agent holds a lease on (claimed, results not recorded yet): what it renews.
    private var held: Set<Int64> = []
    private var activeTotal = 0
    private var activePerDestination: [String: Int] = [:]
    /// Scans done (for tests).
    public private(set) var scans = 0

    /// Work for one connection.
    typealias Batch = DeliveryBatch

    /// This node's id: the owner of its leases.
    var nodeID: String { configuration.nodeID }
    /// Lease length and renewal.
    var leaseTiming: QueueLeaseTiming { QueueLeaseTiming(duration: configuration.leaseDuration) }

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
        let owner = configuration.nodeID
        self.results = ResultCommitter(isShutdown: { Self.isShutdown($0) }) { attempts in
            try await store.completeLeasedAttempts(attempts, owner: owner, now: clock.now)
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
                "per_destination": "\(configuration.maxConnectionsPerDestination)",
                "node": "\(configuration.nodeID)", "lease": "\(configuration.leaseDuration.components.seconds)s"
            ])
        await releaseLeasesOfAnEarlierRun()
        let store = self.store
        let doorbell = self.doorbell
        await withDiscardingTaskGroup { group in
            // Other nodes' new work (PostgreSQL NOTIFY); a no-op stream elsewhere.
            group.addTask {
                for await _ in store.queueWakeUps() { doorbell.ring() }
            }
            group.addTask { await self.renewLoop() }
            while !Task.isCancelled {
                let (batches, wait) = await scan()
                for batch in batches {
                    group.addTask { await self.deliver(batch) }
                }
                await doorbell.wait(timeout: wait, clock: clock)
            }
            group.cancelAll()
        }
        await releaseHeldLeases()
        logger.info("delivery agent stopped")
    }

    /// On start: a node id kept across restarts (`<data_dir>/node-id`, or `[server] node_id`) may still own
    /// leases from a run that died without handing them back (kill -9, power loss). Nothing of this run
    /// is in flight yet, so they are released at once: a restarted single node resumes its queue now, not
    /// `lease_seconds` later. (Two live processes never share an id: the data directory is locked.)
    func releaseLeasesOfAnEarlierRun() async {
        let store = self.store
        let owner = nodeID
        let result: Result<Int, any Error> = await {
            do { return .success(try await store.releaseAllQueueLeases(owner: owner)) } catch { return .failure(error) }
        }()
        switch result {
        case .success(let count) where count > 0:
            logger.notice(
                "queue leases of an earlier run of this node released",
                metadata: ["node": "\(owner)", "entries": "\(count)"])
        case .success: break
        case .failure(let error) where Self.isShutdown(error):
            // Stopped before the first scan (SIGTERM at start-up): a normal stop. The leases stay with
            // this node's id and are released by the next start.
            logger.debug("release of an earlier run's queue leases cancelled (shutting down)")
        case .failure(let error):
            logger.error(
                "could not release the queue leases of an earlier run; they are taken again when they expire",
                metadata: ["node": "\(owner)", "error": "\(error)"])
        }
    }

    /// On stop: hands back the leases of entries whose transfers were cancelled, so another node (or this
    /// one after a restart) takes them at once instead of when the leases run out. Like an expired lease,
    /// a transfer cancelled after the remote 250 is sent again (docs/QUEUE.md "When a node dies").
    func releaseHeldLeases() async {
        let ids = held.sorted()
        guard !ids.isEmpty else { return }
        held.removeAll()
        let store = self.store
        let owner = nodeID
        // In a task of its own: this one is cancelled, and a store refuses a cancelled task's calls.
        let released = await Task { () -> Result<Int, any Error> in
            do { return .success(try await store.releaseQueueLeases(ids, owner: owner)) } catch { return .failure(error) }
        }.value
        switch released {
        case .success(let count):
            logger.info("queue leases released", metadata: ["node": "\(owner)", "entries": "\(count)"])
        case .failure(let error):
            logger.warning(
                "queue leases not released; they run out by themselves",
                metadata: ["node": "\(owner)", "entries": "\(ids.count)", "error": "\(error)"])
        }
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
        let planned: [Batch]
        let claimed: [QueueEntry]
        do {
            let due = try await store.dueQueueEntries(now: now, limit: 1000, excluding: [])
            let routes = configuration.routes
            planned = DeliveryBatching.plan(
                due, destinationKey: { routes.destinationKey(domain: $0.recipient.domain) },
                limits: DeliveryLimits(
                    maxConnections: configuration.maxConnections,
                    maxConnectionsPerDestination: configuration.maxConnectionsPerDestination,
                    maxMessagesPerConnection: configuration.maxMessagesPerConnection),
                activeTotal: activeTotal, activePerDestination: activePerDestination)
            let ids = planned.flatMap(\.entryIDs)
            guard !ids.isEmpty else { return ([], wait) }
            claimed = try await store.claimQueueEntries(
                QueueClaim(owner: nodeID, now: now, leaseUntil: leaseTiming.until(now), limit: ids.count, entryIDs: ids))
        } catch  where Self.isShutdown(error) {
            // SIGTERM cancels the agent's task; the store refuses new work with CancellationError.
            // That is a normal stop, not a failed scan.
            logger.debug("queue scan cancelled (shutting down)")
            return ([], wait)
        } catch {
            logger.error("queue scan failed", metadata: ["error": "\(error)"])
            return ([], wait)
        }
        let batches = DeliveryBatching.restrict(planned, to: claimed)
        let taken = planned.reduce(0) { $0 + $1.entryIDs.count } - claimed.count
        if taken > 0 {
            logger.debug("entries claimed by another node first", metadata: ["count": "\(taken)", "node": "\(nodeID)"])
        }
        for batch in batches {
            held.formUnion(batch.entryIDs)
            activeTotal += 1
            activePerDestination[batch.destination, default: 0] += 1
        }
        return (batches, wait)
    }

    /// Called when a batch is done: frees its slot and entries, and rings for the next scan.
    func finished(_ batch: Batch) {
        held.subtract(batch.entryIDs)
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

    /// Marks entries whose results were recorded (or whose lease was lost): no longer renewed.
    func settled(_ entryIDs: [Int64]) {
        held.subtract(entryIDs)
    }

    /// The entries this agent holds a lease on now (for tests).
    public var heldEntries: Set<Int64> { held }

    /// Renews the leases of every entry in flight, each `leaseTiming.renewInterval` until cancelled.
    func renewLoop() async {
        while !Task.isCancelled {
            do { try await clock.sleep(for: leaseTiming.renewInterval) } catch { return }
            await renewLeases()
        }
    }

    /// Extends the leases of the entries in flight; entries no longer ours are logged ("queue lease lost")
    /// and dropped: their results will not be recorded.
    public func renewLeases() async {
        let ids = held
        guard !ids.isEmpty else { return }
        let now = clock.now
        let renewed: Set<Int64>
        do {
            renewed = try await store.renewQueueLeases(Array(ids), owner: nodeID, now: now, leaseUntil: leaseTiming.until(now))
        } catch  where Self.isShutdown(error) {
            return
        } catch {
            logger.error("queue lease renewal failed", metadata: ["node": "\(nodeID)", "error": "\(error)"])
            return
        }
        // Entries settled while the renewal ran are not lost, just done.
        let lost = ids.subtracting(renewed).intersection(held)
        guard !lost.isEmpty else { return }
        held.subtract(lost)
        logger.warning(
            "queue lease lost",
            metadata: ["node": "\(nodeID)", "entries": "\(lost.sorted().map(String.init).joined(separator: ","))"])
    }
}
