// Tests for LoggingFormat.swift: timestamps, text escaping (a log line can never be split by input),
// and JSON validity checked with JSONSerialization.
import Foundation
import Logging
import Testing

@testable import PetrelConfig
@testable import PetrelServer

@Suite struct LoggingFormatTests {
    /// 2026-11-29T04:49:59.123Z
    static let date = Date(timeIntervalSince1970: 1_795_927_799.123)

    @Test(arguments: [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1_795_927_799.123, "2026-11-29T04:49:59.123Z"),
        (951_782_400.5, "2000-02-29T00:00:00.500Z"),
        (4_107_542_399.999, "2100-02-28T23:59:59.999Z"),
        (-1.0, "1969-12-31T23:59:59.000Z")
    ])
    func timestamp(_ seconds: Double, _ expected: String) {
        #expect(LogLineFormatter.timestamp(Date(timeIntervalSince1970: seconds)) == expected)
    }

    @Test func timestampAgreesWithFoundation() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        for seconds in stride(from: -2_000_000_000.0, through: 4_000_000_000.0, by: 123_456_789.25) {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(LogLineFormatter.timestamp(date) == formatter.string(from: date))
        }
    }

    @Test func textLineLayout() {
        let line = LogLineFormatter.text(
            date: Self.date, level: .info, label: "smtp", message: "message accepted",
            metadata: ["id": "ABC", "client": "127.0.0.1", "from": "<a@b>"])
        #expect(line == "2026-11-29T04:49:59.123Z info smtp: message accepted client=127.0.0.1 from=<a@b> id=ABC")
    }

    @Test(arguments: [
        ("plain", "plain"),
        ("", "\"\""),
        ("two words", "\"two words\""),
        ("say \"hi\"", "\"say \\\"hi\\\"\""),
        ("a=b", "\"a=b\""),
        ("back\\slash", "\"back\\\\slash\""),
        ("line\r\nbreak", "\"line\\r\\nbreak\""),
        ("tab\there", "\"tab\\there\""),
        ("nul\u{0}bell\u{7}", "\"nul\\u0000bell\\u0007\""),
        ("nel\u{85}ls\u{2028}ps\u{2029}del\u{7F}", "\"nel\\u0085ls\\u2028ps\\u2029del\\u007f\""),
        ("ünïcödé", "ünïcödé")
    ])
    func textValueQuotingAndEscaping(_ raw: String, _ expected: String) {
        #expect(LogLineFormatter.textValue(raw) == expected)
    }

    @Test func textMessageAndLabelCannotSplitTheLine() {
        let line = LogLineFormatter.text(
            date: Self.date, level: .warning, label: "smtp\nfake", message: "EHLO x\r\n2026-01-01T00:00:00.000Z critical forged",
            metadata: ["cmd": "MAIL FROM:<a>\r\nRCPT TO:<b>", "we ird key\n": "v"])
        #expect(!line.contains("\n"))
        #expect(!line.contains("\r"))
        #expect(
            line == "2026-11-29T04:49:59.123Z warning smtp\\nfake: EHLO x\\r\\n2026-01-01T00:00:00.000Z critical forged"
                + " cmd=\"MAIL FROM:<a>\\r\\nRCPT TO:<b>\" we_ird_key_=v")
    }

    @Test func textIncludesTheError() {
        struct Boom: Error, CustomStringConvertible { var description: String { "disk full" } }
        let line = LogLineFormatter.text(
            date: Self.date, level: .error, label: "store", message: "write failed",
            metadata: [:], error: Boom())
        #expect(line == "2026-11-29T04:49:59.123Z error store: write failed error=\"disk full\"")
    }

    static func parseJSON(_ line: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        guard let dict = object as? [String: Any] else { throw CocoaError(.coderInvalidValue) }
        return dict
    }

    @Test func jsonLineIsValidAndComplete() throws {
        let line = LogLineFormatter.json(
            date: Self.date, level: .info, label: "smtp", message: "message \"accepted\"\r\n\u{0}\u{2028}",
            metadata: [
                "id": "ABC",
                "count": .stringConvertible(3),
                "rcpt": .array(["<a@b>", "<c@d>"]),
                "tls": .dictionary(["cipher": "TLS_AES_128_GCM_SHA256", "version": "1.3"]),
                "msg": "collides",
                "back\\slash\n": "v\\"
            ])
        #expect(!line.contains("\n"))
        #expect(!line.contains("\r"))
        #expect(!line.contains("\u{2028}"))
        let dict = try Self.parseJSON(line)
        #expect(dict["ts"] as? String == "2026-11-29T04:49:59.123Z")
        #expect(dict["level"] as? String == "info")
        #expect(dict["label"] as? String == "smtp")
        #expect(dict["msg"] as? String == "message \"accepted\"\r\n\u{0}\u{2028}")
        #expect(dict["_msg"] as? String == "collides")
        #expect(dict["id"] as? String == "ABC")
        #expect(dict["count"] as? String == "3")
        #expect(dict["rcpt"] as? [String] == ["<a@b>", "<c@d>"])
        let tls = dict["tls"] as? [String: Any]
        #expect(tls?["version"] as? String == "1.3")
        #expect(dict["back\\slash\n"] as? String == "v\\")
        #expect(line.hasPrefix("{\"ts\":\"2026-11-29T04:49:59.123Z\",\"level\":\"info\",\"label\":\"smtp\",\"msg\":"))
    }

    @Test func jsonIncludesTheError() throws {
        struct Boom: Error, CustomStringConvertible { var description: String { "disk \"full\"" } }
        let dict = try Self.parseJSON(
            LogLineFormatter.json(
                date: Self.date, level: .error, label: "store", message: "m", metadata: ["error": "meta"], error: Boom()))
        #expect(dict["error"] as? String == "disk \"full\"")
        #expect(dict["_error"] as? String == "meta")
    }

    @Test func jsonEscapesEveryControlCharacter() throws {
        let all = String(String.UnicodeScalarView((0..<0xA0).compactMap(Unicode.Scalar.init)))
        let line = LogLineFormatter.json(date: Self.date, level: .debug, label: "x", message: all, metadata: ["k": .string(all)])
        #expect(line.unicodeScalars.allSatisfy { !LogLineFormatter.needsEscape($0) })
        let dict = try Self.parseJSON(line)
        #expect(dict["msg"] as? String == all)
        #expect(dict["k"] as? String == all)
    }
}
