/// A mailbox address as SMTP carries it (RFC 5321 §4.1.2, with RFC 6531 UTF-8 extensions).
///
/// The local part is kept as the sender wrote it (minus quoting, which `description` restores);
/// the domain is normalised to lower case. Locality and relay decisions are made on `domain` only.
public struct EmailAddress: Hashable, Sendable, CustomStringConvertible {
    /// The local part without surrounding quotes or quoted-pair backslashes.
    public let localPart: String
    /// The domain in lower case, or an address literal such as `[192.0.2.1]` / `[IPv6:::1]`.
    public let domain: String

    public init(localPart: String, domain: String) {
        self.localPart = localPart
        self.domain = domain.lowercased()
    }

    /// True when the domain is an address literal (`[…]`).
    public var isAddressLiteral: Bool { domain.hasPrefix("[") }

    /// True when every octet is ASCII (no SMTPUTF8 needed).
    public var isASCII: Bool { localPart.utf8.allSatisfy { $0 < 0x80 } && domain.utf8.allSatisfy { $0 < 0x80 } }

    /// The canonical key used for mailbox lookups: local part in lower case, domain in its canonical
    /// lower-case A-label form (`IDNA.canonicalDomain`, so `bücher.example` and `xn--bcher-kva.example`
    /// give the same key); a domain that is not a valid IDN stays as it is (and matches no local domain).
    public var lookupKey: String { "\(localPart.lowercased())@\(routingDomain ?? domain)" }

    /// True when both name the same mailbox: the same `lookupKey` (local part case-insensitive, the
    /// domain compared by its routing domain, so `a@bücher.example` owns `a@xn--bcher-kva.example`).
    public func isSameMailbox(as other: EmailAddress) -> Bool { lookupKey == other.lookupKey }

    /// The address in RFC 5321 form, quoting the local part when it is not a Dot-string.
    public var description: String {
        let local = MailboxSyntax.isDotString(Array(localPart.utf8)) ? localPart : MailboxSyntax.quote(localPart)
        return "\(local)@\(domain)"
    }

    /// Parses a bare `Mailbox` (no angle brackets), e.g. `alice@example.test`.
    /// Returns nil when the text is not a valid RFC 5321 mailbox.
    public init?(_ text: some StringProtocol) {
        guard let parsed = try? MailboxSyntax.parseMailbox(Array(text.utf8)[...]), parsed.rest.isEmpty else { return nil }
        self = parsed.address
    }
}

/// Why an address or path was rejected. `reason` is safe to show to the client.
public struct AddressSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// A reverse-path (`MAIL FROM`) or forward-path (`RCPT TO`), RFC 5321 §4.1.2.
public enum MailPath: Hashable, Sendable, CustomStringConvertible {
    /// The null reverse-path `<>` (bounces, RFC 5321 §4.5.5).
    case null
    case mailbox(EmailAddress)

    public var address: EmailAddress? { if case .mailbox(let a) = self { return a } else { return nil } }
    public var isNull: Bool { self == .null }

    /// Parses a reverse-path as `description` writes it (`<>` or `<local@domain>`, the RFC 5321 §4.1.2
    /// `Reverse-path` grammar; a source route is dropped): how a stored envelope sender becomes a value
    /// again, once, where it is read. Nil when the text is not exactly one such path.
    public init?(_ text: some StringProtocol) {
        guard let (path, rest) = try? MailboxSyntax.parsePath(Array(text.utf8)[...], allowNull: true), rest.isEmpty else {
            return nil
        }
        self = path
    }
    public var description: String {
        switch self {
        case .null: return "<>"
        case .mailbox(let a): return "<\(a)>"
        }
    }
}

/// The RFC 5321 §4.1.2 grammar, on bytes. Each function names its ABNF rule.
public enum MailboxSyntax {
    public static let maxLocalPartLength = 64 // rfc5321 §4.5.3.1.1
    public static let maxDomainLength = 255 // rfc5321 §4.5.3.1.2
    public static let maxPathLength = 256 // rfc5321 §4.5.3.1.3

    /// Path = "<" [ A-d-l ":" ] Mailbox ">"  ;  Reverse-path = Path / "<>"
    /// A-d-l = At-domain *( "," At-domain ) ; At-domain = "@" Domain
    /// The source route (A-d-l) is parsed and then ignored, as RFC 5321 §4.1.1.3 and Appendix C allow:
    /// the message goes to the final Mailbox only. Returns the path and the bytes after ">".
    public static func parsePath(_ input: ArraySlice<UInt8>, allowNull: Bool) throws -> (path: MailPath, rest: ArraySlice<UInt8>) {
        var s = input
        guard s.first == UInt8(ascii: "<") else { throw AddressSyntaxError("path must be enclosed in <>") }
        s = s.dropFirst()
        if s.first == UInt8(ascii: ">") {
            guard allowNull else { throw AddressSyntaxError("empty path not allowed here") }
            return (.null, s.dropFirst())
        }
        if s.first == UInt8(ascii: "@") {
            // A-d-l ":"
            while true {
                guard s.first == UInt8(ascii: "@") else { throw AddressSyntaxError("bad source route") }
                s = s.dropFirst()
                let (_, rest) = try parseDomain(s)
                s = rest
                if s.first == UInt8(ascii: ",") { s = s.dropFirst(); continue }
                guard s.first == UInt8(ascii: ":") else { throw AddressSyntaxError("bad source route") }
                s = s.dropFirst()
                break
            }
        }
        let start = s.startIndex
        let (address, rest) = try parseMailbox(s)
        guard rest.first == UInt8(ascii: ">") else { throw AddressSyntaxError("path must end with >") }
        guard rest.startIndex - start <= maxPathLength, address.description.utf8.count <= maxPathLength else {
            throw AddressSyntaxError("path too long")
        }
        return (.mailbox(address), rest.dropFirst())
    }

    /// Mailbox = Local-part "@" ( Domain / address-literal )
    public static func parseMailbox(_ input: ArraySlice<UInt8>) throws -> (address: EmailAddress, rest: ArraySlice<UInt8>) {
        let (local, afterLocal) = try parseLocalPart(input)
        guard afterLocal.first == UInt8(ascii: "@") else { throw AddressSyntaxError("missing @domain") }
        let domainBytes = afterLocal.dropFirst()
        let (domain, rest): (String, ArraySlice<UInt8>)
        if domainBytes.first == UInt8(ascii: "[") {
            (domain, rest) = try parseAddressLiteral(domainBytes)
        } else {
            (domain, rest) = try parseDomain(domainBytes)
        }
        return (EmailAddress(localPart: local, domain: domain), rest)
    }

    /// Local-part = Dot-string / Quoted-string  (at most 64 octets, §4.5.3.1.1)
    static func parseLocalPart(_ input: ArraySlice<UInt8>) throws -> (String, ArraySlice<UInt8>) {
        if input.first == UInt8(ascii: "\"") { return try parseQuotedString(input) }
        // Dot-string = Atom *("." Atom) ; Atom = 1*atext
        var i = input.startIndex
        var atomLength = 0
        while i < input.endIndex {
            let c = input[i]
            if c == UInt8(ascii: ".") {
                guard atomLength > 0 else { throw AddressSyntaxError("empty atom in local part") }
                atomLength = 0
            } else if isAtext(c) {
                atomLength += 1
            } else {
                break
            }
            i += 1
        }
        guard atomLength > 0 else { throw AddressSyntaxError("bad local part") }
        let bytes = input[input.startIndex..<i]
        guard bytes.count <= maxLocalPartLength else { throw AddressSyntaxError("local part longer than 64 octets") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw AddressSyntaxError("invalid UTF-8 in local part") }
        return (text, input[i...])
    }

    /// Quoted-string = DQUOTE *QcontentSMTP DQUOTE ; QcontentSMTP = qtextSMTP / quoted-pairSMTP
    /// quoted-pairSMTP = %d92 %d32-126 ; qtextSMTP = %d32-33 / %d35-91 / %d93-126 / UTF8-non-ascii
    static func parseQuotedString(_ input: ArraySlice<UInt8>) throws -> (String, ArraySlice<UInt8>) {
        var i = input.startIndex + 1
        var out: [UInt8] = []
        while i < input.endIndex {
            let c = input[i]
            if c == UInt8(ascii: "\"") {
                guard input.distance(from: input.startIndex, to: i) + 1 <= maxLocalPartLength else {
                    throw AddressSyntaxError("local part longer than 64 octets")
                }
                guard let text = String(validating: out, as: UTF8.self) else { throw AddressSyntaxError("invalid UTF-8 in local part") }
                return (text, input[(i + 1)...])
            }
            if c == UInt8(ascii: "\\") {
                i += 1
                guard i < input.endIndex, (32...126).contains(input[i]) else { throw AddressSyntaxError("bad quoted pair") }
                out.append(input[i])
            } else if c == 32 || c == 33 || (35...91).contains(c) || (93...126).contains(c) || c >= 0x80 {
                out.append(c)
            } else {
                throw AddressSyntaxError("bad character in quoted string")
            }
            i += 1
        }
        throw AddressSyntaxError("unterminated quoted string")
    }

    /// Domain = sub-domain *("." sub-domain) ; sub-domain = Let-dig [Ldh-str] / U-label (RFC 6531)
    /// No trailing dot, no empty label, labels of at most 63 octets, at most 255 octets in all.
    public static func parseDomain(_ input: ArraySlice<UInt8>) throws -> (String, ArraySlice<UInt8>) {
        var i = input.startIndex
        var labelLength = 0
        var lastWasHyphen = false
        while i < input.endIndex {
            let c = input[i]
            if c == UInt8(ascii: ".") {
                guard labelLength > 0, !lastWasHyphen else { throw AddressSyntaxError("bad domain label") }
                labelLength = 0
            } else if isLetDig(c) || c >= 0x80 {
                labelLength += 1
                lastWasHyphen = false
            } else if c == UInt8(ascii: "-") {
                guard labelLength > 0 else { throw AddressSyntaxError("domain label starts with hyphen") }
                labelLength += 1
                lastWasHyphen = true
            } else {
                break
            }
            guard labelLength <= 63 else { throw AddressSyntaxError("domain label longer than 63 octets") }
            i += 1
        }
        guard labelLength > 0, !lastWasHyphen else { throw AddressSyntaxError("bad domain") }
        let bytes = input[input.startIndex..<i]
        guard bytes.count <= maxDomainLength else { throw AddressSyntaxError("domain longer than 255 octets") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw AddressSyntaxError("invalid UTF-8 in domain") }
        // Lower-casing can lengthen non-ASCII text ("İ" is 2 octets, "i̇" 3): the limits hold for the kept
        // form too, so every parsed address re-parses from its `description` (stored queue entries do).
        let lower = text.lowercased()
        guard lower.utf8.count <= maxDomainLength else { throw AddressSyntaxError("domain longer than 255 octets") }
        guard lower.split(separator: ".").allSatisfy({ $0.utf8.count <= 63 }) else {
            throw AddressSyntaxError("domain label longer than 63 octets")
        }
        return (lower, input[i...])
    }

    /// address-literal = "[" ( IPv4-address-literal / IPv6-address-literal / General-address-literal ) "]"
    /// Only IPv4 and "IPv6:" literals are accepted; the text is validated by `IPAddress`.
    static func parseAddressLiteral(_ input: ArraySlice<UInt8>) throws -> (String, ArraySlice<UInt8>) {
        guard let close = input.firstIndex(of: UInt8(ascii: "]")) else { throw AddressSyntaxError("unterminated address literal") }
        let inner = input[(input.startIndex + 1)..<close]
        guard let text = String(validating: inner, as: UTF8.self) else { throw AddressSyntaxError("bad address literal") }
        if text.lowercased().hasPrefix("ipv6:") {
            guard let ip = IPAddress(String(text.dropFirst(5))), ip.isIPv6 else { throw AddressSyntaxError("bad IPv6 address literal") }
            return ("[ipv6:\(ip)]", input[(close + 1)...])
        }
        guard let ip = IPAddress(text), !ip.isIPv6 else { throw AddressSyntaxError("bad address literal") }
        return ("[\(ip)]", input[(close + 1)...])
    }

    /// atext (RFC 5322 §3.2.3) plus UTF8-non-ascii (RFC 6531 §3.3).
    @inline(__always) static func isAtext(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: "?"),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"),
            UInt8(ascii: "~"):
            return true
        default:
            return c >= 0x80
        }
    }

    @inline(__always) static func isLetDig(_ c: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
    }

    static func isDotString(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty, bytes.first != UInt8(ascii: "."), bytes.last != UInt8(ascii: ".") else { return false }
        var prevDot = false
        for c in bytes {
            if c == UInt8(ascii: ".") { if prevDot { return false }; prevDot = true; continue }
            prevDot = false
            if !isAtext(c) { return false }
        }
        return true
    }

    /// Quotes a local part (RFC 5321 `Quoted-string`), escaping `"` and `\` by the octet: a loop over
    /// `Character`s would miss a backslash that a combining mark joins into one grapheme (`\` U+05BF),
    /// and the written address would no longer parse back (found by FuzzMailPath).
    static func quote(_ s: String) -> String {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        out.reserveCapacity(s.utf8.count + 2)
        for c in s.utf8 {
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
            out.append(c)
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }

    /// Validates a domain name given by an administrator or a config file (no trailing dot, lower-cased).
    public static func normalizeDomain(_ text: String) -> String? {
        let bytes = Array(text.utf8)[...]
        guard let (domain, rest) = try? parseDomain(bytes), rest.isEmpty else { return nil }
        return domain
    }
}
