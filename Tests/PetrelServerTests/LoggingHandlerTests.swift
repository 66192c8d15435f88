// Tests for LoggingHandler.swift: one line per event through an injected sink, level filtering,
// metadata precedence, and JSON output through a real Logger.
import Foundation
import Logging
import MailCore
import Synchronization
import Testing

@testable import PetrelConfig
@testable import PetrelServer

/// Collects lines written by the handler.
final class LogLineRecorder: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }
    func append(_ line: String) { storage.withLock { $0.append(line) } }
}

@Suite struct LoggingHandlerTests {
    static let fixedDate = Date(timeIntervalSince1970: 1_795_927_799.123)

    static func logger(
        _ recorder: LogLineRecorder, format: PetrelConfiguration.Log.Format = .text, level: Logger.Level = .info,
        provider: Logger.MetadataProvider? = nil
    ) -> Logger {
        Logger(label: "smtp") { label in
            PetrelLogHandler(
                label: label, level: level, format: format, metadataProvider: provider,
                clock: ManualMailClock(fixedDate), sink: { recorder.append($0) })
        }
    }

    @Test func writesOneTextLinePerEvent() {
        let recorder = LogLineRecorder()
        var logger = Self.logger(recorder)
        logger[metadataKey: "client"] = "127.0.0.1"
        logger.info("message accepted", metadata: ["id": "ABC", "from": "<a@b>"])
        #expect(recorder.lines == ["2026-11-29T04:49:59.123Z info smtp: message accepted client=127.0.0.1 from=<a@b> id=ABC"])
    }

    @Test func filtersByLevel() {
        let recorder = LogLineRecorder()
        var logger = Self.logger(recorder, level: .notice)
        logger.info("hidden")
        logger.debug("hidden")
        logger.notice("shown")
        logger.critical("shown too")
        #expect(recorder.lines.count == 2)
        logger.logLevel = .trace
        logger.trace("now shown")
        #expect(recorder.lines.count == 3)
        #expect(recorder.lines.last?.contains(" trace smtp: now shown") == true)
    }

    @Test func callMetadataOverridesHandlerMetadataWhichOverridesProvider() {
        let recorder = LogLineRecorder()
        let provider = Logger.MetadataProvider { ["a": "provider", "b": "provider", "c": "provider"] }
        var logger = Self.logger(recorder, provider: provider)
        logger[metadataKey: "b"] = "handler"
        logger[metadataKey: "c"] = "handler"
        logger.info("m", metadata: ["c": "call"])
        #expect(recorder.lines == ["2026-11-29T04:49:59.123Z info smtp: m a=provider b=handler c=call"])
        #expect(logger[metadataKey: "b"] == "handler")
    }

    @Test func hostileInputStaysOnOneLine() {
        let recorder = LogLineRecorder()
        let logger = Self.logger(recorder)
        logger.info("EHLO \("evil\r\n2026-11-29T00:00:00.000Z info smtp: forged")", metadata: ["cmd": "a\nb"])
        #expect(recorder.lines.count == 1)
        #expect(recorder.lines.allSatisfy { !$0.contains("\n") && !$0.contains("\r") })
    }

    @Test func jsonFormatThroughALogger() throws {
        let recorder = LogLineRecorder()
        let logger = Self.logger(recorder, format: .json)
        logger.warning("queue full", metadata: ["depth": .stringConvertible(1000)])
        #expect(recorder.lines.count == 1)
        let object = try JSONSerialization.jsonObject(with: Data((recorder.lines.first ?? "").utf8)) as? [String: Any]
        #expect(object?["level"] as? String == "warning")
        #expect(object?["label"] as? String == "smtp")
        #expect(object?["msg"] as? String == "queue full")
        #expect(object?["depth"] as? String == "1000")
        #expect(object?["ts"] as? String == "2026-11-29T04:49:59.123Z")
    }

    @Test func concurrentEventsAreEachOneWholeLine() async {
        let recorder = LogLineRecorder()
        let logger = Self.logger(recorder)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for n in 0..<50 { logger.info("event", metadata: ["task": "\(task)", "n": "\(n)"]) }
                }
            }
        }
        #expect(recorder.lines.count == 400)
        #expect(Set(recorder.lines).count == 400)
    }

    @Test func standardErrorSinkDoesNotCrash() {
        // Writes one line to the test's stderr; the point is that the default sink works end to end.
        PetrelLogHandler.standardError("2026-11-29T04:49:59.123Z info test: standard error sink works")
    }
}
