/// Incremental, strict decoder for the DATA body (RFC 5321 §4.1.1.4 end of data, §4.5.2 transparency,
/// §4.5.3.1.6 text line length). Fed whatever the socket delivers; every split of the input gives the
/// same result.
///
/// - The body ends only at CRLF "." CRLF (the CRLF of the DATA command counts as the first CRLF, so a
///   body starting with ".\r\n" is empty). The final ".\r\n" is not part of the output.
/// - A line starting with "." has that dot removed (dot-unstuffing).
/// - A bare CR or LF is an error (`.bareLineEnding`, like chasquid and Postfix
///   `smtpd_forbid_bare_newline`): decoding stops at once with `finished == true`; the session closes.
/// - Lines longer than `maxLineLength` octets including CRLF (counted as transmitted, with a stuffing
///   dot) and bodies over `maxMessageSize` octets set `.lineTooLong` / `.tooLarge`; the decoder then
///   stops appending but keeps consuming until the end marker, so the client stays in sync.
/// - A NUL octet (excluded from message text by RFC 5322 §2.1 / §3.5 and from 8BITMIME bodies by
///   RFC 6152 §3) sets `.nulCharacter` the same way: nothing more is appended, the rest is consumed up to
///   the end marker, and the session refuses the message (554 5.6.0) — it is never stored.
/// - What a stored message needs from a POP3 RETR is known here for free: no bare line end and no NUL
///   get through, and `lineStartsWithDot` says whether a decoded line starts with "." (`BodyForm`).
/// - The decoded octets pass through a `ReceivedFieldCounter` (`receivedFields`): the `Received:` fields
///   of the header section, counted in bounded state for the mail-loop check at the end of DATA
///   (`HopCount`, RFC 5321 §6.3).
import MailCore

public struct DataDecoder: Sendable {
    enum State: Sendable {
        case lineStart // after CRLF (or at the very start)
        case inLine // inside a line
        case sawCR // a CR was seen, LF must follow
        case dotAtStart // a "." at line start: stuffing or the end marker
        case dotCR // "." CR at line start: LF ends the data
        case done
    }

    public let maxMessageSize: Int
    public let maxLineLength: Int
    private var state: State = .lineStart
    private var lineLength = 0
    public private(set) var error: BodyOutcome?
    public private(set) var octetsDecoded: Int64 = 0
    /// A decoded line starts with "." (it came as ".." with its stuffing dot): a POP3 RETR of the stored
    /// message must stuff it again (`BodyForm.smtpData(lineStartsWithDot:)`).
    public private(set) var lineStartsWithDot = false
    private var receivedCounter: ReceivedFieldCounter

    public init(maxMessageSize: Int, maxLineLength: Int, hopCount: HopCount = HopCount()) {
        self.maxMessageSize = maxMessageSize
        self.maxLineLength = maxLineLength
        self.receivedCounter = hopCount.makeCounter()
    }

    /// `Received:` header fields in the decoded message so far (header section only, within the scan limit).
    public var receivedFields: Int { receivedCounter.count }

    /// True once the end marker (or a bare line ending) was seen.
    public var isFinished: Bool { if case .done = state { return true } else { return false } }

    /// Consumes bytes after the 354; appends dot-unstuffed body bytes to `output`. Returns how many input
    /// bytes were consumed (bytes after the end marker are not) and whether the data is complete.
    public mutating func decode(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) -> (consumed: Int, finished: Bool) {
        let start = output.count
        let result = decodeBytes(input, into: &output)
        if !receivedCounter.isFinished, output.count > start { receivedCounter.feed(output[start...]) }
        return result
    }

    private mutating func decodeBytes(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) -> (consumed: Int, finished: Bool) {
        if case .done = state { return (0, true) }
        let maxContent = max(0, maxLineLength - 2)
        var runStart = 0 // start of the pending run of output bytes in `input`
        var index = 0
        let count = input.count
        func flush(_ end: Int) {
            if error == nil, end > runStart { output.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[runStart..<end])) }
        }
        while index < count {
            let byte = input[index]
            switch state {
            case .lineStart:
                if byte == UInt8(ascii: ".") {
                    flush(index)
                    runStart = index + 1
                    state = .dotAtStart
                    lineLength = 1
                } else if byte == 0x0D {
                    state = .sawCR
                    emitted(1)
                } else if byte == 0x0A {
                    return bare(consumed: index + 1, output: &output)
                } else {
                    state = .inLine
                    lineLength = 1
                    emitted(1)
                    if byte == 0, error == nil { fail(.nulCharacter, at: index, output: &output, runStart: runStart) }
                }
            case .inLine:
                // The run of ordinary octets up to the next CR, LF or NUL, in one tight loop instead of one
                // trip through this switch per octet (most of a body is such runs).
                let end = Self.endOfOrdinaryRun(input, from: index)
                if end > index {
                    let length = end - index
                    if error == nil {
                        // The first octet of the run over each limit; the earlier one is the error, as if
                        // the octets had been counted one by one (the line limit wins a tie).
                        let overLine = maxContent - lineLength
                        let overSize = Int64(maxMessageSize) - octetsDecoded
                        if overLine < length, Int64(overLine) <= overSize {
                            fail(.lineTooLong, at: index + overLine, output: &output, runStart: runStart)
                        } else if overSize < Int64(length) {
                            fail(.tooLarge, at: index + Int(overSize), output: &output, runStart: runStart)
                        }
                    }
                    lineLength += length
                    emitted(Int64(length))
                    index = end
                    continue
                }
                if byte == 0x0D {
                    state = .sawCR
                    emitted(1)
                } else if byte == 0x0A {
                    return bare(consumed: index + 1, output: &output)
                } else {
                    lineLength += 1
                    emitted(1)
                    if byte == 0, error == nil { fail(.nulCharacter, at: index, output: &output, runStart: runStart) }
                    if lineLength > maxContent, error == nil { fail(.lineTooLong, at: index, output: &output, runStart: runStart) }
                }
            case .sawCR:
                guard byte == 0x0A else { return bare(consumed: index + 1, output: &output) }
                state = .lineStart
                lineLength = 0
                emitted(1)
            case .dotAtStart:
                if byte == 0x0D {
                    state = .dotCR
                    runStart = index + 1
                } else if byte == 0x0A {
                    return bare(consumed: index + 1, output: &output)
                } else {
                    // Stuffed dot: drop it, keep this byte (run started after the dot).
                    if byte == UInt8(ascii: ".") { lineStartsWithDot = true }
                    state = .inLine
                    lineLength += 1
                    emitted(1)
                    if byte == 0, error == nil { fail(.nulCharacter, at: index, output: &output, runStart: runStart) }
                    if lineLength > maxContent, error == nil { fail(.lineTooLong, at: index, output: &output, runStart: runStart) }
                }
            case .dotCR:
                guard byte == 0x0A else { return bare(consumed: index + 1, output: &output) }
                state = .done
                return (index + 1, true)
            case .done:
                return (index, true)
            }
            if error == nil, octetsDecoded > Int64(maxMessageSize) {
                fail(.tooLarge, at: index, output: &output, runStart: runStart)
            }
            index += 1
        }
        if case .dotCR = state {} else if case .dotAtStart = state {} else { flush(count) }
        return (count, false)
    }

    /// The index of the first CR, LF or NUL at or after `start` (or `input.count`).
    ///
    /// Sixteen octets at a time while none of them is a control octet up to CR (all three are ≤ 0x0D): one
    /// vector compare per block instead of a branch per octet. A block holding one (a tab, or the line's
    /// end) is looked at octet by octet, and the scan goes on by blocks after it.
    @inline(__always) static func endOfOrdinaryRun(_ input: UnsafeRawBufferPointer, from start: Int) -> Int {
        @inline(__always) func isSpecial(_ byte: UInt8) -> Bool { byte <= 0x0D && (byte == 0x0D || byte == 0x0A || byte == 0) }
        let count = input.count
        guard let base = input.baseAddress else { return start }
        let highestSpecial = SIMD16<UInt8>(repeating: 0x0D)
        var end = start
        while end + 16 <= count {
            let block = (base + end).loadUnaligned(as: SIMD16<UInt8>.self)
            if any(block .<= highestSpecial) {
                for offset in 0..<16 where isSpecial(block[offset]) { return end + offset }
            }
            end += 16
        }
        while end < count, !isSpecial(input[end]) { end += 1 }
        return end
    }

    @inline(__always) private mutating func emitted(_ n: Int64) { octetsDecoded += n }

    private mutating func fail(_ outcome: BodyOutcome, at index: Int, output: inout [UInt8], runStart: Int) {
        // Bytes of the current run are not appended once an error is known (the body is discarded).
        error = outcome
    }

    private mutating func bare(consumed: Int, output: inout [UInt8]) -> (consumed: Int, finished: Bool) {
        error = .bareLineEnding
        state = .done
        return (consumed, true)
    }
}
