/// A bounded transcript of one client connection for the debug log of a failed session: commands as
/// sent ("C: ...") and reply lines as received ("S: ..."), the last `limit` lines only. AUTH payloads
/// are replaced by "<hidden>" and the message body is never recorded (only its size).

public struct SMTPClientTranscript: Hashable, Sendable {
    public let limit: Int
    public private(set) var lines: [String] = []
    /// Lines dropped from the front because of the limit.
    public private(set) var droppedLines = 0

    public init(limit: Int = 50) {
        self.limit = max(limit, 1)
    }

    public mutating func client(_ text: String) { append("C: " + text) }

    public mutating func server(_ reply: SMTPReply) {
        let code = String(reply.code.rawValue)
        let enhanced = reply.enhanced.map { $0.description + " " } ?? ""
        for (index, line) in reply.lines.enumerated() {
            let separator = index == reply.lines.count - 1 ? " " : "-"
            append("S: " + code + separator + enhanced + line)
        }
    }

    public mutating func note(_ text: String) { append("-- " + text) }

    private mutating func append(_ line: String) {
        // Keep each line bounded as well: a transcript is for logs.
        lines.append(line.count > 300 ? String(line.prefix(300)) + "..." : line)
        if lines.count > limit {
            let excess = lines.count - limit
            lines.removeFirst(excess)
            droppedLines += excess
        }
    }

    /// The lines joined with newlines, with a marker when earlier lines were dropped.
    public var text: String {
        let head = droppedLines > 0 ? ["-- (\(droppedLines) earlier lines dropped)"] : []
        return (head + lines).joined(separator: "\n")
    }
}
