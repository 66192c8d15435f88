/// The operational side of a running `MailServer`: its Prometheus registry and `ServerMetrics`, the admin
/// HTTP endpoint (`/metrics`, `/status`) and the start time. Each server has its own registry, so several
/// servers in one process (tests) never mix their numbers.
import Foundation
import MailCore
import MailDelivery
import MailServerNIO
import NIOCore
import Prometheus
import Synchronization

public final class ServerOperations: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let metrics: ServerMetrics
    public let startedAt: Date
    /// The server's clock (`/status`'s `now` and uptime).
    let clock: any MailClock
    private let admin = Mutex<AdminServer.Bound?>(nil)

    public init(clock: any MailClock = WallClock()) {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        self.metrics = ServerMetrics(factory: PrometheusMetricsFactory(registry: registry))
        self.startedAt = clock.now
        self.clock = clock
    }

    /// The admin endpoint's actual address, if it listens.
    public var adminAddress: ListenAddress? { admin.withLock { $0?.localAddress } }

    /// Binds the admin endpoint; `/status` reports `listeners` and the connection counts.
    func bindAdmin(
        _ address: ListenAddress, hostname: String, listeners: [BoundListener], queue: QueueSnapshot,
        group: any EventLoopGroup
    ) async throws {
        let registry = self.registry
        let metrics = self.metrics
        let startedAt = self.startedAt
        let clock = self.clock
        let routes = AdminServer.Routes(
            metrics: { registry.emitToString() },
            status: {
                StatusReport.make(
                    hostname: hostname, startedAt: startedAt, now: clock.now, listeners: listeners,
                    admin: self.adminAddress, metrics: metrics, queue: queue.summary)
            })
        let bound = try await AdminServer.bind(address, routes: routes, group: group)
        admin.withLock { $0 = bound }
    }

    func closeAdmin() async {
        let bound = admin.withLock { value -> AdminServer.Bound? in
            defer { value = nil }
            return value
        }
        try? await bound?.channel.close()
    }
}
