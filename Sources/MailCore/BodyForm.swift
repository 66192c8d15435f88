/// What is known about the octets of a stored message, so that a reader can skip a scan it would
/// otherwise make every time the message is read (Dovecot keeps such flags in its cache for the same
/// reason). Recorded once at delivery by whoever knows it without extra work: the SMTP DATA decoder
/// refuses bare CR or LF and NUL (RFC 5321 §2.3.8, §4.1.1.4; RFC 5322 §2.1) and sees every line that
/// starts with "." (it removes the stuffing dot). Stored as an integer (SQLite: `deliveries.body_form`;
/// PostgreSQL: `messages.body_form`).
///
/// An empty set means nothing is known (messages stored before the column existed, IMAP APPEND,
/// reports, the pickup directory): readers scan as they always did. A flag is only ever a promise the
/// writer has checked; a reader that trusts a wrong one would send wrong octets, so no writer guesses.
public struct BodyForm: OptionSet, Hashable, Sendable {
    public let rawValue: Int

    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Every LF is preceded by a CR, and the octets are empty or end with CRLF.
    public static let crlfLines = BodyForm(rawValue: 1 << 0)
    /// No line starts with "." (neither the first octet nor one after an LF).
    public static let noDotLineStart = BodyForm(rawValue: 1 << 1)
    /// No octet is NUL.
    public static let noNUL = BodyForm(rawValue: 1 << 2)

    /// Everything a DATA body can be: what the SMTP decoder guarantees for a body it accepted, less
    /// `.noDotLineStart` when it removed a stuffing dot in front of a ".".
    public static func smtpData(lineStartsWithDot: Bool) -> BodyForm {
        lineStartsWithDot ? [.crlfLines, .noNUL] : [.crlfLines, .noNUL, .noDotLineStart]
    }

    /// POP3 RETR may send the octets as they are, then "." CRLF (RFC 1939 §3: nothing to byte-stuff,
    /// no line end to repair, and the last line is complete).
    public var isPOP3Verbatim: Bool { isSuperset(of: [.crlfLines, .noDotLineStart]) }

    /// The form of `octets`, found by looking at every one (for short texts such as trace headers, and
    /// for tests; a body's form comes from the code that received it).
    public static func scan(_ octets: some Collection<UInt8>) -> BodyForm {
        var form: BodyForm = [.crlfLines, .noDotLineStart, .noNUL]
        var previous: UInt8?
        for octet in octets {
            if octet == 0 { form.remove(.noNUL) }
            if octet == 0x0A, previous != 0x0D { form.remove(.crlfLines) }
            if octet == UInt8(ascii: "."), previous == nil || previous == 0x0A { form.remove(.noDotLineStart) }
            previous = octet
        }
        if let last = previous, last != 0x0A { form.remove(.crlfLines) }
        return form
    }

    /// The form of `prefix` followed by octets of form `rest`. A prefix that does not end a line at its
    /// end leaves the first line of `rest` unknown, so only `.noNUL` can carry over then.
    public static func concatenation(prefix: BodyForm, rest: BodyForm) -> BodyForm {
        prefix.contains(.crlfLines) ? prefix.intersection(rest) : prefix.intersection(rest).intersection(.noNUL)
    }
}
