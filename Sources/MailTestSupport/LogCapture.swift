/// Log capture for tests: a swift-log `LogHandler` that records every event (level, label, message,
/// metadata) so a test can assert on what the code under test reported.
///
///     let logs = CapturedLogs()
///     let logger = logs.logger()
///     ...
///     #expect(logs.all.contains { $0.hasPrefix("smtp auth failed") })
import Logging
import Synchronization

/// What a `CapturingLogHandler` recorded, in order.
public final class CapturedLogs: Sendable {
    /// One log event.
    public struct Entry: Sendable {
        public let level: Logger.Level
        public let label: String
        public let message: String
        public let metadata: Logger.Metadata

        /// "message key=value key=value" (keys sorted).
        public var text: String {
            ([message] + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }).joined(separator: " ")
        }
    }

    private let recorded = Mutex<[Entry]>([])

    public init() {}

    public func record(_ entry: Entry) { recorded.withLock { $0.append(entry) } }

    /// Every entry so far.
    public var entries: [Entry] { recorded.withLock { $0 } }
    /// Every entry as "message key=value …".
    public var all: [String] { entries.map(\.text) }
    /// Every entry as "level message key=value …".
    public var leveled: [String] { entries.map { "\($0.level) \($0.text)" } }

    /// A logger whose every handler records here.
    public func logger(label: String = "test") -> Logger {
        Logger(label: label) { label in CapturingLogHandler(sink: self, label: label) }
    }
}

/// The `LogHandler` that records into `CapturedLogs` (level `.trace` unless set).
public struct CapturingLogHandler: LogHandler {
    public let sink: CapturedLogs
    public let label: String
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init(sink: CapturedLogs, label: String = "test") {
        self.sink = sink
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        sink.record(.init(level: event.level, label: label, message: "\(event.message)", metadata: merged))
    }
}
