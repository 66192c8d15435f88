/// The server's long-running jobs as swift-service-lifecycle services of the one ServiceGroup that
/// `petrel serve` runs (`PetrelService.runUntilSignalled`): the access-rule refresh, the delivery agent
/// and the pickup-directory watcher, listed before `PetrelService`. A ServiceGroup shuts its services
/// down in reverse order, each after the one behind it has returned, so SIGTERM/SIGINT stops them in
/// this order: `PetrelService` (the listeners stop accepting, the sessions drain), then the pickup
/// watcher, then the delivery agent (its in-flight deliveries are cancelled and their entries stay
/// queued), then the access refresh; then `runUntilSignalled` closes the store, the pools and the event
/// loops. Each job waits for the server `PetrelService` starts (`StartedServer`), so none runs before the
/// listeners are open, and sleeps on the injected `MailClock` or its doorbell.
import Logging
import MailDelivery
import MailServerNIO
import ServiceLifecycle
import Synchronization

/// The server `PetrelService` started, for the services of the same group. `wait` returns it once it is
/// there, or nil when the start failed or the waiting task was cancelled.
final class StartedServer: Sendable {
    private struct State {
        var server: MailServer?
        var settled = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<MailServer?, Never>] = [:]
    }

    private let state = Mutex(State())

    /// The started server (nil before the start, or when it failed).
    var current: MailServer? { state.withLock { $0.server } }

    /// Publishes the outcome of the start (nil: it failed); once.
    func settle(_ server: MailServer?) {
        let waiters = state.withLock { s -> [CheckedContinuation<MailServer?, Never>] in
            guard !s.settled else { return [] }
            s.settled = true
            s.server = server
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: server) }
    }

    func wait() async -> MailServer? {
        let id = state.withLock { s -> Int in
            s.nextID += 1
            return s.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<MailServer?, Never>) in
                let now: MailServer?? = state.withLock { s in
                    if s.settled { return .some(s.server) }
                    if Task.isCancelled { return .some(nil) }
                    s.waiters[id] = continuation
                    return .none
                }
                if case .some(let server) = now { continuation.resume(returning: server) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: nil)
        }
    }
}

/// One of the server's background jobs: it waits for the started server, then runs its loop until the
/// group's graceful shutdown reaches it (the loop is cancelled then and returns).
struct BackgroundJob: Service, CustomStringConvertible {
    enum Kind: String, Sendable {
        /// Re-reads the data directory's relay and connection lists (`AccessControl.runRefreshing`).
        case accessRefresh = "AccessRefresh"
        /// Delivers the outbound queue (`DeliveryAgent.run`).
        case deliveryAgent = "DeliveryAgent"
        /// Watches `delivery.pickup_dir` (`PickupDirectory.run`).
        case pickup = "Pickup"
    }

    let kind: Kind
    let started: StartedServer
    var description: String { kind.rawValue }

    func run() async {
        await cancelWhenGracefulShutdown {
            guard let server = await started.wait() else {
                // The start failed: PetrelService throws its error, and the group, failing on it, cancels
                // this job. Returning now would race it, and a job that returns first makes the group fail
                // with "service finished unexpectedly" instead of the reason (a wrong store password).
                try? await gracefulShutdown()
                return
            }
            switch kind {
            case .accessRefresh: await server.access.runRefreshing()
            case .deliveryAgent: await server.deliveryAgent.run()
            case .pickup: await server.pickup?.run()
            }
        }
    }

    /// The jobs of a server with this configuration, in the order the group lists them (before
    /// `PetrelService`): it stops them in the reverse order.
    static func jobs(_ configuration: PetrelConfiguration, started: StartedServer) -> [BackgroundJob] {
        var kinds: [Kind] = [.accessRefresh, .deliveryAgent]
        if configuration.delivery.pickupDirectory != nil { kinds.append(.pickup) }
        return kinds.map { BackgroundJob(kind: $0, started: started) }
    }
}
