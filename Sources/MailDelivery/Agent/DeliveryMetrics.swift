/// Outbound counters (swift-metrics; Prometheus in production, no-op by default):
/// - `petrel_delivery_attempts_total{result}`: per recipient, `delivered` / `deferred` / `bounced` / `expired`
/// - `petrel_dsn_sent_total{kind}`: reports queued, `failure` / `delay` / `success`
/// - `petrel_badmail_entries_total`, `petrel_badmail_bytes` (gauge: size of the directory after a write)
/// - `petrel_queue_entries{state}` (gauge: `new` / `deferred` / `held`, refreshed at every scan)
import CoreMetrics
import MailStore

public struct DeliveryMetrics: Sendable {
    private let factory: any MetricsFactory

    public init(factory: any MetricsFactory) { self.factory = factory }

    public static func disabled() -> DeliveryMetrics { DeliveryMetrics(factory: NOOPMetricsHandler.instance) }

    func attempt(result: String) {
        Counter(label: "petrel_delivery_attempts_total", dimensions: [("result", result)], factory: factory).increment()
    }

    func reportQueued(kind: String) {
        Counter(label: "petrel_dsn_sent_total", dimensions: [("kind", kind)], factory: factory).increment()
    }

    func badmailStored(totalBytes: Int64?) {
        Counter(label: "petrel_badmail_entries_total", dimensions: [], factory: factory).increment()
        if let totalBytes {
            Gauge(label: "petrel_badmail_bytes", dimensions: [], factory: factory).record(Double(totalBytes))
        }
    }

    func queue(_ summary: QueueSummary) {
        Gauge(label: "petrel_queue_entries", dimensions: [("state", "new")], factory: factory).record(Double(summary.new))
        Gauge(label: "petrel_queue_entries", dimensions: [("state", "deferred")], factory: factory).record(Double(summary.deferred))
        Gauge(label: "petrel_queue_entries", dimensions: [("state", "held")], factory: factory).record(Double(summary.held))
    }
}
