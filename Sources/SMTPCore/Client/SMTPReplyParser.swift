/// Incremental parser for the replies an SMTP server sends to a client (RFC 5321 §4.2 reply syntax,
/// §4.2.1 multi-line replies, §4.5.3.1.5 reply-line length; enhanced status codes RFC 2034 §4 / RFC 3463 §2).
///
/// Bytes go in with `feed`, complete replies come out of `next()`. The parser frames lines itself (CRLF;
/// a bare LF is tolerated as a line end, as Postfix and most clients do), enforces a limit on the length of
/// one line and on the number of lines of one reply while reading, and never crashes on bad input: every
/// malformed reply is an `SMTPReplyParseError`. After STARTTLS (RFC 3207 §4.2) the adapter calls `reset()`
/// so plaintext bytes that followed the 220 are never read as replies.
import MailCore

/// Why a server reply could not be parsed. The connection cannot be trusted after any of these.
public enum SMTPReplyParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A line grew past `maxLineLength` octets.
    case lineTooLong(limit: Int)
    /// A reply had more than `maxLines` lines.
    case tooManyLines(limit: Int)
    /// A line that is not `3DIGIT [("-" / SP) text]` with a code 2yz–5yz.
    case malformedLine(String)
    /// The lines of one multi-line reply carry different codes (RFC 5321 §4.2.1: they must be the same).
    case inconsistentCode(first: Int, line: Int)

    public var description: String {
        switch self {
        case .lineTooLong(let limit): return "reply line longer than \(limit) octets"
        case .tooManyLines(let limit): return "reply with more than \(limit) lines"
        case .malformedLine(let line): return "malformed reply line \"\(line)\""
        case .inconsistentCode(let first, let line): return "multi-line reply changed its code from \(first) to \(line)"
        }
    }
}

public struct SMTPReplyParser: Sendable {
    /// RFC 5321 §4.5.3.1.5 allows 512 octets per reply line; real servers send longer EHLO/banner lines,
    /// so the default is generous but bounded.
    public static let defaultMaxLineLength = 4096
    /// An EHLO reply has one line per extension; 100 lines is far more than any server sends.
    public static let defaultMaxLines = 100

    public let maxLineLength: Int
    public let maxLines: Int

    private var buffer: [UInt8] = []
    /// Where to continue searching for LF in `buffer`.
    private var scanned = 0
    private var pendingCode: Int?
    private var pendingLines: [[UInt8]] = []

    public init(maxLineLength: Int = SMTPReplyParser.defaultMaxLineLength, maxLines: Int = SMTPReplyParser.defaultMaxLines) {
        self.maxLineLength = max(maxLineLength, 8)
        self.maxLines = max(maxLines, 1)
    }

    /// Appends received octets.
    public mutating func feed(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// True when octets are buffered that do not form a complete reply yet.
    public var hasBufferedInput: Bool { !buffer.isEmpty || !pendingLines.isEmpty }

    /// Drops everything buffered (after the 220 to STARTTLS: RFC 3207 §4.2, the CVE-2011-0411 class of bug).
    public mutating func reset() {
        buffer.removeAll(keepingCapacity: false)
        scanned = 0
        pendingCode = nil
        pendingLines.removeAll()
    }

    /// The next complete reply, nil when more octets are needed.
    /// After an error the parser's state is unspecified: close the connection.
    public mutating func next() throws(SMTPReplyParseError) -> SMTPReply? {
        while true {
            guard let line = try nextLine() else { return nil }
            let parsed = try Self.parseLine(line)
            if let first = pendingCode, first != parsed.code {
                throw .inconsistentCode(first: first, line: parsed.code)
            }
            pendingCode = parsed.code
            pendingLines.append(parsed.text)
            if pendingLines.count > maxLines { throw .tooManyLines(limit: maxLines) }
            if parsed.isLast {
                let reply = Self.makeReply(code: parsed.code, lines: pendingLines)
                pendingCode = nil
                pendingLines.removeAll()
                return reply
            }
        }
    }

    /// Takes one line (without CRLF / LF) out of the buffer.
    private mutating func nextLine() throws(SMTPReplyParseError) -> [UInt8]? {
        guard let lf = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) else {
            scanned = buffer.count
            if buffer.count > maxLineLength { throw .lineTooLong(limit: maxLineLength) }
            return nil
        }
        guard lf + 1 <= maxLineLength else { throw .lineTooLong(limit: maxLineLength) }
        var end = lf
        if end > 0, buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = Array(buffer[0..<end])
        buffer.removeFirst(lf + 1)
        scanned = 0
        return line
    }

    /// Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF
    /// Reply-code = %x32-35 %x30-35 %x30-39
    /// textstring = 1*( %d09 / %d32-126 )   (RFC 5321 §4.2; 8-bit text is tolerated, RFC 6531 §3.7.4)
    ///
    /// A bare code ("250") ends a reply; "250-" continues it. A line of just the code with no separator is
    /// accepted as a last line, as RFC 5321 §4.2 allows the text to be omitted.
    static func parseLine(_ line: [UInt8]) throws(SMTPReplyParseError) -> (code: Int, isLast: Bool, text: [UInt8]) {
        func malformed() -> SMTPReplyParseError {
            .malformedLine(String(decoding: line.prefix(80), as: UTF8.self))
        }
        guard line.count >= 3 else { throw malformed() }
        let d0 = line[0], d1 = line[1], d2 = line[2]
        guard (UInt8(ascii: "2")...UInt8(ascii: "5")).contains(d0),
            (UInt8(ascii: "0")...UInt8(ascii: "5")).contains(d1),
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d2)
        else { throw malformed() }
        let code = Int(d0 - 48) * 100 + Int(d1 - 48) * 10 + Int(d2 - 48)
        if line.count == 3 { return (code, true, []) }
        let separator = line[3]
        guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else { throw malformed() }
        let text = Array(line[4...])
        // Control characters other than HT would corrupt logs and DSNs.
        guard !text.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) else { throw malformed() }
        return (code, separator == UInt8(ascii: " "), text)
    }

    /// Builds the reply; the enhanced status code (RFC 2034 §4: `status-code SP text` on every line) is
    /// taken from the first line when its class matches the reply's first digit, and stripped from each
    /// line that repeats it.
    static func makeReply(code: Int, lines: [[UInt8]]) -> SMTPReply {
        var texts = lines.map { String(decoding: $0, as: UTF8.self) }
        var enhanced: EnhancedStatusCode?
        if let first = texts.first, let candidate = Self.enhancedPrefix(first), candidate.statusClass.rawValue == code / 100 {
            enhanced = candidate
            let prefix = candidate.description
            texts = texts.map { text in
                guard text.hasPrefix(prefix) else { return text }
                let rest = text.dropFirst(prefix.count)
                if rest.isEmpty { return "" }
                if rest.first == " " { return String(rest.dropFirst()) }
                return text
            }
        }
        return SMTPReply(ReplyCode(code), enhanced, lines: texts)
    }

    /// status-code = class "." subject "." detail   (RFC 3463 §2), followed by SP or the end of the line.
    static func enhancedPrefix(_ text: String) -> EnhancedStatusCode? {
        let word = text.prefix { $0 != " " }
        guard word.count >= 5, word.count <= 9 else { return nil }
        return EnhancedStatusCode(word)
    }
}
