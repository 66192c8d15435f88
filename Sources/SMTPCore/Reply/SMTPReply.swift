/// SMTP replies as values and their wire encoding (RFC 5321 §4.2, multi-line §4.2.1; enhanced status
/// codes RFC 2034 §4 / RFC 3463). Replies are built in `SMTPReply+Standard.swift`, encoded only here.
import MailCore

/// Also an `Error`, so parsers can return `Result<_, SMTPReply>`.
public struct SMTPReply: Hashable, Sendable, Error, CustomStringConvertible {
    public var code: ReplyCode
    /// Enhanced status code (RFC 2034); nil for the greeting, EHLO/HELO, 354 and 334 replies.
    public var enhanced: EnhancedStatusCode?
    /// Text lines, at least one (an empty list is encoded as one empty line).
    public var lines: [String]

    public init(_ code: ReplyCode, _ enhanced: EnhancedStatusCode?, _ lines: String...) {
        self.init(code, enhanced, lines: lines)
    }

    public init(_ code: ReplyCode, _ enhanced: EnhancedStatusCode?, lines: [String]) {
        self.code = code
        self.enhanced = enhanced
        self.lines = lines.isEmpty ? [""] : lines
    }

    /// True for replies after which the server closes the connection: 421 (RFC 5321 §3.8),
    /// 221 (QUIT, §4.1.1.10) and 521 (RFC 7504, used for bare line endings in DATA).
    /// The session also emits `.close` after them.
    public var closesConnection: Bool {
        code == .serviceNotAvailable || code == .closing || code == .notAcceptingMail
    }

    /// The text lines joined with " / ", for logs.
    public var text: String { lines.joined(separator: " / ") }

    public var description: String {
        if let enhanced { return "\(code) \(enhanced) \(text)" }
        return "\(code) \(text)"
    }

    // MARK: - Encoding

    /// Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF  (RFC 5321 §4.2)
    ///
    /// "250-first\r\n250 last\r\n"; the enhanced code follows the basic code on every line
    /// ("250-2.0.0 text", RFC 2034 §4). CR, LF and other control bytes in the text are replaced by
    /// spaces so a reply can never inject a line.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    /// Appends `encoded` to `out` (a connection reuses one array for all its replies).
    public func encode(into out: inout [UInt8]) {
        let all = lines.isEmpty ? [""] : lines
        // Sized once: the code and enhanced code are short strings (no heap storage), and the text is
        // copied octet by octet with its control bytes replaced.
        out.reserveCapacity(out.count + all.reduce(0) { $0 + $1.utf8.count + 16 })
        let space = UInt8(ascii: " ")
        for (index, line) in all.enumerated() {
            let isLast = index == all.count - 1
            out.append(contentsOf: String(code.rawValue).utf8)
            out.append(isLast ? space : UInt8(ascii: "-"))
            var wroteText = false
            if let enhanced {
                out.append(contentsOf: enhanced.description.utf8)
                wroteText = true
            }
            if !line.utf8.isEmpty {
                if wroteText { out.append(space) }
                for byte in line.utf8 { out.append(byte < 0x20 || byte == 0x7F ? space : byte) }
                wroteText = true
            }
            if !wroteText, isLast, code != .authContinue {
                // (334 keeps its space: RFC 4954 §4 `continue-req = "334" SP [base64] CRLF`.)
                // "250" alone is valid, but drop the separator we just wrote to keep it tidy.
                out.removeLast()
            }
            out.append(0x0D)
            out.append(0x0A)
        }
    }
}
