import MailCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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

    /// RETR of octets that need nothing done (`BodyForm.isPOP3Verbatim`): each chunk is handed on whole,
    /// with no look at its lines.
    private let verbatim: Bool

    /// - Parameter topLines: nil for RETR (the whole message); for TOP the number of body lines
    ///   (negative values count as 0).
    /// - Parameter form: what the store knows about the message's octets. When no line needs stuffing or
    ///   repair, RETR sends the chunks as they are (TOP still counts lines). The terminator is still made
    ///   from the last octets sent, so it is right even for a message whose form was recorded wrongly.
    public init(topLines: Int?, form: BodyForm = []) {
        bodyLinesLeft = topLines.map { max(0, $0) }
        verbatim = topLines == nil && form.isPOP3Verbatim
    }

    /// Encodes the next chunk of the stored message, appending the stuffed bytes to `output`.
    /// Never writes the terminating `.` line: call `finish(into:)` after the last chunk, or as
    /// soon as this returns true.
    /// - Returns: true when the TOP limit has been reached and no more input is needed.
    public mutating func encode(_ chunk: UnsafeRawBufferPointer, into output: inout [UInt8]) -> Bool {
        output.reserveCapacity(output.count + chunk.count + chunk.count / 64 + 8)
        return encode(chunk) { output.append(contentsOf: $0) }
    }

    /// Encodes the next chunk, handing the output to `emit` in runs: stretches of input that need no
    /// change (CRLF lines not starting with ".") are passed as slices of `chunk` itself, so a caller can
    /// copy them straight into its output buffer; an inserted "." or CR is a run of its own. The runs are
    /// only valid during the call. Same contract as `encode(_:into:)` otherwise.
    public mutating func encode(_ chunk: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) -> Void) -> Bool {
        if isDone || isFinished { return true }
        guard let base = chunk.baseAddress else { return false }
        let count = chunk.count
        if verbatim {
            if count > 0 {
                emit(chunk)
                atLineStart = chunk[count - 1] == 0x0A
                lastWasCR = chunk[count - 1] == 0x0D
            }
            return false
        }
        var runStart = 0
        var index = 0
        func flush(upTo end: Int) {
            if end > runStart { emit(UnsafeRawBufferPointer(start: base + runStart, count: end - runStart)) }
            runStart = end
        }
        while index < count {
            if atLineStart {
                if chunk[index] == UInt8(ascii: ".") {
                    flush(upTo: index)
                    withUnsafeBytes(of: UInt8(ascii: ".")) { emit($0) }
                }
                atLineStart = false
            }
            // The line's LF, found with memchr (vectorised) rather than octet by octet.
            let lf = memchr(base + index, 0x0A, count - index).map { $0 - UnsafeMutableRawPointer(mutating: base) }
            guard let end = lf else {
                // The line continues in the next chunk.
                lineLength += count - index
                lastWasCR = chunk[count - 1] == 0x0D
                break
            }
            let endsWithCR = end > index ? chunk[end - 1] == 0x0D : lastWasCR
            if !endsWithCR {
                flush(upTo: end)
                withUnsafeBytes(of: UInt8(0x0D)) { emit($0) }
            }
            lineLength += end - index
            let isEmptyLine = lineLength == 0 || (lineLength == 1 && endsWithCR)
            lineLength = 0
            lastWasCR = false
            atLineStart = true
            index = end + 1
            if lineEnded(isEmpty: isEmptyLine) {
                flush(upTo: index)
                isDone = true
                return true
            }
        }
        flush(upTo: count)
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

    /// What ends the response: "." CRLF, after a line end when the message did not end with one.
    public enum Terminator: Sendable, CaseIterable {
        /// `finish` was called already: nothing more.
        case none
        /// "." CRLF.
        case dotLine
        /// CRLF "." CRLF: the message ended in the middle of a line.
        case lineEndThenDotLine
        /// LF "." CRLF: the message ended with a CR (its LF was missing).
        case lineFeedThenDotLine

        public var bytes: [UInt8] {
            switch self {
            case .none: []
            case .dotLine: [UInt8(ascii: "."), 0x0D, 0x0A]
            case .lineEndThenDotLine: [0x0D, 0x0A, UInt8(ascii: "."), 0x0D, 0x0A]
            case .lineFeedThenDotLine: [0x0A, UInt8(ascii: "."), 0x0D, 0x0A]
            }
        }
    }

    /// Ends the response and says with what (one of four fixed texts, so a caller can keep them ready).
    /// Calling it again gives `.none`.
    public mutating func finish() -> Terminator {
        guard !isFinished else { return .none }
        isFinished = true
        if atLineStart { return .dotLine }
        return lastWasCR ? .lineFeedThenDotLine : .lineEndThenDotLine
    }

    /// Ends the response: a CRLF if the message did not end with one, then `.` CRLF.
    /// Calling it again has no effect.
    public mutating func finish(into output: inout [UInt8]) {
        output += finish().bytes
    }

    /// Convenience for tests and small messages: encodes a whole message in one go.
    public static func encode(_ message: [UInt8], topLines: Int?, form: BodyForm = []) -> [UInt8] {
        var encoder = POP3MessageEncoder(topLines: topLines, form: form)
        var output: [UInt8] = []
        message.withUnsafeBytes { _ = encoder.encode($0, into: &output) }
        encoder.finish(into: &output)
        return output
    }
}
