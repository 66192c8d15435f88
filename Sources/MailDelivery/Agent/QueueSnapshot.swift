/// The queue counts of the agent's last scan, readable from any thread without waiting for the store
/// (`/status`, `petrel status`).
import MailStore
import Synchronization

public final class QueueSnapshot: Sendable {
    private let value = Mutex<QueueSummary?>(nil)

    public init() {}

    /// nil until the first scan.
    public var summary: QueueSummary? { value.withLock { $0 } }

    func update(_ summary: QueueSummary) { value.withLock { $0 = summary } }
}
