import MailCore
import Testing

@testable import SMTPCore

/// The `Received:` count the DATA and BDAT decoders keep for the mail-loop check (RFC 5321 §6.3):
/// every split of the input gives the same count, the count stops at the end of the header section,
/// and DATA counts the dot-unstuffed text.
@Suite struct ReceivedFieldCountingTests {
    /// DATA: the count after feeding `parts` in order.
    private func dataCount(_ parts: [[UInt8]], hopCount: HopCount = HopCount()) -> (count: Int, finished: Bool) {
        var decoder = DataDecoder(maxMessageSize: 1 << 20, maxLineLength: 1000, hopCount: hopCount)
        var output: [UInt8] = []
        var finished = false
        for part in parts where !finished {
            finished = part.withUnsafeBytes { decoder.decode($0, into: &output) }.finished
        }
        return (decoder.receivedFields, finished)
    }

    /// BDAT: the count after feeding `parts` as chunks and finishing.
    private func chunkCount(_ parts: [[UInt8]], hopCount: HopCount = HopCount()) -> Int {
        var decoder = ChunkDecoder(maxMessageSize: 1 << 20, maxLineLength: 1000, hopCount: hopCount)
        var output: [UInt8] = []
        for part in parts { part.withUnsafeBytes { decoder.decode($0, into: &output) } }
        decoder.finish(into: &output)
        return decoder.receivedFields
    }

    /// Whole, split in two at every position, split in three at every pair, and byte by byte.
    private func splits(_ bytes: [UInt8]) -> [[[UInt8]]] {
        var all: [[[UInt8]]] = [[bytes], bytes.map { [$0] }]
        for i in 0...bytes.count {
            all.append([Array(bytes[..<i]), Array(bytes[i...])])
        }
        for i in stride(from: 0, through: bytes.count, by: 3) {
            for j in stride(from: i, through: bytes.count, by: 5) {
                all.append([Array(bytes[..<i]), Array(bytes[i..<j]), Array(bytes[j...])])
            }
        }
        return all
    }

    static let header =
        "Received: from a by b\r\nRECEIVED : from c\r\n\tby d\r\nReceived-SPF: pass\r\nX-Received: x\r\n"
        + "Subject: Received: not a field\r\nreceived:\r\n\r\nReceived: in the body\r\n"

    @Test func dataCountsTheHeaderSectionAtEverySplit() {
        let bytes = Array((Self.header + ".\r\n").utf8)
        for parts in splits(bytes) {
            let result = dataCount(parts)
            #expect(result.finished)
            #expect(result.count == 3, "split \(parts.map(\.count))")
        }
    }

    @Test func bdatCountsTheHeaderSectionAcrossChunksAtEverySplit() {
        let bytes = Array(Self.header.utf8)
        for parts in splits(bytes) {
            #expect(chunkCount(parts) == 3, "split \(parts.map(\.count))")
        }
    }

    /// The decoders and `HopCount.count` (the queue's check on the stored message) are one rule.
    @Test func decodersAgreeWithTheQueueRule() {
        let texts = [
            String(repeating: "Received: x\r\n", count: 31) + "\r\nbody\r\n",
            "Subject: s\r\n" + String(repeating: "Received: x\r\n", count: 5) + "\r\n",
            "No-header-section\r\n",
            "\r\nReceived: only in the body\r\n"
        ]
        for text in texts {
            let expected = HopCount.count(in: Array(text.utf8))
            #expect(dataCount([Array((text + ".\r\n").utf8)]).count == expected, "\(text.debugDescription)")
            #expect(chunkCount([Array(text.utf8)]) == expected, "\(text.debugDescription)")
        }
    }

    /// DATA counts the unstuffed text: a stuffed "..Received:" is not a field; a line "." + "Received:"
    /// after unstuffing is one.
    @Test func dataCountsUnstuffedText() {
        let bytes = Array("..Received: stuffed once\r\n.Received: unstuffed\r\n\r\n.\r\n".utf8)
        for parts in splits(bytes) {
            #expect(dataCount(parts).count == 1, "split \(parts.map(\.count))")
        }
    }

    /// The count stops at the scan limit; the work stays bounded for a huge header section.
    @Test func countStopsAtTheScanLimit() {
        let line = Array("Received: x\r\n".utf8) // 13 octets
        let many = Array([[UInt8]](repeating: line, count: 100).joined())
        #expect(dataCount([many + Array("\r\n.\r\n".utf8)], hopCount: HopCount(limit: 30, scanLimit: 13 * 40)).count == 40)
        #expect(chunkCount([many], hopCount: HopCount(limit: 30, scanLimit: 13 * 40)) == 40)
        #expect(chunkCount([many]) == 100)
    }

    @Test func counterIsTheSameForEveryFeedSize() {
        let bytes = Array((Self.header + String(repeating: "Received: y\r\n", count: 3)).utf8)
        for parts in splits(bytes) {
            var counter = ReceivedFieldCounter()
            for part in parts { counter.feed(part) }
            #expect(counter.count == 3)
            #expect(counter.isFinished)
        }
        var open = ReceivedFieldCounter()
        open.feed(Array("Received: a\r\nReceived".utf8))
        #expect(open.count == 1 && !open.isFinished)
        open.feed(Array(" :x\r\n".utf8))
        #expect(open.count == 2 && !open.isFinished)
    }
}
