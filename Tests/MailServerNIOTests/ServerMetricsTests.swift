import CoreMetrics
import MailServerNIO
import Synchronization
import Testing

/// `ServerMetrics` keeps the counters it updates per connection, read and transaction after their first
/// use: the same series get the same totals as before, each made once.
@Suite struct ServerMetricsTests {
    /// A factory that records what each counter was made for and what it was given.
    final class Recording: MetricsFactory, Sendable {
        final class Count: CounterHandler, Sendable {
            let total = Mutex(Int64(0))
            func increment(by amount: Int64) { total.withLock { $0 += amount } }
            func reset() { total.withLock { $0 = 0 } }
        }
        final class Value: RecorderHandler, Sendable {
            let last = Mutex(0.0)
            func record(_ value: Int64) { last.withLock { $0 = Double(value) } }
            func record(_ value: Double) { last.withLock { $0 = value } }
        }
        final class Span: TimerHandler, Sendable {
            func recordNanoseconds(_ duration: Int64) {}
        }
        /// "name{k=v,…}" → the handlers made for it (one each when the counter is kept).
        let counters = Mutex([String: [Count]]())
        let gauges = Mutex([String: [Value]]())

        static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
            label + "{" + dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
        }
        func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
            let count = Count()
            counters.withLock { $0[Self.key(label, dimensions), default: []].append(count) }
            return count
        }
        func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
            let value = Value()
            gauges.withLock { $0[Self.key(label, dimensions), default: []].append(value) }
            return value
        }
        func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Span() }
        func destroyCounter(_ handler: any CounterHandler) {}
        func destroyRecorder(_ handler: any RecorderHandler) {}
        func destroyTimer(_ handler: any TimerHandler) {}

        func total(_ key: String) -> Int64 {
            counters.withLock { $0[key, default: []].reduce(0) { $0 + $1.total.withLock { $0 } } }
        }
        func made(_ key: String) -> Int { counters.withLock { $0[key]?.count ?? 0 } }
    }

    @Test func keptCountersCountWhatTheyCountedBefore() {
        let factory = Recording()
        let metrics = ServerMetrics(factory: factory)
        for _ in 0..<3 {
            metrics.connectionOpened(.smtp)
            metrics.bytesReceived(.smtp, 100)
            metrics.smtpTransaction(.smtp, replyCode: 250, stored: true)
        }
        metrics.smtpTransaction(.smtp, replyCode: 250, stored: false)
        metrics.smtpTransaction(.submission, replyCode: 550, stored: false)
        metrics.smtpTransaction(.submission, replyCode: 451, stored: false)
        metrics.authFailure(.submission)
        metrics.authFailure(.submission)
        metrics.connectionClosed(.smtp)

        #expect(factory.total("petrel_connections_total{protocol=smtp}") == 3)
        #expect(factory.total("petrel_bytes_received_total{protocol=smtp}") == 300)
        #expect(factory.total("petrel_smtp_transactions_total{protocol=smtp,class=2xx}") == 3)
        #expect(factory.total("petrel_smtp_messages_accepted_total{protocol=smtp}") == 3)
        #expect(factory.total("petrel_smtp_transactions_total{protocol=smtp,class=aborted}") == 1)
        #expect(factory.total("petrel_smtp_transactions_total{protocol=submission,class=5xx}") == 1)
        #expect(factory.total("petrel_smtp_messages_rejected_total{protocol=submission,class=5xx}") == 1)
        #expect(factory.total("petrel_smtp_transactions_total{protocol=submission,class=4xx}") == 1)
        #expect(factory.total("petrel_smtp_messages_rejected_total{protocol=submission,class=4xx}") == 1)
        #expect(factory.total("petrel_auth_failures_total{protocol=submission}") == 2)
        // Nothing counted for what did not happen, and every series made once.
        #expect(factory.made("petrel_smtp_messages_accepted_total{protocol=submission}") == 0)
        #expect(factory.counters.withLock { $0.values.allSatisfy { $0.count == 1 } })
        let gauges = factory.gauges.withLock { $0 }
        #expect(gauges["petrel_connections_open{protocol=smtp}"]?.count == 1)
        #expect(gauges["petrel_connections_open{protocol=smtp}"]?.first?.last.withLock { $0 } == 2)
        let counts = metrics.connectionCounts[.smtp]
        #expect(counts?.open == 2 && counts?.total == 3 && counts?.rejected == 0)
    }
}
