import MailCore
import POP3Core
import Testing

@Suite struct POP3MessageEncoderTests {
    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// Encodes `message` split into chunks at the given offsets.
    static func encode(
        _ message: [UInt8], topLines: Int?, splits: [Int], form: BodyForm = []
    ) -> (output: [UInt8], stoppedEarly: Bool) {
        var encoder = POP3MessageEncoder(topLines: topLines, form: form)
        var output: [UInt8] = []
        var start = 0
        var stopped = false
        for end in splits + [message.count] where end >= start {
            let done = message[start..<end].withUnsafeBytes { encoder.encode($0, into: &output) }
            start = end
            if done { stopped = true; break }
        }
        encoder.finish(into: &output)
        return (output, stopped)
    }

    static let message = "From: a@example.test\r\nSubject: hi\r\n\r\nline 1\r\n.line 2\r\n..line 3\r\nline 4\r\n"

    static let cases: [(String, Int?, String)] = [
        // RETR: dot-stuffing, terminator.
        (message, nil, "From: a@example.test\r\nSubject: hi\r\n\r\nline 1\r\n..line 2\r\n...line 3\r\nline 4\r\n.\r\n"),
        // TOP 0: header and blank line only.
        (message, 0, "From: a@example.test\r\nSubject: hi\r\n\r\n.\r\n"),
        // TOP 1 and TOP 2 (stuffing applies to body lines).
        (message, 1, "From: a@example.test\r\nSubject: hi\r\n\r\nline 1\r\n.\r\n"),
        (message, 2, "From: a@example.test\r\nSubject: hi\r\n\r\nline 1\r\n..line 2\r\n.\r\n"),
        // TOP n beyond the body: the whole message.
        (message, 99, "From: a@example.test\r\nSubject: hi\r\n\r\nline 1\r\n..line 2\r\n...line 3\r\nline 4\r\n.\r\n"),
        // Negative TOP counts as 0.
        (message, -5, "From: a@example.test\r\nSubject: hi\r\n\r\n.\r\n"),
        // Message not ending in CRLF.
        ("Subject: x\r\n\r\nno newline", nil, "Subject: x\r\n\r\nno newline\r\n.\r\n"),
        ("Subject: x\r\n\r\nends in CR\r", nil, "Subject: x\r\n\r\nends in CR\r\n.\r\n"),
        ("Subject: x\r\n\r\n.", nil, "Subject: x\r\n\r\n..\r\n.\r\n"),
        // Empty message and empty body.
        ("", nil, ".\r\n"),
        ("", 3, ".\r\n"),
        ("Subject: x\r\n\r\n", nil, "Subject: x\r\n\r\n.\r\n"),
        ("Subject: x\r\n\r\n", 0, "Subject: x\r\n\r\n.\r\n"),
        // Header only (no blank line): TOP sends it whole.
        ("Subject: x\r\nFrom: y\r\n", 0, "Subject: x\r\nFrom: y\r\n.\r\n"),
        // A body line that is just "." and one that is a lone CRLF.
        ("S: x\r\n\r\n.\r\n\r\nend\r\n", nil, "S: x\r\n\r\n..\r\n\r\nend\r\n.\r\n"),
        ("S: x\r\n\r\n.\r\n\r\nend\r\n", 2, "S: x\r\n\r\n..\r\n\r\n.\r\n"),
        // Bare LF is made CRLF; a header line starting with "." is stuffed too.
        ("S: x\n\nbody\n.dot\n", nil, "S: x\r\n\r\nbody\r\n..dot\r\n.\r\n"),
        ("S: x\n\nbody\n.dot\n", 1, "S: x\r\n\r\nbody\r\n.\r\n"),
        (".Odd: header\r\n\r\nb\r\n", nil, "..Odd: header\r\n\r\nb\r\n.\r\n"),
        // A CR inside a line is not a line end.
        ("S: a\rb\r\n\r\nx\r\n", 0, "S: a\rb\r\n\r\n.\r\n")
    ]

    @Test(arguments: cases)
    func encodesInOneChunk(message: String, topLines: Int?, expected: String) {
        #expect(POP3MessageEncoder.encode(Self.bytes(message), topLines: topLines) == Self.bytes(expected))
    }

    @Test(arguments: cases)
    func everySplitPointGivesTheSameOutput(message: String, topLines: Int?, expected: String) {
        let input = Self.bytes(message)
        for split in 0...input.count {
            #expect(Self.encode(input, topLines: topLines, splits: [split]).output == Self.bytes(expected), "split at \(split)")
        }
    }

    @Test(arguments: cases)
    func byteAtATimeGivesTheSameOutput(message: String, topLines: Int?, expected: String) {
        let input = Self.bytes(message)
        #expect(Self.encode(input, topLines: topLines, splits: Array(0...input.count)).output == Self.bytes(expected))
    }

    @Test func everyPairOfSplitPointsGivesTheSameOutput() {
        let input = Self.bytes(Self.message)
        let expected = POP3MessageEncoder.encode(input, topLines: nil)
        for a in 0...input.count {
            for b in a...input.count {
                #expect(Self.encode(input, topLines: nil, splits: [a, b]).output == expected)
            }
        }
    }

    @Test func topSignalsDoneAndIgnoresLaterInput() {
        var encoder = POP3MessageEncoder(topLines: 1)
        var output: [UInt8] = []
        let done = Self.bytes(Self.message).withUnsafeBytes { encoder.encode($0, into: &output) }
        #expect(done)
        #expect(encoder.isDone)
        let again = Self.bytes("more\r\n").withUnsafeBytes { encoder.encode($0, into: &output) }
        #expect(again)
        encoder.finish(into: &output)
        encoder.finish(into: &output) // idempotent
        #expect(output == Self.bytes("From: a@example.test\r\nSubject: hi\r\n\r\nline 1\r\n.\r\n"))
    }

    /// `finish()` names the terminator by how the message ended: at a line start, inside a line, or after
    /// a CR whose LF is missing; once finished, nothing more.
    @Test func theTerminatorFollowsHowTheMessageEnded() {
        let endings: [(String, POP3MessageEncoder.Terminator, String)] = [
            ("S: x\r\n\r\nbody\r\n", .dotLine, ".\r\n"),
            ("S: x\r\n\r\nbody", .lineEndThenDotLine, "\r\n.\r\n"),
            ("S: x\r\n\r\nbody\r", .lineFeedThenDotLine, "\n.\r\n"),
            ("", .dotLine, ".\r\n")
        ]
        for (message, terminator, text) in endings {
            var encoder = POP3MessageEncoder(topLines: nil)
            var output: [UInt8] = []
            _ = Self.bytes(message).withUnsafeBytes { encoder.encode($0, into: &output) }
            #expect(encoder.finish() == terminator)
            #expect(terminator.bytes == Self.bytes(text))
            #expect(encoder.finish() == .none)
            #expect(POP3MessageEncoder.encode(Self.bytes(message), topLines: nil).suffix(text.utf8.count) == Self.bytes(text)[...])
        }
    }

    @Test func retrNeverSignalsDone() {
        var encoder = POP3MessageEncoder(topLines: nil)
        var output: [UInt8] = []
        let done = Self.bytes(Self.message).withUnsafeBytes { encoder.encode($0, into: &output) }
        #expect(!done)
        #expect(!encoder.isDone)
    }

    @Test func topStopsInTheMiddleOfAChunk() {
        let result = Self.encode(Self.bytes(Self.message), topLines: 0, splits: [])
        #expect(result.stoppedEarly)
    }

    @Test func stuffedOutputNeverContainsABareTerminator() {
        // Lines of dots of every length up to 5, each stuffed by exactly one dot.
        let body = (1...5).map { String(repeating: ".", count: $0) + "\r\n" }.joined()
        let output = POP3MessageEncoder.encode(Self.bytes("S: x\r\n\r\n" + body), topLines: nil)
        let expectedBody = (1...5).map { String(repeating: ".", count: $0 + 1) + "\r\n" }.joined()
        #expect(output == Self.bytes("S: x\r\n\r\n" + expectedBody + ".\r\n"))
    }

    @Test func cleanCRLFTextIsPassedAsOneRunOfTheInputItself() {
        let input = Self.bytes("Subject: x\r\n\r\nline 1\r\nline 2\r\n")
        var encoder = POP3MessageEncoder(topLines: nil)
        input.withUnsafeBytes { chunk in
            var runs: [(UnsafeRawPointer?, Int)] = []
            _ = encoder.encode(chunk) { runs.append(($0.baseAddress, $0.count)) }
            #expect(runs.count == 1)
            #expect(runs.first?.0 == chunk.baseAddress && runs.first?.1 == chunk.count)
        }
    }

    @Test func insertionsSplitTheRuns() {
        var encoder = POP3MessageEncoder(topLines: nil)
        var runs: [[UInt8]] = []
        _ = Self.bytes("a\r\n.b\nc\r\n").withUnsafeBytes { encoder.encode($0) { runs.append(Array($0)) } }
        #expect(runs == [Self.bytes("a\r\n"), Self.bytes("."), Self.bytes(".b"), Self.bytes("\r"), Self.bytes("\nc\r\n")])
    }

    /// The stuffing rules written the plain way, line by line (RETR only).
    static func reference(_ input: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var line: [UInt8] = []
        func emit(_ line: [UInt8], ended: Bool) {
            if line.first == UInt8(ascii: ".") { out.append(UInt8(ascii: ".")) }
            out += line
            if line.last != 0x0D { out.append(0x0D) }
            out.append(0x0A)
        }
        for byte in input {
            if byte == 0x0A { emit(line, ended: true); line = [] } else { line.append(byte) }
        }
        if !line.isEmpty { emit(line, ended: false) }
        return out + Self.bytes(".\r\n")
    }

    @Test func randomInputMatchesTheReferenceAtRandomSplits() {
        var rng = SplitMix(seed: 0x5EED_0F_D075)
        let alphabet: [UInt8] = [UInt8(ascii: "."), 0x0D, 0x0A, UInt8(ascii: "a"), UInt8(ascii: "b")]
        for _ in 0..<400 {
            let length = Int(rng.next() % 80)
            let input = (0..<length).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            let splits = (0..<Int(rng.next() % 4)).map { _ in Int(rng.next() % UInt64(length + 1)) }.sorted()
            #expect(
                Self.encode(input, topLines: nil, splits: splits).output == Self.reference(input),
                "input \(input) splits \(splits)")
        }
    }

    /// A message whose stored form says nothing needs doing (`BodyForm.isPOP3Verbatim`, recorded by the
    /// SMTP DATA decoder) is sent as it is: for every such message, at any split, RETR gives what the
    /// line-by-line encoder gives, and the reference too.
    @Test func verbatimRetrGivesWhatTheEncoderGives() {
        var rng = SplitMix(seed: 0xB0D7_F0E3)
        let alphabet: [[UInt8]] = [[UInt8(ascii: ".")], [0x0D, 0x0A], [UInt8(ascii: "a")], [UInt8(ascii: "b")], [0x0D]]
        var checked = 0
        for _ in 0..<2000 {
            let input = (0..<Int(rng.next() % 30)).flatMap { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            let form = BodyForm.scan(input)
            guard form.isPOP3Verbatim else { continue }
            checked += 1
            let length = input.count
            let splits = (0..<Int(rng.next() % 4)).map { _ in Int(rng.next() % UInt64(length + 1)) }.sorted()
            let verbatim = Self.encode(input, topLines: nil, splits: splits, form: form).output
            #expect(verbatim == Self.encode(input, topLines: nil, splits: splits).output, "input \(input) splits \(splits)")
            #expect(verbatim == Self.reference(input), "input \(input)")
            #expect(verbatim == input + Self.bytes(".\r\n"), "input \(input)")
        }
        #expect(checked > 100)
    }

    /// TOP still counts lines whatever the form says; only RETR goes verbatim.
    @Test func topIgnoresTheForm() {
        let message = Self.bytes("Subject: a\r\n\r\nline 1\r\nline 2\r\n")
        let form = BodyForm.scan(message)
        #expect(form.isPOP3Verbatim)
        #expect(Self.encode(message, topLines: 1, splits: [], form: form).output == Self.bytes("Subject: a\r\n\r\nline 1\r\n.\r\n"))
    }

    /// A form recorded wrongly cannot make the response run on: the terminator comes from the last octets
    /// sent, so the client still sees the end of the message.
    @Test func aWrongFormStillEndsTheResponse() {
        let form: BodyForm = [.crlfLines, .noDotLineStart, .noNUL]
        #expect(Self.encode(Self.bytes("abc"), topLines: nil, splits: [1], form: form).output == Self.bytes("abc\r\n.\r\n"))
        #expect(Self.encode(Self.bytes("abc\r"), topLines: nil, splits: [], form: form).output == Self.bytes("abc\r\n.\r\n"))
        #expect(Self.encode([], topLines: nil, splits: [], form: form).output == Self.bytes(".\r\n"))
    }
}
