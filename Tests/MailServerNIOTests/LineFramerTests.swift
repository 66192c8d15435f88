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
            #expect(frames(input, max: 512, split: split) == [
                .line(Array("EHLO a.test".utf8)), .line(Array("NOOP".utf8)), .line([]), .line(Array("QUIT".utf8)),
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

    @Test func bufferStaysBoundedWhileDiscarding() {
        var framer = LineFramer(maxLength: 512)
        var buffer = ByteBuffer()
        for _ in 0..<100 {
            buffer.writeBytes([UInt8](repeating: UInt8(ascii: "C"), count: 1000))
            #expect(framer.next(from: &buffer) == nil)
            #expect(buffer.readableBytes <= 1001)
        }
        buffer.writeBytes(Array("\r\n".utf8))
        #expect(framer.next(from: &buffer) == .tooLong)
    }
}
