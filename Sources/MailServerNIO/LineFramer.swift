/// Command-line framing shared by the SMTP and POP3 connection handlers.
///
/// Lines end with CRLF (RFC 5321 §2.3.8, RFC 1939 §3). The limit is enforced while reading: the line end
/// is looked for only within the first `limit` octets, so `.tooLong` is reported as soon as that many
/// octets of one line are buffered without a line feed — not when the line finally ends, which may be
/// never. The rest of that line is discarded as it arrives (nothing of it is kept), up to its line feed.
/// The handlers answer `.tooLong` with an error reply and close the connection.
import NIOCore

public enum FramedLine: Equatable, Sendable {
    /// A complete line without its CRLF.
    case line([UInt8])
    /// The line passed the limit; everything up to its line feed is discarded.
    case tooLong
    /// A line ended with a bare LF (no CR before it); its bytes without the LF.
    case bareLineFeed([UInt8])
}

/// How long the next line may be, CRLF included. Lines that start with `extendedPrefix` (ASCII, compared
/// case-insensitively) may have `extendedMaxLength` octets: RFC 4954 §4 lets SMTP `AUTH` lines (and SASL
/// continuation lines) have 12288 octets while every other command line keeps the command limit.
public struct LineLimit: Equatable, Sendable {
    public var maxLength: Int
    public var extendedPrefix: [UInt8]
    public var extendedMaxLength: Int

    public init(maxLength: Int, extendedPrefix: String = "", extendedMaxLength: Int = 0) {
        self.maxLength = max(maxLength, 3)
        self.extendedPrefix = Array(extendedPrefix.utf8).map(Self.upper)
        self.extendedMaxLength = max(extendedMaxLength, self.maxLength)
    }

    /// One limit for every line.
    public static func fixed(_ maxLength: Int) -> LineLimit { LineLimit(maxLength: maxLength) }

    /// The limit for a line that begins with `start` (the bytes buffered so far).
    func maxLength(forLineStartingWith start: ByteBufferView) -> Int {
        guard !extendedPrefix.isEmpty, start.count >= extendedPrefix.count else { return maxLength }
        for (byte, expected) in zip(start, extendedPrefix) where Self.upper(byte) != expected { return maxLength }
        return extendedMaxLength
    }

    private static func upper(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") ? byte - 32 : byte
    }
}

public struct LineFramer: Sendable {
    /// The limit applied to the next line; the handler sets it before each `next(from:)` (it depends on
    /// the session's state: in a SASL exchange, before login, …).
    public var limit: LineLimit
    /// Skipping the rest of a line that was reported `.tooLong`, up to its line feed.
    public private(set) var discarding = false

    public init(maxLength: Int) {
        self.limit = .fixed(maxLength)
    }

    public var maxLength: Int { limit.maxLength }

    /// Takes the next complete line out of `buffer`, or returns nil when more bytes are needed. Bytes
    /// that can never be part of a returned line are consumed (moved past), so the caller's buffer holds
    /// at most one unfinished line of at most `limit` octets.
    public mutating func next(from buffer: inout ByteBuffer) -> FramedLine? {
        let lf = UInt8(ascii: "\n")
        while true {
            let view = buffer.readableBytesView
            if discarding {
                guard let end = view.firstIndex(of: lf) else {
                    buffer.moveReaderIndex(forwardBy: view.count)
                    return nil
                }
                buffer.moveReaderIndex(forwardBy: view.distance(from: view.startIndex, to: end) + 1)
                discarding = false
                continue
            }
            guard !view.isEmpty else { return nil }
            let maxLength = limit.maxLength(forLineStartingWith: view)
            // A line of at most maxLength octets has its LF among its first maxLength octets.
            guard let end = view.prefix(maxLength).firstIndex(of: lf) else {
                guard view.count >= maxLength else { return nil }
                // Too long: drop what is buffered of it now, and the rest as it arrives.
                if let rest = view.firstIndex(of: lf) {
                    buffer.moveReaderIndex(forwardBy: view.distance(from: view.startIndex, to: rest) + 1)
                } else {
                    buffer.moveReaderIndex(forwardBy: view.count)
                    discarding = true
                }
                return .tooLong
            }
            let lineLength = view.distance(from: view.startIndex, to: end) + 1
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
