import MailCore
import Testing

@Suite struct DurationTextTests {
    @Test(
        arguments: [
            ("30s", 30), ("15m", 900), ("4h", 14_400), ("5d", 432_000), ("2w", 1_209_600),
            ("600", 600), ("90", 90), ("0", 0), ("0s", 0), ("007s", 7), ("1H", 3600), ("3D", 259_200), ("1W", 604_800),
            ("5214w", 5214 * 604_800), ("3153600000", 3_153_600_000), ("36500d", 3_153_600_000)
        ] as [(String, Int)])
    func parsesDurations(text: String, seconds: Int) throws {
        #expect(try DurationText.parse(text) == seconds)
        #expect(DurationText.seconds(text) == seconds)
    }

    @Test(arguments: [
        "", "s", "m", "w", "5x", "-5m", "+5m", "1.5h", " 5m", "5m ", "5 m", "m5", "5mm", "1e3", "٣m", "３m",
        "9999999999d", "99999999999999999999d", "3153600001", "5215w", "1234567890123456789", "5\u{0130}", "5ß"
    ])
    func rejectsBadDurations(text: String) {
        do {
            _ = try DurationText.parse(text)
            Issue.record("\(text) parsed")
        } catch {
            #expect(error.value == text)
            #expect(error.description.contains("\"\(text)\""))
            #expect(!error.reason.isEmpty)
        }
        #expect(DurationText.seconds(text) == nil)
    }

    @Test func reasonsSayWhatIsWrong() {
        #expect(throws: DurationText.Error(value: "5x", reason: "unknown unit 'x' (use s, m, h, d or w)")) {
            try DurationText.parse("5x")
        }
        #expect(throws: DurationText.Error(value: "99999w", reason: "too large (at most 100 years)")) {
            try DurationText.parse("99999w")
        }
        #expect((try? DurationText.parse("h")) == nil)
        do {
            _ = try DurationText.parse("h")
        } catch {
            #expect(error.reason.hasPrefix("expected a number"))
        }
    }

    @Test func maximumIsOneHundredYears() {
        #expect(DurationText.maximum == 3_153_600_000)
        #expect(DurationText.units.map(\.seconds) == [1, 60, 3600, 86_400, 604_800])
    }

    @Test(
        arguments: [
            (0, "0s"), (-5, "0s"), (45, "45s"), (5400, "1h30m"), (432_000, "5d"), (1_209_600, "14d"),
            (90_061, "1d1h1m1s"), (Int.max, "36500d")
        ] as [(Int, String)])
    func formatsDurations(seconds: Int, text: String) {
        #expect(DurationText.format(seconds) == text)
    }
}
