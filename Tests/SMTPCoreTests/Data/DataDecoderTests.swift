import MailCore
import Testing

@testable import SMTPCore

struct DecodeResult: Equatable {
    var output: [UInt8]
    var consumed: Int
    var finished: Bool
    var error: BodyOutcome?
    var octets: Int64
    /// `DataDecoder.lineStartsWithDot` at the end.
    var dotLine = false
}

/// Feeds `chunks` in order, stopping at `finished`; returns what a reader would see.
func runDataDecoder(_ chunks: [[UInt8]], maxSize: Int = 1000, maxLine: Int = 1000) -> DecodeResult {
    var decoder = DataDecoder(maxMessageSize: maxSize, maxLineLength: maxLine)
    var output: [UInt8] = []
    var consumed = 0
    for chunk in chunks {
        let result = chunk.withUnsafeBytes { decoder.decode($0, into: &output) }
        consumed += result.consumed
        if result.finished {
            #expect(result.consumed <= chunk.count)
            return DecodeResult(
                output: output, consumed: consumed, finished: true, error: decoder.error, octets: decoder.octetsDecoded,
                dotLine: decoder.lineStartsWithDot)
        }
        #expect(result.consumed == chunk.count)
    }
    return DecodeResult(
        output: output, consumed: consumed, finished: false, error: decoder.error, octets: decoder.octetsDecoded,
        dotLine: decoder.lineStartsWithDot)
}

/// Runs the input whole, split at every position, and byte by byte; all must agree.
func decodeEverySplit(_ text: String, maxSize: Int = 1000, maxLine: Int = 1000) -> DecodeResult {
    let bytes = Array(text.utf8)
    let whole = runDataDecoder([bytes], maxSize: maxSize, maxLine: maxLine)
    for split in 0...bytes.count {
        let parts = [Array(bytes[..<split]), Array(bytes[split...])]
        let result = runDataDecoder(parts, maxSize: maxSize, maxLine: maxLine)
        compare(result, whole, "split at \(split) of \(text.debugDescription)")
    }
    let single = runDataDecoder(bytes.map { [$0] }, maxSize: maxSize, maxLine: maxLine)
    compare(single, whole, "byte by byte \(text.debugDescription)")
    return whole
}

private func compare(_ a: DecodeResult, _ b: DecodeResult, _ what: String) {
    #expect(a.consumed == b.consumed, "\(what)")
    #expect(a.finished == b.finished, "\(what)")
    #expect(a.error == b.error, "\(what)")
    // After an error the output is discarded, so only compare it for good bodies.
    if a.error == nil {
        #expect(a.output == b.output, "\(what)")
        #expect(a.dotLine == b.dotLine, "\(what)")
    }
}

@Suite struct DataDecoderTests {
    static let goodBodies: [(String, String)] = [
        ("Subject: x\r\n\r\nbody\r\n.\r\n", "Subject: x\r\n\r\nbody\r\n"),
        (".\r\n", ""),
        ("\r\n.\r\n", "\r\n"),
        ("..leading dot\r\n.\r\n", ".leading dot\r\n"),
        ("a\r\n..\r\n.\r\n", "a\r\n.\r\n"),
        ("a\r\n...\r\n.\r\n", "a\r\n..\r\n"),
        ("a.\r\n.b\r\n.\r\n", "a.\r\nb\r\n"),
        ("x\r\n. \r\n.\r\n", "x\r\n \r\n"),
        ("caf\u{E9} \u{1F600}\r\n.\r\n", "caf\u{E9} \u{1F600}\r\n")
    ]

    @Test(arguments: goodBodies)
    func decodesAndUnstuffs(input: String, body: String) {
        let result = decodeEverySplit(input)
        #expect(result.finished)
        #expect(result.error == nil)
        #expect(result.consumed == input.utf8.count)
        #expect(result.output == Array(body.utf8))
        #expect(result.octets == Int64(body.utf8.count))
        // What is stored with the body (BodyForm) is what the body is.
        #expect(BodyForm.scan(result.output) == BodyForm.smtpData(lineStartsWithDot: result.dotLine))
    }

    @Test func bytesAfterTheEndAreNotConsumed() {
        let input = "hello\r\n.\r\nMAIL FROM:<a@b.test>\r\n"
        let result = decodeEverySplit(input)
        #expect(result.finished)
        #expect(result.consumed == "hello\r\n.\r\n".utf8.count)
        #expect(result.output == Array("hello\r\n".utf8))
    }

    @Test func incompleteBodyIsNotFinished() {
        for input in ["abc\r\n", "abc\r\n.", "abc\r\n.\r", "abc", "abc\r"] {
            let result = decodeEverySplit(input)
            #expect(!result.finished, "\(input.debugDescription)")
            #expect(result.error == nil)
            #expect(result.consumed == input.utf8.count)
        }
    }

    static let bareLineEndings = [
        "a\n.\n", "a\r.\r", "a\r\n.\n", "a\nb\r\n.\r\n", "a\rb\r\n.\r\n", "\n", "\r.\r\n", ".\n", ".\rx", "a\r\n.\rx\r\n.\r\n"
    ]

    @Test(arguments: bareLineEndings)
    func bareLineEndingIsAnError(input: String) {
        let result = decodeEverySplit(input)
        #expect(result.finished)
        #expect(result.error == .bareLineEnding)
    }

    @Test func bareLineEndingStopsAtOnce() {
        let result = runDataDecoder([Array("ab\ncd\r\n.\r\n".utf8)])
        #expect(result.finished)
        #expect(result.consumed == 3)
    }

    /// RFC 5322 §2.1 / RFC 6152 §3: no NUL in a message. Anywhere in a line (first octet, after a
    /// stuffing dot, in the middle), the decoder keeps consuming up to the end marker and reports it.
    static let nulBodies = [
        "\u{0}\r\n.\r\nNOOP\r\n", "Subject: a\u{0}b\r\n\r\nx\r\n.\r\nNOOP\r\n",
        "x\r\n.\u{0}\r\n.\r\nNOOP\r\n", "x\r\n\r\nbody\u{0}\r\nmore\r\n.\r\nNOOP\r\n"
    ]

    @Test(arguments: nulBodies)
    func nulIsAnErrorAndTheDataIsConsumedToTheEnd(input: String) {
        let result = decodeEverySplit(input)
        #expect(result.finished)
        #expect(result.error == .nulCharacter)
        #expect(result.consumed == input.utf8.count - "NOOP\r\n".utf8.count)
    }

    @Test func nulDoesNotReachTheOutputAfterIt() {
        var decoder = DataDecoder(maxMessageSize: 1000, maxLineLength: 1000)
        var output: [UInt8] = []
        _ = Array("ok\r\n".utf8).withUnsafeBytes { decoder.decode($0, into: &output) }
        _ = Array("a\u{0}b\r\nlater\r\n.\r\n".utf8).withUnsafeBytes { decoder.decode($0, into: &output) }
        #expect(decoder.error == .nulCharacter)
        #expect(!output.contains(0))
        #expect(output == Array("ok\r\n".utf8))
    }

    @Test func tooLargeKeepsConsumingToTheEnd() {
        let input = "0123456789\r\n0123456789\r\n.\r\nQUIT\r\n"
        let result = decodeEverySplit(input, maxSize: 15)
        #expect(result.finished)
        #expect(result.error == .tooLarge)
        #expect(result.consumed == input.utf8.count - "QUIT\r\n".utf8.count)
    }

    @Test func sizeLimitIsInclusive() {
        let result = decodeEverySplit("12345678\r\n.\r\n", maxSize: 10)
        #expect(result.error == nil)
        #expect(result.octets == 10)
        #expect(decodeEverySplit("123456789\r\n.\r\n", maxSize: 10).error == .tooLarge)
    }

    @Test func lineLengthLimitCountsCRLF() {
        // maxLine 10 = 8 octets + CRLF.
        let ok = decodeEverySplit("12345678\r\n.\r\n", maxLine: 10)
        #expect(ok.error == nil)
        let long = decodeEverySplit("123456789\r\nnext\r\n.\r\nNOOP\r\n", maxLine: 10)
        #expect(long.error == .lineTooLong)
        #expect(long.finished)
        #expect(long.consumed == "123456789\r\nnext\r\n.\r\n".utf8.count)
        // The same octet over both limits: the line limit is reported, at every split.
        #expect(decodeEverySplit("123456\r\n.\r\n", maxSize: 3, maxLine: 5).error == .lineTooLong)
        #expect(decodeEverySplit("123456\r\n.\r\n", maxSize: 2, maxLine: 5).error == .tooLarge)
        // The stuffing dot counts as transmitted.
        #expect(decodeEverySplit("..2345678\r\n.\r\n", maxLine: 10).error == .lineTooLong)
    }

    @Test func decodeAfterFinishConsumesNothing() {
        var decoder = DataDecoder(maxMessageSize: 100, maxLineLength: 100)
        var output: [UInt8] = []
        let first = Array(".\r\n".utf8).withUnsafeBytes { decoder.decode($0, into: &output) }
        #expect(first.finished)
        let second = Array("more".utf8).withUnsafeBytes { decoder.decode($0, into: &output) }
        #expect(second.consumed == 0)
        #expect(second.finished)
        #expect(decoder.isFinished)
    }
}

/// A line-by-line reference decoder over the whole input, written for clarity, not speed: the decoder
/// (which scans runs of ordinary octets at once) must agree with it on random bodies.
func referenceDecode(_ bytes: [UInt8], maxSize: Int, maxLine: Int) -> DecodeResult {
    var output: [UInt8] = []
    var error: BodyOutcome?
    var octets: Int64 = 0
    var lineLength = 0
    var atLineStart = true
    var index = 0
    func note(_ outcome: BodyOutcome) { if error == nil { error = outcome } }
    while index < bytes.count {
        let byte = bytes[index]
        if atLineStart, byte == UInt8(ascii: ".") {
            lineLength = 1
            guard index + 1 < bytes.count else { break }
            let next = bytes[index + 1]
            if next == 0x0D {
                guard index + 2 < bytes.count else { break }
                if bytes[index + 2] == 0x0A {
                    return DecodeResult(output: output, consumed: index + 3, finished: true, error: error, octets: octets)
                }
                return DecodeResult(output: output, consumed: index + 3, finished: true, error: .bareLineEnding, octets: octets)
            }
            atLineStart = false
            index += 1
            continue
        }
        atLineStart = false
        if byte == 0x0A {
            return DecodeResult(output: output, consumed: index + 1, finished: true, error: .bareLineEnding, octets: octets)
        }
        if byte == 0x0D {
            guard index + 1 < bytes.count else {
                octets += 1
                if octets > Int64(maxSize) { note(.tooLarge) }
                if error == nil { output.append(byte) }
                index += 1
                break
            }
            guard bytes[index + 1] == 0x0A else {
                return DecodeResult(output: output, consumed: index + 2, finished: true, error: .bareLineEnding, octets: octets + 1)
            }
            octets += 2
            if octets > Int64(maxSize) { note(.tooLarge) }
            if error == nil { output += [0x0D, 0x0A] }
            lineLength = 0
            atLineStart = true
            index += 2
            continue
        }
        lineLength += 1
        octets += 1
        if byte == 0 { note(.nulCharacter) }
        if lineLength > maxLine - 2 { note(.lineTooLong) }
        if octets > Int64(maxSize) { note(.tooLarge) }
        if error == nil { output.append(byte) }
        index += 1
    }
    return DecodeResult(output: output, consumed: bytes.count, finished: false, error: error, octets: octets)
}

@Suite struct DataDecoderReferenceTests {
    @Test func randomBodiesAgreeWithTheReference() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = Array("ab.".utf8) + [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x20]
        for round in 0..<3000 {
            let length = Int.random(in: 0...40, using: &generator)
            var body = (0..<length).map { _ in alphabet.randomElement(using: &generator) ?? 0x61 }
            if round % 2 == 0 { body += Array("\r\n.\r\n".utf8) }
            let maxSize = Int.random(in: 1...30, using: &generator)
            let maxLine = Int.random(in: 3...12, using: &generator)
            let expected = referenceDecode(body, maxSize: maxSize, maxLine: maxLine)
            let actual = runDataDecoder([body], maxSize: maxSize, maxLine: maxLine)
            let what = "body \(body) maxSize \(maxSize) maxLine \(maxLine)"
            #expect(actual.finished == expected.finished, "\(what)")
            #expect(actual.error == expected.error, "\(what)")
            #expect(actual.octets == expected.octets || actual.error != nil, "\(what)")
            if expected.finished { #expect(actual.consumed == expected.consumed, "\(what)") }
            if expected.error == nil, actual.error == nil { #expect(actual.output == expected.output, "\(what)") }
            // A body the decoder accepts is exactly what it says it is (BodyForm, stored with the message).
            if actual.finished, actual.error == nil {
                #expect(BodyForm.scan(actual.output) == BodyForm.smtpData(lineStartsWithDot: actual.dotLine), "\(what)")
            }
        }
    }
}

/// The run scan goes sixteen octets at a time: it must stop at exactly the first CR, LF or NUL wherever
/// that falls in a block (or the tail after the last block), and not at other control octets (a tab).
@Suite struct DataDecoderRunScanTests {
    @Test func theBlockScanStopsWhereAnOctetByOctetScanStops() {
        var generator = SystemRandomNumberGenerator()
        // Mostly ordinary text, with every control octet up to CR now and then.
        let ordinary = Array("abcXYZ .-~".utf8) + [0x80, 0xFF, 0x7F, 0x0E, 0x1F]
        for _ in 0..<5000 {
            let length = Int.random(in: 0...100, using: &generator)
            let bytes = (0..<length).map { _ -> UInt8 in
                Int.random(in: 0..<40, using: &generator) == 0
                    ? UInt8.random(in: 0...0x0D, using: &generator) : ordinary.randomElement(using: &generator) ?? 0x61
            }
            let start = Int.random(in: 0...length, using: &generator)
            let expected = bytes[start...].firstIndex { $0 == 0x0D || $0 == 0x0A || $0 == 0 } ?? length
            let found = bytes.withUnsafeBytes { DataDecoder.endOfOrdinaryRun($0, from: start) }
            #expect(found == expected, "\(bytes) from \(start)")
        }
    }

    /// Long lines (many blocks per line, tabs inside) through the whole decoder, against the reference.
    @Test func longLinesAgreeWithTheReference() {
        var generator = SystemRandomNumberGenerator()
        let text = Array("abcdefgh .\t".utf8)
        for round in 0..<500 {
            var body: [UInt8] = []
            for _ in 0..<Int.random(in: 0...6, using: &generator) {
                body += (0..<Int.random(in: 0...120, using: &generator)).map { _ in text.randomElement(using: &generator) ?? 0x61 }
                switch Int.random(in: 0..<20, using: &generator) {
                case 0: body.append(0x0A)
                case 1: body.append(0)
                case 2: body.append(0x0D)
                default: body += [0x0D, 0x0A]
                }
            }
            if round % 2 == 0 { body += Array("\r\n.\r\n".utf8) }
            let maxSize = Int.random(in: 100...2000, using: &generator)
            let maxLine = Int.random(in: 40...200, using: &generator)
            let expected = referenceDecode(body, maxSize: maxSize, maxLine: maxLine)
            for split in [body.count, body.count / 3] {
                let actual = runDataDecoder([Array(body[..<split]), Array(body[split...])], maxSize: maxSize, maxLine: maxLine)
                let what = "body \(body.count) octets, split \(split), maxSize \(maxSize) maxLine \(maxLine)"
                #expect(actual.finished == expected.finished, "\(what)")
                #expect(actual.error == expected.error, "\(what)")
                if expected.finished { #expect(actual.consumed == expected.consumed, "\(what)") }
                if expected.error == nil, actual.error == nil { #expect(actual.output == expected.output, "\(what)") }
            }
        }
    }
}
