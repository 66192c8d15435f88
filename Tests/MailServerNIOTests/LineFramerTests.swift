import MailServerNIO
import NIOCore
import Testing

@Suite struct LineFramerTests {
    /// Feeds `input` split at every position into a framer and collects what it returns.
    func frames(_ input: [UInt8], max: Int, split: Int) -> [FramedLine] {
        var framer = LineFramer(maxLength: max)
        var buffer = ByteBuffer()
        var out: [FramedLine] = []
        for part in [Array(input[..<split]), Array(input[split...])] {
            buffer.writeBytes(part)
            while let f = framer.next(from: &buffer) { out.append(f) }
        }
        return out
    }

    @Test func linesAreCutAtCRLFWhateverTheSplit() {
        let input = Array("EHLO a.test\r\nNOOP\r\n\r\nQUIT\r\n".utf8)
        for split in 0...input.count {
            #expect(
                frames(input, max: 512, split: split) == [
                    .line(Array("EHLO a.test".utf8)), .line(Array("NOOP".utf8)), .line([]), .line(Array("QUIT".utf8))
                ], "split at \(split)")
        }
    }

    @Test func bareLineFeedIsReported() {
        let input = Array("NOOP\nQUIT\r\n".utf8)
        for split in 0...input.count {
            #expect(frames(input, max: 512, split: split) == [.bareLineFeed(Array("NOOP".utf8)), .line(Array("QUIT".utf8))])
        }
    }

    @Test func overlongLineIsDiscardedOnceAndFramingRecovers() {
        let long = [UInt8](repeating: UInt8(ascii: "A"), count: 2000)
        let input = long + Array("\r\nNOOP\r\n".utf8)
        for split in stride(from: 0, through: input.count, by: 37) {
            #expect(frames(input, max: 512, split: split) == [.tooLong, .line(Array("NOOP".utf8))], "split at \(split)")
        }
    }

    @Test func limitCountsTheCRLF() {
        let exact = [UInt8](repeating: UInt8(ascii: "B"), count: 510) + Array("\r\n".utf8)
        #expect(frames(exact, max: 512, split: 0) == [.line([UInt8](repeating: UInt8(ascii: "B"), count: 510))])
        let over = [UInt8](repeating: UInt8(ascii: "B"), count: 511) + Array("\r\n".utf8)
        #expect(frames(over, max: 512, split: 0) == [.tooLong])
    }

    @Test func tooLongIsReportedAsSoonAsTheLimitPassesWithoutALineEnd() {
        var framer = LineFramer(maxLength: 512)
        var buffer = ByteBuffer()
        buffer.writeBytes([UInt8](repeating: UInt8(ascii: "C"), count: 511))
        #expect(framer.next(from: &buffer) == nil, "511 octets: an LF next would still make a 512-octet line")
        buffer.writeBytes([UInt8(ascii: "C")])
        #expect(framer.next(from: &buffer) == .tooLong, "512 octets and no LF: the line cannot fit any more")
        #expect(buffer.readableBytes == 0, "nothing of the line is kept")
        #expect(framer.discarding)
    }

    @Test func nothingIsKeptWhileDiscarding() {
        var framer = LineFramer(maxLength: 512)
        var buffer = ByteBuffer()
        var reported: [FramedLine] = []
        for _ in 0..<1000 {
            buffer.writeBytes([UInt8](repeating: UInt8(ascii: "C"), count: 1000))
            while let f = framer.next(from: &buffer) { reported.append(f) }
            #expect(buffer.readableBytes == 0)
        }
        #expect(reported == [.tooLong], "reported once")
        buffer.writeBytes(Array("tail\r\nNOOP\r\n".utf8))
        #expect(framer.next(from: &buffer) == .line(Array("NOOP".utf8)), "the rest of the long line was skipped")
    }

    @Test func authPrefixMayUseTheLongerLimit() {
        let limit = LineLimit(maxLength: 512, extendedPrefix: "AUTH ", extendedMaxLength: 12288)
        func frame(_ line: [UInt8]) -> [FramedLine] {
            var framer = LineFramer(maxLength: 512)
            framer.limit = limit
            var buffer = ByteBuffer(bytes: line)
            var out: [FramedLine] = []
            while let f = framer.next(from: &buffer) { out.append(f) }
            return out
        }
        let payload = [UInt8](repeating: UInt8(ascii: "A"), count: 12000)
        #expect(
            frame(Array("auth plain ".utf8) + payload + [13, 10]) == [.line(Array("auth plain ".utf8) + payload)],
            "AUTH lines: 12288 octets, the verb in any case")
        #expect(frame(Array("NOOP ".utf8) + payload + [13, 10]) == [.tooLong], "any other line: 512")
        #expect(frame(Array("AUTHX".utf8) + payload + [13, 10]) == [.tooLong])
        #expect(frame(Array("AUTH ".utf8) + payload + payload + [13, 10]) == [.tooLong], "AUTH over 12288 too")
        // The prefix is only known once 5 octets are here; a short partial line just waits.
        var framer = LineFramer(maxLength: 512)
        framer.limit = limit
        var buffer = ByteBuffer(string: "AU")
        #expect(framer.next(from: &buffer) == nil)
    }
}
