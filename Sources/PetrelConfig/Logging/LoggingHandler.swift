import Foundation
import Logging
import MailCore
import Synchronization

/// `PetrelLogHandler`: a swift-log `LogHandler` that writes ONE line per event (formatted by
/// LoggingFormat.swift) to standard error, or to an injected sink in tests. Lines are written with a
/// single locked `write(2)` loop so concurrent events never interleave.
///
/// Callers must never log passwords, secrets, AUTH payloads or message bodies: the handler cannot know
/// what a value means and writes everything it is given.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

public struct PetrelLogHandler: LogHandler {
    /// Receives each formatted line, without the trailing newline.
    public typealias Sink = @Sendable (String) -> Void

    /// The handler's level: one set on this logger wins, else the live process-wide level from
    /// `levelControl` (changed by SIGHUP reloads), else the level it was made with.
    public var logLevel: Logger.Level {
        get { pinnedLevel ?? levelControl?.level ?? initialLevel }
        set { pinnedLevel = newValue }
    }
    private let initialLevel: Logger.Level
    private var pinnedLevel: Logger.Level?
    private let levelControl: LogLevelControl?
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public let label: String
    public let format: PetrelConfiguration.Log.Format
    private let sink: Sink
    /// The lines' timestamps: the server's `MailClock` (a `ManualMailClock` in tests).
    private let clock: any MailClock

    /// - Parameters:
    ///   - clock: the timestamps' clock (the server's `MailClock`; a manual one in tests).
    ///   - sink: where lines go; the default writes them to standard error followed by "\n".
    public init(
        label: String,
        level: Logger.Level = .info,
        format: PetrelConfiguration.Log.Format = .text,
        metadataProvider: Logger.MetadataProvider? = nil,
        clock: any MailClock = WallClock(),
        levelControl: LogLevelControl? = nil,
        sink: @escaping Sink = PetrelLogHandler.standardError
    ) {
        self.label = label
        self.initialLevel = level
        self.levelControl = levelControl
        self.format = format
        self.metadataProvider = metadataProvider
        self.clock = clock
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // Precedence (later wins): metadata provider, handler metadata, the call's metadata.
        var merged = metadataProvider?.get() ?? [:]
        if !metadata.isEmpty { merged.merge(metadata) { _, new in new } }
        if let callMetadata = event.metadata, !callMetadata.isEmpty { merged.merge(callMetadata) { _, new in new } }
        let line = LogLineFormatter.format(
            format, date: clock.now, level: event.level, label: label,
            message: event.message.description, metadata: merged, error: event.error
        )
        sink(line)
    }

    /// Installs `PetrelLogHandler` as the process-wide swift-log backend. swift-log allows this once per
    /// process; call it first thing in `main`, before any `Logger` is created.
    public static func bootstrap(
        level: Logger.Level, format: PetrelConfiguration.Log.Format, metadataProvider: Logger.MetadataProvider? = nil,
        clock: any MailClock = WallClock()
    ) {
        LogLevelControl.shared.level = level
        LoggingSystem.bootstrap(
            { label, provider in
                PetrelLogHandler(
                    label: label, level: level, format: format, metadataProvider: provider, clock: clock, levelControl: .shared)
            }, metadataProvider: metadataProvider)
    }

    /// `bootstrap(level:format:)` from the `[log]` section.
    public static func bootstrap(_ log: PetrelConfiguration.Log, metadataProvider: Logger.MetadataProvider? = nil) {
        bootstrap(level: log.level, format: log.format, metadataProvider: metadataProvider)
    }

    /// Writes `line` + "\n" to file descriptor 2.
    public static let standardError: Sink = { line in StandardErrorWriter.shared.write(line) }
}

/// The process-wide log level that bootstrapped handlers follow, so a SIGHUP reload can change it live.
public final class LogLevelControl: Sendable {
    public static let shared = LogLevelControl()
    private let current: Mutex<Logger.Level?>

    public init(level: Logger.Level? = nil) { current = Mutex(level) }

    public var level: Logger.Level? {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
}

/// Serialises whole-line writes to standard error.
final class StandardErrorWriter: Sendable {
    static let shared = StandardErrorWriter()
    private let lock = Mutex(())

    func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        lock.withLock { _ in
            bytes.withUnsafeBytes { buffer in
                guard let base = buffer.baseAddress else { return }
                var offset = 0
                while offset < buffer.count {
                    let written = systemWrite(2, base + offset, buffer.count - offset)
                    if written > 0 {
                        offset += written
                    } else if written < 0 && errno == EINTR {
                        continue
                    } else {
                        return // stderr closed or broken: drop the line rather than spin or crash
                    }
                }
            }
        }
    }
}

/// `write(2)` at file scope, where the name is not shadowed by `StandardErrorWriter.write`.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
