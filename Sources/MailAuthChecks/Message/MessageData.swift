import Foundation

/// A whole message (header and body, CRLF line ends) in memory or in a spool file, read in chunks so a
/// large message is never held in memory twice.
public enum MessageData: Sendable {
    case bytes([UInt8])
    case file(path: String)

    public struct ReadError: Error, CustomStringConvertible { public var description: String }

    static let chunkSize = 64 * 1024

    /// At most `max` octets from the start (enough to parse the header section).
    public func prefix(_ max: Int) throws -> [UInt8] {
        switch self {
        case .bytes(let b):
            return Array(b.prefix(max))
        case .file(let path):
            guard let h = FileHandle(forReadingAtPath: path) else { throw ReadError(description: "cannot open \(path)") }
            defer { try? h.close() }
            return Array(try h.read(upToCount: max) ?? Data())
        }
    }

    /// Calls `body` with successive chunks from `offset` to the end.
    public func forEachChunk(from offset: Int, _ body: (ArraySlice<UInt8>) throws -> Void) throws {
        switch self {
        case .bytes(let b):
            var i = min(max(0, offset), b.count)
            while i < b.count {
                let j = min(b.count, i + Self.chunkSize)
                try body(b[i..<j])
                i = j
            }
        case .file(let path):
            guard let h = FileHandle(forReadingAtPath: path) else { throw ReadError(description: "cannot open \(path)") }
            defer { try? h.close() }
            try h.seek(toOffset: UInt64(max(0, offset)))
            while true {
                guard let data = try h.read(upToCount: Self.chunkSize), !data.isEmpty else { break }
                try body(ArraySlice(data))
            }
        }
    }

    /// The header section (read from at most the first `limit` octets).
    public func header(limit: Int = 1 << 20) throws -> MessageHeader {
        let bytes = try prefix(limit + 1)
        return MessageHeader.parse(bytes, limit: limit)
    }
}
