/// The incremental byte-stuffing encoder for RETR and TOP (RFC 1939 §3, §7 RETR, §7 TOP).
///
/// RFC 1939 §3: "If any line begins with the termination octet, the line is 'byte-stuffed' by
/// pre-pending the termination octet to that line of the response." The multi-line response ends
/// with `CRLF "." CRLF`; when the stored message does not end with a line break, one is added first.
///
/// For TOP msg n (RFC 1939 §7): the header, the blank line that separates it from the body, then at
/// most n body lines. A message without a blank line is all header and is sent whole.
///
/// Line ends are made canonical while encoding: a bare LF becomes CRLF (a stored message normally
/// already uses CRLF, which passes through unchanged, so the octet count matches LIST).
public struct POP3MessageEncoder: Sendable {
    /// Body lines still to send for TOP; nil for RETR.
    private var bodyLinesLeft: Int?
    private var atLineStart = true
    /// Octets of the current line seen so far (without its LF).
    private var lineLength = 0
    private var lastWasCR = false
    private var inHeader = true
    /// True when the TOP limit has been reached; later input is ignored.
    public private(set) var isDone = false
    private var isFinished = false

    /// - Parameter topLines: nil for RETR (the whole message); for TOP the number of body lines
    ///   (negative values count as 0).
    public init(topLines: Int?) {
        bodyLinesLeft = topLines.map { max(0, $0) }
    }

    /// Encodes the next chunk of the stored message, appending the stuffed bytes to `output`.
    /// Never writes the terminating `.` line: call `finish(into:)` after the last chunk, or as
    /// soon as this returns true.
    /// - Returns: true when the TOP limit has been reached and no more input is needed.
    public mutating func encode(_ chunk: UnsafeRawBufferPointer, into output: inout [UInt8]) -> Bool {
        if isDone || isFinished { return true }
        let count = chunk.count
        output.reserveCapacity(output.count + count + count / 64 + 8)
        var index = 0
        while index < count {
            if atLineStart {
                if chunk[index] == UInt8(ascii: ".") { output.append(UInt8(ascii: ".")) }
                atLineStart = false
            }
            var end = index
            while end < count, chunk[end] != 0x0A { end += 1 }
            if end > index {
                output.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[index..<end]))
            }
            if end == count {
                // The line continues in the next chunk.
                lineLength += end - index
                if end > index { lastWasCR = chunk[end - 1] == 0x0D }
                return false
            }
            // chunk[end] is LF: complete the line.
            let endsWithCR = end > index ? chunk[end - 1] == 0x0D : lastWasCR
            if !endsWithCR { output.append(0x0D) }
            output.append(0x0A)
            lineLength += end - index
            let isEmptyLine = lineLength == 0 || (lineLength == 1 && endsWithCR)
            lineLength = 0
            lastWasCR = false
            atLineStart = true
            index = end + 1
            if lineEnded(isEmpty: isEmptyLine) {
                isDone = true
                return true
            }
        }
        return false
    }

    /// Accounts for one completed line; returns true when the TOP limit is reached.
    private mutating func lineEnded(isEmpty: Bool) -> Bool {
        if inHeader {
            if isEmpty {
                inHeader = false
                return bodyLinesLeft == 0
            }
            return false
        }
        guard let left = bodyLinesLeft else { return false }
        bodyLinesLeft = left - 1
        return left - 1 <= 0
    }

    /// Ends the response: a CRLF if the message did not end with one, then `.` CRLF.
    /// Calling it again has no effect.
    public mutating func finish(into output: inout [UInt8]) {
        guard !isFinished else { return }
        isFinished = true
        if !atLineStart {
            if !lastWasCR { output.append(0x0D) }
            output.append(0x0A)
        }
        output += [UInt8(ascii: "."), 0x0D, 0x0A]
    }

    /// Convenience for tests and small messages: encodes a whole message in one go.
    public static func encode(_ message: [UInt8], topLines: Int?) -> [UInt8] {
        var encoder = POP3MessageEncoder(topLines: topLines)
        var output: [UInt8] = []
        message.withUnsafeBytes { _ = encoder.encode($0, into: &output) }
        encoder.finish(into: &output)
        return output
    }
}
