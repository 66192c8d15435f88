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
    static func validateHelloName(_ bytes: ArraySlice<UInt8>) -> String? {
        guard !bytes.isEmpty, bytes.count <= MailboxSyntax.maxDomainLength else { return nil }
        if bytes.first == UInt8(ascii: "[") {
            guard bytes.last == UInt8(ascii: "]"), bytes.count > 2,
                  let inner = String(validating: bytes.dropFirst().dropLast(), as: UTF8.self) else { return nil }
            if inner.lowercased().hasPrefix("ipv6:") {
                guard let ip = IPAddress(String(inner.dropFirst(5))), ip.isIPv6 else { return nil }
                return "[IPv6:\(ip)]"
            }
            guard let ip = IPAddress(inner), !ip.isIPv6 else { return nil }
            return "[\(ip)]"
        }
        for b in bytes {
            let ok = (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b >= 0x80
            guard ok else { return nil }
        }
        guard bytes.contains(where: { $0 != UInt8(ascii: ".") }) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}
