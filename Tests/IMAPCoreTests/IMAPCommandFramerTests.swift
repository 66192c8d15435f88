import Testing

@testable import IMAPCore

@Suite struct IMAPCommandFramerTests {
    @Test func plainLinesCRLFAndBareLF() {
        #expect(
            frames("a NOOP\r\nb CAPABILITY\nc LOGOUT\r\n")
                == [.command(bytes("a NOOP")), .command(bytes("b CAPABILITY")), .command(bytes("c LOGOUT"))])
        #expect(frames("a NOOP") == [])
    }

    @Test func synchronizingLiteralAsksForContinuation() {
        #expect(
            frames("a LOGIN {5}\r\nalice {6}\r\nsecret\r\n")
                == [.continuationRequest, .continuationRequest, .command(bytes("a LOGIN {5}\r\nalice {6}\r\nsecret"))])
        // Before the continuation the literal octets have not arrived: no command yet.
        #expect(frames("a LOGIN {5}\r\n") == [.continuationRequest])
    }

    @Test func nonSynchronizingAndLiteral8() {
        #expect(frames("a LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n") == [.command(bytes("a LOGIN {5+}\r\nalice {6+}\r\nsecret"))])
        #expect(frames("a APPEND INBOX ~{3}\r\n\0\r\n\r\n") == [.continuationRequest, .command(bytes("a APPEND INBOX ~{3}\r\n\0\r\n"))])
        #expect(frames("a APPEND INBOX ~{3+}\r\nabc\r\n") == [.command(bytes("a APPEND INBOX ~{3+}\r\nabc"))])
        #expect(frames("a LOGIN {0}\r\n {0+}\r\n\r\n") == [.continuationRequest, .command(bytes("a LOGIN {0}\r\n {0+}\r\n"))])
    }

    /// `{n-}` is not a literal header in any RFC (LITERAL- uses `{n+}`): the line is a whole command,
    /// which then fails to parse.
    @Test func minusFormIsNotALiteral() {
        #expect(frames("a LOGIN {5-}\r\nalice\r\n") == [.command(bytes("a LOGIN {5-}")), .command(bytes("alice"))])
        #expect(parseError("a LOGIN {5-}")?.tag == "a")
        #expect(frames("a X {12345678901234567890}\r\n") == [.command(bytes("a X {12345678901234567890}"))])
    }

    /// The literal's octets are taken verbatim, CRLF and "{n}" inside included.
    @Test func literalContentIsOpaque() {
        #expect(
            frames("a LOGIN {8}\r\n{2}\r\nx\r\n {1}\r\ny\r\n")
                == [.continuationRequest, .continuationRequest, .command(bytes("a LOGIN {8}\r\n{2}\r\nx\r\n {1}\r\ny"))])
    }

    /// Every split of the input gives the same frames (the ByteToMessageDecoderVerifier idea).
    @Test(arguments: [
        "a LOGIN {5}\r\nalice {6+}\r\nsecret\r\nb NOOP\r\n",
        "x APPEND INBOX (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {10}\r\n0123456789\r\ny LOGOUT\r\n",
        "t SEARCH CHARSET UTF-8 SUBJECT {4+}\r\n\u{00e9}\u{00e9} TEXT ~{2}\r\nab\r\n"
    ])
    func everySplitGivesTheSameFrames(input: String) {
        let whole = frames(input)
        #expect(!whole.isEmpty)
        let b = bytes(input)
        for size in 1...b.count { #expect(frames(b, pieceSize: size) == whole, "piece size \(size)") }
    }

    /// Two pieces, split at every position: the same frames.
    @Test func twoPiecesSplitAnywhere() {
        let input = bytes("a APPEND INBOX (\\Seen) {5}\r\nhello\r\nb LOGIN {3+}\r\nbob ~{2}\r\nxy\r\nc NOOP\r\n")
        let whole = frames(text(input))
        #expect(whole.count == 5)
        for k in 0...input.count {
            var f = IMAPCommandFramer()
            var got: [IMAPFrame] = []
            f.append(input[..<k])
            while let frame = f.next() { got.append(frame) }
            f.append(input[k...])
            while let frame = f.next() { got.append(frame) }
            #expect(got == whole, "split at \(k)")
        }
    }

    /// A line with no LF: the limit is reported once the count passes it, and nothing more is buffered
    /// while the rest of the line streams in.
    @Test func overlongLineIsCutWhileArriving() {
        var limits = IMAPFramingLimits()
        limits.maxLineLength = 1000
        var f = IMAPCommandFramer(limits: limits)
        f.append(bytes("tag1 NOOP "))
        #expect(f.next() == nil)
        f.append([UInt8](repeating: 0x41, count: 999))
        #expect(f.next() == .error(.lineTooLong(tag: "tag1")))
        for _ in 0..<100 {
            f.append([UInt8](repeating: 0x41, count: 10_000))
            #expect(f.next() == nil)
            #expect(f.bufferedByteCount == 0)
        }
        f.append(bytes("\r\nb NOOP\r\n"))
        #expect(f.next() == .command(bytes("b NOOP")))
    }

    @Test func literalLimitsAreCheckedAtTheHeader() {
        var limits = IMAPFramingLimits()
        limits.maxLiteralSize = 10
        limits.maxAppendSize = 100
        // Synchronizing: refused, the next command is read normally.
        #expect(
            frames("a LOGIN {11}\r\nb NOOP\r\n", limits: limits)
                == [.error(.literalTooLarge(tag: "a", size: 11, synchronizing: true, isAppend: false)), .command(bytes("b NOOP"))])
        // APPEND has its own limit.
        #expect(frames("a APPEND INBOX {100}\r\n", limits: limits) == [.continuationRequest])
        #expect(
            frames("a append INBOX {101}\r\n", limits: limits)
                == [.error(.literalTooLarge(tag: "a", size: 101, synchronizing: true, isAppend: true))])
        // Non-synchronizing: the octets are on their way; the framer stops.
        var f = IMAPCommandFramer(limits: limits)
        f.append(bytes("a LOGIN {11+}\r\nxxxxxxxxxxx b NOOP\r\n"))
        #expect(f.next() == .error(.literalTooLarge(tag: "a", size: 11, synchronizing: false, isAppend: false)))
        #expect(f.next() == nil)
        f.append(bytes("c NOOP\r\n"))
        #expect(f.next() == nil)
        // A literal of 2^63-ish octets never reaches an Int conversion.
        #expect(
            frames("a LOGIN {9223372036854775807}\r\n", limits: limits)
                == [.error(.literalTooLarge(tag: "a", size: 9_223_372_036_854_775_807, synchronizing: true, isAppend: false))])
    }

    @Test func commandSizeLimitCountsLiteralsAndLines() {
        var limits = IMAPFramingLimits()
        limits.maxLiteralSize = 100
        limits.maxCommandSize = 150
        let input = "a LOGIN {100+}\r\n" + String(repeating: "x", count: 100) + " {100+}\r\n"
        let result = frames(input, limits: limits)
        #expect(result == [.error(.literalTooLarge(tag: "a", size: 100, synchronizing: false, isAppend: false))])
    }

    @Test func lineModeIgnoresLiterals() {
        #expect(frames("dGVzdA== {5}\r\nDONE\r\n", mode: .line) == [.line(bytes("dGVzdA== {5}")), .line(bytes("DONE"))])
    }

    @Test func discardBufferedDropsPipelinedInput() {
        var f = IMAPCommandFramer()
        f.append(bytes("a STARTTLS\r\nb LOGIN x y\r\nc NO"))
        #expect(f.next() == .command(bytes("a STARTTLS")))
        f.discardBuffered()
        #expect(f.next() == nil)
        #expect(f.bufferedByteCount == 0)
        f.append(bytes("d NOOP\r\n"))
        #expect(f.next() == .command(bytes("d NOOP")))
    }
}
