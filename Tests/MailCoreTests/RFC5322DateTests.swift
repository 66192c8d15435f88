import Foundation
import Testing

@testable import MailCore

@Suite struct RFC5322DateTests {
    @Test(arguments: [
        (0.0, "Thu, 1 Jan 1970 00:00:00 +0000"),
        (1_800_000_000.0, "Fri, 15 Jan 2027 08:00:00 +0000"),
        (951_782_400.0, "Tue, 29 Feb 2000 00:00:00 +0000"),
        (1_795_928_999.0, "Sun, 29 Nov 2026 05:09:59 +0000"),
        (-1.0, "Wed, 31 Dec 1969 23:59:59 +0000"),
        (4_102_444_800.0, "Fri, 1 Jan 2100 00:00:00 +0000")
    ])
    func formatsUTC(seconds: Double, expected: String) {
        #expect(RFC5322Date.format(Date(timeIntervalSince1970: seconds)) == expected)
    }

    @Test func formatsOffsets() {
        let date = Date(timeIntervalSince1970: 0)
        #expect(RFC5322Date.format(date, utcOffsetSeconds: 3600 + 1800) == "Thu, 1 Jan 1970 01:30:00 +0130")
        #expect(RFC5322Date.format(date, utcOffsetSeconds: -5 * 3600) == "Wed, 31 Dec 1969 19:00:00 -0500")
    }

    @Test func fractionalSecondsAreTruncated() {
        #expect(RFC5322Date.format(Date(timeIntervalSince1970: 59.999)) == "Thu, 1 Jan 1970 00:00:59 +0000")
    }
}
