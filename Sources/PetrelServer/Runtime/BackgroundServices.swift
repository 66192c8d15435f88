/// The server's background loops as swift-service-lifecycle services: the access-rule refresh, the
/// delivery agent and the pickup-directory watcher. `MailServer.start` runs them in one ServiceGroup once
/// the listeners are open; `MailServer.shutdown` stops the group after the listeners and connections.
/// A ServiceGroup stops its services in reverse order, one after the other, so the order of
/// `BackgroundServices.init` gives the shutdown order: pickup first, then the delivery agent (its
/// in-flight deliveries are cancelled and their entries stay queued), then the access refresh — and only
/// then does `shutdown` close the store. Each loop sleeps on the injected `MailClock` or its doorbell.
import Logging
import MailDelivery
import MailServerNIO
import ServiceLifecycle

/// Re-reads the data directory's relay and connection lists (`AccessControl.runRefreshing`).
struct AccessRefreshService: Service, CustomStringConvertible {
    let access: AccessControl
    var description: String { "AccessRefresh" }
    func run() async {
        await cancelWhenGracefulShutdown { await access.runRefreshing() }
    }
}

/// Delivers the outbound queue (`DeliveryAgent.run`).
struct DeliveryAgentService: Service, CustomStringConvertible {
    let agent: DeliveryAgent
    var description: String { "DeliveryAgent" }
    func run() async {
        await cancelWhenGracefulShutdown { await agent.run() }
    }
}

/// Watches `delivery.pickup_dir` (`PickupDirectory.run`).
struct PickupService: Service, CustomStringConvertible {
    let pickup: PickupDirectory
    var description: String { "Pickup" }
    func run() async {
        await cancelWhenGracefulShutdown { await pickup.run() }
    }
}

/// The ServiceGroup of the background services and the task running it.
final class BackgroundServices: Sendable {
    private let group: ServiceGroup
    private let task: Task<Void, Never>
    /// Finishes when the group has stopped.
    private let finished: AsyncStream<Void>

    /// Starts the server's services: the access refresh, the agent, the pickup watcher (stopped in the
    /// reverse order).
    convenience init(access: AccessControl, agent: DeliveryAgent, pickup: PickupDirectory?, logger: Logger) {
        var services: [any Service] = [AccessRefreshService(access: access), DeliveryAgentService(agent: agent)]
        if let pickup { services.append(PickupService(pickup: pickup)) }
        self.init(services: services, logger: logger)
    }

    /// Starts `services`; they stop in the reverse of this order.
    init(services: [any Service], logger: Logger) {
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
        let (finished, done) = AsyncStream<Void>.makeStream()
        self.group = group
        self.finished = finished
        // Detached: a plain Task would inherit the caller's task-locals, and under PetrelService that
        // includes its graceful-shutdown handler, so SIGTERM would stop these services at once, before
        // the listeners close. Only `stop` shuts this group down.
        self.task = Task.detached {
            do { try await group.run() } catch { logger.error("background services failed", metadata: ["error": "\(error)"]) }
            done.finish()
        }
    }

    /// Stops the services in order and waits for them, at most `deadline`; returns whether they all
    /// stopped. Call once. Work still running after the deadline is cancelled and not waited for.
    @discardableResult
    func stop(deadline: Duration) async -> Bool {
        await group.triggerGracefulShutdown()
        let finished = self.finished
        let stoppedInTime = await withTaskGroup(of: Bool.self) { waiters in
            waiters.addTask {
                for await _ in finished {}
                return !Task.isCancelled
            }
            waiters.addTask {
                do { try await Task.sleep(for: deadline) } catch {}
                return false
            }
            let first = await waiters.next() ?? false
            waiters.cancelAll()
            return first
        }
        if !stoppedInTime { task.cancel() }
        return stoppedInTime
    }
}
