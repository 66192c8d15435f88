/// APPEND (RFC 9051 §6.3.12) with literal8 message data (RFC 3516 §4.4, BINARY) and the UTF8 data
/// extension (RFC 6855 §4).

public struct IMAPAppendCommand: Hashable, Sendable {
    public var mailbox: IMAPMailboxName
    public var flags: [IMAPFlag]
    /// The internal date to set; nil: now.
    public var date: IMAPDateTime?
    /// The message octets.
    public var message: [UInt8]
    /// Sent as literal8 (`~{n}`): may contain NUL and bare 8-bit (RFC 3516 §4.4).
    public var isBinary: Bool
    /// Sent as `UTF8 (~{n})` (RFC 6855 §4): the message may have UTF-8 headers.
    public var isUTF8: Bool

    public init(
        mailbox: IMAPMailboxName, flags: [IMAPFlag] = [], date: IMAPDateTime? = nil, message: [UInt8],
        isBinary: Bool = false, isUTF8: Bool = false
    ) {
        self.mailbox = mailbox
        self.flags = flags
        self.date = date
        self.message = message
        self.isBinary = isBinary
        self.isUTF8 = isUTF8
    }
}

extension IMAPCommandParser {
    /// RFC 9051 §9, RFC 4466 §2.3, RFC 6855 §4:
    /// ```
    /// append          = "APPEND" SP mailbox 1*append-message
    ///                   ; only one message (MULTIAPPEND, RFC 3502, is not offered)
    /// append-message  = append-opts SP append-data
    /// append-opts     = [SP flag-list] [SP date-time] *(SP append-ext)
    /// append-data     = literal / literal8 / append-data-ext
    /// append-data     =/ "UTF8" SP "(" literal8 ")"         ; RFC 6855
    /// ```
    static func parseAppend(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPCommand {
        let mailbox = try parseMailboxArgument(&p)
        try p.space()
        var flags: [IMAPFlag] = []
        var date: IMAPDateTime? = nil
        if p.peek() == UInt8(ascii: "(") {
            flags = try IMAPFlag.parseList(&p)
            try p.space()
        }
        if p.peek() == UInt8(ascii: "\"") {
            date = try IMAPDateTime.parse(&p)
            try p.space()
        }
        if p.keyword("UTF8") {
            try p.space()
            try p.expect(UInt8(ascii: "("), "(")
            guard p.peek() == UInt8(ascii: "~") else { throw IMAPParseError("UTF8 APPEND data must be a literal8") }
            let message = try p.literal(allowNUL: true, allowLiteral8: true)
            try p.expect(UInt8(ascii: ")"), ")")
            return .append(
                IMAPAppendCommand(
                    mailbox: mailbox, flags: flags, date: date, message: message,
                    isBinary: true, isUTF8: true))
        }
        let isBinary = p.peek() == UInt8(ascii: "~")
        guard p.peek() == UInt8(ascii: "{") || isBinary else { throw IMAPParseError("Expected the message as a literal") }
        // A plain literal may not hold NUL (CHAR8); Petrel accepts it like Dovecot rather than lose mail.
        let message = try p.literal(allowNUL: true, allowLiteral8: true)
        return .append(IMAPAppendCommand(mailbox: mailbox, flags: flags, date: date, message: message, isBinary: isBinary))
    }
}
