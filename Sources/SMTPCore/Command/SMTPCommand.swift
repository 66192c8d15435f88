/// SMTP commands as values and the command-line dispatcher (RFC 5321 §4.1.1, §4.1.2).
/// One file per command family: Hello, Mail, Rcpt, Data/Bdat, Auth, simple commands.
/// The adapter has already removed CRLF and enforced the 512-octet limit (§4.5.3.1.4).
import MailCore

public enum SMTPCommand: Hashable, Sendable {
    case ehlo(String)
    case helo(String)
    case mail(MailCommand)
    case rcpt(RcptCommand)
    case data
    case bdat(size: Int, last: Bool)
    case rset
    case noop
    case quit
    case vrfy(String)
    case expn(String)
    case help(String?)
    case starttls
    /// AUTH mechanism [initial-response] (RFC 4954 §4); the mechanism upper-cased, the initial
    /// response as sent ("=" stands for an empty one).
    case auth(mechanism: String, initialResponse: String?)
    /// GET/POST/HEAD/PUT/CONNECT/OPTIONS: a web client or a cross-protocol attack.
    case httpRequest(verb: String)
}

/// One ESMTP parameter of MAIL or RCPT (RFC 5321 §4.1.2): keyword upper-cased, value as sent.
public struct ESMTPParameter: Hashable, Sendable {
    public var keyword: String
    public var value: String?
    public init(keyword: String, value: String?) {
        self.keyword = keyword
        self.value = value
    }
}

public enum SMTPCommandParser {
    /// command = verb [ SP arguments ]  (verbs are case-insensitive, RFC 5321 §2.4)
    ///
    /// Parses one command line without its CRLF. Bad input becomes the reply to send.
    public static func parse(_ line: [UInt8]) -> Result<SMTPCommand, SMTPReply> {
        // Control characters (NUL, bare CR/LF, DEL...) never belong in a command line; TAB is tolerated.
        guard !line.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) else { return .failure(.badCharacters) }
        var end = line.endIndex
        while end > line.startIndex, line[end - 1] == 0x20 || line[end - 1] == 0x09 { end -= 1 }
        let trimmed = line[line.startIndex..<end]
        let verbEnd = trimmed.firstIndex(of: 0x20) ?? trimmed.endIndex
        let verb = upperASCII(trimmed[trimmed.startIndex..<verbEnd])
        let argument: ArraySlice<UInt8>? = verbEnd < trimmed.endIndex ? trimmed[(verbEnd + 1)...] : nil
        switch verb {
        case "EHLO": return parseHello(argument, extended: true)
        case "HELO": return parseHello(argument, extended: false)
        case "MAIL": return parseMail(argument)
        case "RCPT": return parseRcpt(argument)
        case "DATA": return parseData(argument)
        case "BDAT": return parseBdat(argument)
        case "RSET", "QUIT", "STARTTLS": return parseNoArgument(verb, argument)
        case "NOOP", "HELP", "VRFY", "EXPN": return parseStringArgument(verb, argument)
        case "AUTH": return parseAuth(argument)
        case "GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS": return .success(.httpRequest(verb: verb))
        default: return .failure(.unknownCommand)
        }
    }

    /// The upper-cased verb of a line (for logs and for the session's BDAT resynchronisation rule).
    public static func verb(of line: [UInt8]) -> String {
        let verbEnd = line.firstIndex(of: 0x20) ?? line.endIndex
        return upperASCII(line[line.startIndex..<verbEnd])
    }

    /// The first 16 octets upper-cased, as UTF-8 (invalid sequences repaired). Written straight into the
    /// string: every real verb fits a small string's inline 15 octets, so this allocates nothing for one
    /// (only a 16-octet cut of something longer does).
    static func upperASCII(_ bytes: ArraySlice<UInt8>) -> String {
        let verb = bytes.prefix(16)
        return String(unsafeUninitializedCapacity: verb.count) { buffer in
            for (offset, byte) in verb.enumerated() { buffer[offset] = (0x61...0x7A).contains(byte) ? byte - 0x20 : byte }
            return verb.count
        }
    }

    /// True when `bytes` starts with `prefix`, ASCII case-insensitively.
    static func hasPrefixIgnoringCase(_ bytes: ArraySlice<UInt8>, _ prefix: String) -> Bool {
        let p = Array(prefix.utf8)
        guard bytes.count >= p.count else { return false }
        for (b, q) in zip(bytes, p) where lowerASCII(b) != lowerASCII(q) { return false }
        return true
    }

    @inline(__always) static func lowerASCII(_ b: UInt8) -> UInt8 { (0x41...0x5A).contains(b) ? b + 0x20 : b }

    static func dropSpaces(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = s
        while s.first == 0x20 || s.first == 0x09 { s = s.dropFirst() }
        return s
    }
}
