import Foundation
import Testing

@testable import MailCore

private struct FixedRandom: RandomNumberGenerator {
    var value: UInt64
    mutating func next() -> UInt64 { value }
}

@Suite struct QueueIDTests {
    @Test func shapeAndValidity() {
        let id = QueueID.generate()
        #expect(id.count == 16)
        #expect(QueueID.isValid(id))
        #expect(!QueueID.isValid("short"))
        #expect(!QueueID.isValid("0123456789ABCDEI"))
    }

    @Test func timeOrdered() {
        var rng = FixedRandom(value: UInt64.max)
        let earlier = QueueID.generate(date: Date(timeIntervalSince1970: 1_800_000_000), using: &rng)
        var rng2 = FixedRandom(value: 0)
        let later = QueueID.generate(date: Date(timeIntervalSince1970: 1_800_000_000.000001), using: &rng2)
        #expect(earlier < later)
        #expect(earlier.hasSuffix("ZZZZZ"))
        #expect(later.hasSuffix("00000"))
    }

    /// The suffix is the low 25 bits of one draw, most significant character first.
    @Test func theSuffixIsOneDraw() {
        var rng = FixedRandom(value: 0b00001_00010_00011_00100_11111)
        let id = QueueID.generate(date: Date(timeIntervalSince1970: 1_800_000_000), using: &rng)
        #expect(id.hasSuffix("1234Z"), "\(id)")
        #expect(QueueID.isValid(id))
    }

    @Test func deterministicWithInjectedRandomness() {
        var a = FixedRandom(value: 7), b = FixedRandom(value: 7)
        let date = Date(timeIntervalSince1970: 1234)
        #expect(QueueID.generate(date: date, using: &a) == QueueID.generate(date: date, using: &b))
    }

    @Test func distinctIDs() {
        let ids = Set((0..<1000).map { _ in QueueID.generate() })
        #expect(ids.count > 990)
    }

    @Test func extremeDatesDoNotCrash() {
        #expect(QueueID.generate(date: Date(timeIntervalSince1970: -100)).hasPrefix("00000000000"))
        #expect(QueueID.isValid(QueueID.generate(date: Date.distantFuture)))
    }
}
