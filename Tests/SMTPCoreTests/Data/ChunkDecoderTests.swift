import Testing

@testable import SMTPCore

@Suite struct ChunkDecoderTests {
    private func run(_ chunks: [[UInt8]], maxSize: Int = 1000, maxLine: Int = 1000, finish: Bool = true)
        -> (output: [UInt8], error: BodyOutcome?, octets: Int64)
    {
        var decoder = ChunkDecoder(maxMessageSize: maxSize, maxLineLength: maxLine)
        var output: [UInt8] = []
        for chunk in chunks { chunk.withUnsafeBytes { decoder.decode($0, into: &output) } }
        if finish { decoder.finish(into: &output) }
        return (output, decoder.error, decoder.octetsDecoded)
    }

    /// Every split of the input into two chunks gives the same result as one chunk.
    private func everySplit(_ text: String, maxSize: Int = 1000, maxLine: Int = 1000) -> (output: [UInt8], error: BodyOutcome?, octets: Int64) {
        let bytes = Array(text.utf8)
        let whole = run([bytes], maxSize: maxSize, maxLine: maxLine)
        for split in 0...bytes.count {
            let r = run([Array(bytes[..<split]), Array(bytes[split...])], maxSize: maxSize, maxLine: maxLine)
            #expect(r.error == whole.error, "split \(split)")
            if r.error == nil { #expect(r.output == whole.output, "split \(split)") }
        }
        return whole
    }

    @Test func passesBodyThroughWithoutUnstuffing() {
        let r = everySplit("Subject: x\r\n\r\n..dots stay\r\n.\r\n")
        #expect(r.error == nil)
        #expect(r.output == Array("Subject: x\r\n\r\n..dots stay\r\n.\r\n".utf8))
    }

    @Test(arguments: ["a\nb\r\n", "a\rb\r\n", "\n", "abc\r\n\r"])
    func bareLineEndings(input: String) {
        #expect(everySplit(input).error == .bareLineEnding)
    }

    @Test(arguments: ["\u{0}\r\n", "Subject: a\u{0}\r\n\r\n", "x\r\n\r\nbody\u{0}", "\u{0}"])
    func nulIsRefused(input: String) {
        let r = everySplit(input)
        #expect(r.error == .nulCharacter)
        #expect(!r.output.contains(0))
    }

    @Test func finishAppendsMissingCRLF() {
        let r = everySplit("no newline at end")
        #expect(r.error == nil)
        #expect(r.output == Array("no newline at end\r\n".utf8))
        #expect(r.octets == Int64("no newline at end\r\n".utf8.count))
    }

    @Test func emptyMessageStaysEmpty() {
        let r = run([[]])
        #expect(r.error == nil)
        #expect(r.output.isEmpty)
    }

    @Test func lineLengthAcrossChunks() {
        let r = run([Array("12345".utf8), Array("6789\r\n".utf8)], maxLine: 10)
        #expect(r.error == .lineTooLong)
        #expect(run([Array("1234".utf8), Array("5678\r\n".utf8)], maxLine: 10).error == nil)
    }

    @Test func sizeAcrossChunks() {
        #expect(run([Array("12345\r\n".utf8), Array("12345\r\n".utf8)], maxSize: 13).error == .tooLarge)
        #expect(run([Array("12345\r\n".utf8), Array("1234\r\n".utf8)], maxSize: 13).error == nil)
    }

    @Test func nothingAppendedAfterError() {
        var decoder = ChunkDecoder(maxMessageSize: 100, maxLineLength: 100)
        var output: [UInt8] = []
        Array("bad\n".utf8).withUnsafeBytes { decoder.decode($0, into: &output) }
        Array("more\r\n".utf8).withUnsafeBytes { decoder.decode($0, into: &output) }
        decoder.finish(into: &output)
        #expect(output.isEmpty)
        #expect(decoder.error == .bareLineEnding)
    }
}
