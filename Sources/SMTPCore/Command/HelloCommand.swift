/// EHLO and HELO (RFC 5321 §4.1.1.1) and validation of the client's name, which goes into the
/// `Received:` header (RFC 5321 §4.4) and therefore must never contain spaces or control bytes.
import MailCore

extension SMTPCommandParser {
    /// ehlo = "EHLO" SP ( Domain / address-literal ) CRLF
    /// helo = "HELO" SP Domain CRLF
    ///
    /// Lenient like Postfix: underscores, a trailing dot and upper case are accepted; spaces, control
    /// bytes, brackets in the wrong place, invalid UTF-8 and an empty name are rejected (501 5.5.4).
    static func parseHello(_ argument: ArraySlice<UInt8>?, extended: Bool) -> Result<SMTPCommand, SMTPReply> {
        let usage = extended ? "EHLO hostname" : "HELO hostname"
        guard let argument, !argument.isEmpty else { return .failure(.syntax(usage)) }
        guard let name = validateHelloName(argument) else { return .failure(.badHelloName) }
        return .success(extended ? .ehlo(name) : .helo(name))
    }

    /// Domain-ish = 1*( ALPHA / DIGIT / "-" / "." / "_" / UTF8-non-ascii )   (at most 255 octets)
    /// address-literal = "[" ( IPv4-address-literal / "IPv6:" IPv6-addr ) "]"
    ///
    /// Raw UTF-8 (`EHLO évil.test`): RFC 6531 extends `Domain` with U-labels, but the client sends EHLO
    /// before it has seen SMTPUTF8 advertised, so a strict reading wants A-labels there. Petrel always
    /// offers SMTPUTF8 and, like Postfix with `smtputf8_enable = yes`, accepts a U-label name when it is
    /// a usable IDN: valid UTF-8, every non-ASCII character a letter, mark or digit (no controls,
    /// separators, symbols or format characters — an approximation of IDNA2008 PVALID), and an A-label
    /// form within the RFC 1035 limits (`IDNA.canonicalDomain`). Anything else is 501 5.5.4. The name
    /// goes into `Received:` as A-labels unless the message is SMTPUTF8 (`SMTPServerSession.Hello`).
    static func validateHelloName(_ bytes: ArraySlice<UInt8>) -> String? {
        guard !bytes.isEmpty, bytes.count <= MailboxSyntax.maxDomainLength else { return nil }
        if bytes.first == UInt8(ascii: "[") {
            guard bytes.last == UInt8(ascii: "]"), bytes.count > 2,
                let inner = String(validating: bytes.dropFirst().dropLast(), as: UTF8.self)
            else { return nil }
            if inner.lowercased().hasPrefix("ipv6:") {
                guard let ip = IPAddress(String(inner.dropFirst(5))), ip.isIPv6 else { return nil }
                return "[IPv6:\(ip)]"
            }
            guard let ip = IPAddress(inner), !ip.isIPv6 else { return nil }
            return "[\(ip)]"
        }
        for b in bytes {
            let ok =
                (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b >= 0x80
            guard ok else { return nil }
        }
        guard bytes.contains(where: { $0 != UInt8(ascii: ".") }) else { return nil }
        guard let name = String(validating: bytes, as: UTF8.self) else { return nil }
        if bytes.contains(where: { $0 >= 0x80 }) {
            guard name.unicodeScalars.allSatisfy({ $0.isASCII || isIDNCharacter($0) }),
                helloASCIIName(name) != nil
            else { return nil }
        }
        return name
    }

    /// A non-ASCII character that may appear in a U-label: a letter, a combining mark or a digit.
    static func isIDNCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
            .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber:
            return true
        default:
            return false
        }
    }

    /// The ASCII form of an EHLO/HELO name for a header of a message that is not SMTPUTF8: the name
    /// itself when it is ASCII (or an address literal), else its A-label form (`IDNA.canonicalDomain`,
    /// one trailing dot kept); nil when a U-label name has no valid A-label form.
    public static func helloASCIIName(_ name: String) -> String? {
        if name.utf8.allSatisfy({ $0 < 0x80 }) { return name }
        let trailingDot = name.hasSuffix(".")
        let base = trailingDot ? String(name.dropLast()) : name
        guard case .success(let ascii) = IDNA.canonicalDomain(base) else { return nil }
        return trailingDot ? ascii + "." : ascii
    }
}
