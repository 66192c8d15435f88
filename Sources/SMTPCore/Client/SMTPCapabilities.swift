/// The service extensions a server announces in its EHLO reply (RFC 5321 §4.1.1.1, §2.2.2), as the
/// client uses them: PIPELINING (RFC 2920), SIZE (RFC 1870 §4), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531),
/// STARTTLS (RFC 3207), AUTH (RFC 4954 §3), DSN (RFC 3461), ENHANCEDSTATUSCODES (RFC 2034), CHUNKING
/// (RFC 3030, recorded but not used: the client always sends DATA).

public struct SMTPCapabilities: Hashable, Sendable {
    /// The server's name from the first EHLO line (or the HELO reply).
    public var serverName: String
    /// True when the server answered EHLO; false after the HELO fallback (no extensions at all).
    public var extended: Bool
    public var pipelining = false
    /// SIZE was announced.
    public var sizeOffered = false
    /// The fixed maximum message size from `SIZE n`; nil when SIZE had no number or 0 ("no fixed limit").
    public var maxSize: Int64?
    public var eightBitMIME = false
    public var smtpUTF8 = false
    public var startTLS = false
    /// SASL mechanisms, upper case (from `AUTH ...` and the pre-standard `AUTH=...`).
    public var authMechanisms: Set<String> = []
    public var dsn = false
    public var enhancedStatusCodes = false
    public var chunking = false
    /// Every keyword (upper case) with its parameters, for logs and anything not modelled above.
    public var keywords: [String: [String]] = [:]

    public init(serverName: String = "", extended: Bool = false) {
        self.serverName = serverName
        self.extended = extended
    }

    /// ehlo-ok-rsp = ( "250" SP Domain [ SP ehlo-greet ] CRLF )
    ///             / ( "250-" Domain [ SP ehlo-greet ] CRLF
    ///                 *( "250-" ehlo-line CRLF ) "250" SP ehlo-line CRLF )
    /// ehlo-line   = ehlo-keyword *( SP ehlo-param )
    /// ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")          (RFC 5321 §4.1.1.1)
    ///
    /// Lines that are not a keyword are skipped (servers put free text there); parsing never fails.
    public init(ehloReply reply: SMTPReply) {
        let first = reply.lines.first ?? ""
        self.init(serverName: String(first.split(separator: " ", maxSplits: 1).first ?? ""), extended: true)
        for line in reply.lines.dropFirst() {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let keywordWord = words.first else { continue }
            var keyword = keywordWord.uppercased()
            var params = words.dropFirst().map(String.init)
            // Pre-standard "AUTH=PLAIN LOGIN" (still sent by some servers next to "AUTH PLAIN LOGIN").
            if keyword.hasPrefix("AUTH=") {
                params.insert(String(keyword.dropFirst(5)), at: 0)
                keyword = "AUTH"
            }
            guard let head = keyword.utf8.first, Self.isKeywordStart(head),
                keyword.utf8.allSatisfy({ Self.isKeywordStart($0) || $0 == UInt8(ascii: "-") })
            else { continue }
            keywords[keyword, default: []].append(contentsOf: params)
            switch keyword {
            case "PIPELINING": pipelining = true
            case "SIZE":
                sizeOffered = true
                // SIZE [1*DIGIT]  (RFC 1870 §4); 0 or nothing means no fixed maximum.
                if let text = params.first, let n = Int64(text), n > 0 { maxSize = n }
            case "8BITMIME": eightBitMIME = true
            case "SMTPUTF8": smtpUTF8 = true
            case "STARTTLS": startTLS = true
            case "AUTH":
                for mechanism in params where !mechanism.isEmpty { authMechanisms.insert(mechanism.uppercased()) }
            case "DSN": dsn = true
            case "ENHANCEDSTATUSCODES": enhancedStatusCodes = true
            case "CHUNKING": chunking = true
            default: break
            }
        }
    }

    /// The capabilities after a HELO (RFC 5321 §4.1.1.1 fallback): none.
    public init(heloReply reply: SMTPReply) {
        let first = reply.lines.first ?? ""
        self.init(serverName: String(first.split(separator: " ", maxSplits: 1).first ?? ""), extended: false)
    }

    private static func isKeywordStart(_ b: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
    }
}
