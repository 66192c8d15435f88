/// Command-line framing shared by the SMTP and POP3 connection handlers.
///
/// Lines end with CRLF (RFC 5321 §2.3.8, RFC 1939 §3). The limit is enforced while reading: a line that
/// grows past `maxLength` octets (CRLF included) is discarded as it arrives and reported once as `.tooLong`
/// when its end is seen, so a client cannot make the server buffer an unbounded line.
import NIOCore

public enum FramedLine: Equatable, Sendable {
    /// A complete line without its CRLF.
    case line([UInt8])
    /// A line longer than the limit was discarded.
    case tooLong
    /// A line ended with a bare LF (no CR before it); its bytes without the LF.
    case bareLineFeed([UInt8])
}

public struct LineFramer: Sendable {
    public let maxLength: Int
    private var discarding = false

    public init(maxLength: Int) {
        self.maxLength = max(maxLength, 3)
    }

    /// Takes the next complete line out of `buffer`, or returns nil when more bytes are needed.
    public mutating func next(from buffer: inout ByteBuffer) -> FramedLine? {
        while true {
            let view = buffer.readableBytesView
            guard let lf = view.firstIndex(of: UInt8(ascii: "\n")) else {
                if view.count > maxLength {
                    // Keep the last byte: it may be the CR of a CRLF split across reads.
                    buffer.moveReaderIndex(forwardBy: view.count - 1)
                    discarding = true
                }
                return nil
            }
            let lineLength = view.distance(from: view.startIndex, to: lf) + 1
            if discarding {
                buffer.moveReaderIndex(forwardBy: lineLength)
                discarding = false
                return .tooLong
            }
            if lineLength > maxLength {
                buffer.moveReaderIndex(forwardBy: lineLength)
                return .tooLong
            }
            let bytes = buffer.readBytes(length: lineLength) ?? []
            if bytes.count >= 2, bytes[bytes.count - 2] == UInt8(ascii: "\r") {
                return .line(Array(bytes.dropLast(2)))
            }
            return .bareLineFeed(Array(bytes.dropLast(1)))
        }
    }

    /// Forgets a partly discarded line (used when the connection switches mode, e.g. after STARTTLS).
    public mutating func reset() { discarding = false }
}
