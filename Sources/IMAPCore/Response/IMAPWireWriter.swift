/// The one place that turns values into IMAP wire syntax (RFC 9051 §4, §9): atoms, numbers, strings
/// (quoted or literal), nstrings, mailbox names. `IMAPResponse.encode` and the FETCH/ENVELOPE/
/// BODYSTRUCTURE encoders write through it.
///
/// String choice (RFC 9051 §4.3): a string is sent quoted when it has no CR, LF or NUL, is at most
/// `maxQuotedLength` octets, and — unless UTF-8 is enabled (IMAP4rev2 or UTF8=ACCEPT, where `quoted`
/// may hold UTF-8, RFC 9051 §9 / RFC 6855 §3) — has no 8-bit octets; otherwise as a literal `{n}`.
/// Octets that no `literal` may hold (NUL, RFC 9051 `CHAR8`) are sent in a literal8 `~{n}` only where
/// the grammar allows it (BINARY), else replaced (see `IMAPFetchValue`).
public struct IMAPWireWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// UTF-8 mode: quoted strings may hold UTF-8, mailbox names are UTF-8 (else modified UTF-7).
    public let utf8: Bool
    public static let maxQuotedLength = 1024

    public init(utf8: Bool) {
        self.utf8 = utf8
    }

    public mutating func raw(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }
    public mutating func raw(_ octets: some Sequence<UInt8>) { bytes.append(contentsOf: octets) }
    public mutating func space() { bytes.append(0x20) }
    public mutating func crlf() { bytes.append(0x0D); bytes.append(0x0A) }
    /// A number in decimal, written digit by digit (no String made for it).
    public mutating func number(_ n: some BinaryInteger) {
        guard var v = UInt64(exactly: n) else { return raw(String(n)) }
        var divisor: UInt64 = 1
        while v / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            bytes.append(0x30 &+ UInt8(truncatingIfNeeded: v / divisor))
            v %= divisor
            divisor /= 10
        }
    }
    public mutating func reserve(_ n: Int) { bytes.reserveCapacity(bytes.count + n) }

    /// Whether `s` may be sent as a quoted string.
    func canQuote(_ s: some Collection<UInt8>) -> Bool {
        guard s.count <= IMAPWireWriter.maxQuotedLength else { return false }
        var has8bit = false
        for b in s {
            if b == 0 || b == 0x0A || b == 0x0D { return false }
            if b >= 0x80 { has8bit = true }
        }
        if has8bit {
            guard utf8, String(validating: Array(s), as: UTF8.self) != nil else { return false }
        }
        return true
    }

    /// `string = quoted / literal`
    public mutating func string(_ s: some Collection<UInt8>) {
        if canQuote(s) {
            quoted(s)
        } else {
            literal(s)
        }
    }

    public mutating func string(_ s: String) { string(Array(s.utf8)) }

    /// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`, escaping `"` and `\`.
    public mutating func quoted(_ s: some Collection<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        for b in s {
            if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
            bytes.append(b)
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// `literal = "{" number64 "}" CRLF *CHAR8`
    public mutating func literal(_ s: some Collection<UInt8>) {
        bytes.append(UInt8(ascii: "{"))
        number(s.count)
        raw("}\r\n")
        bytes.append(contentsOf: s)
    }

    /// `literal8 = "~{" number64 "}" CRLF *OCTET` (RFC 3516 §4.2)
    public mutating func literal8(_ s: some Collection<UInt8>) {
        raw("~{\(s.count)}\r\n")
        bytes.append(contentsOf: s)
    }

    /// `nstring = string / nil`
    public mutating func nstring(_ s: (some Collection<UInt8>)?) {
        if let s { string(s) } else { raw("NIL") }
    }

    public mutating func nstring(_ s: String?) {
        if let s { string(Array(s.utf8)) } else { raw("NIL") }
    }

    /// `astring = 1*ASTRING-CHAR / string`: an atom when every octet is an ASTRING-CHAR.
    public mutating func astring(_ s: some Collection<UInt8>) {
        if !s.isEmpty, s.count <= IMAPWireWriter.maxQuotedLength, s.allSatisfy(IMAPParser.isAStringChar),
            !(s.count == 3 && IMAPParser.upper(s[s.startIndex]) == UInt8(ascii: "N") && Array(s).map(IMAPParser.upper) == Array("NIL".utf8))
        {
            bytes.append(contentsOf: s)
        } else {
            string(s)
        }
    }

    /// `mailbox = "INBOX" / astring`, the Unicode name encoded for the mode in force.
    public mutating func mailbox(_ name: String) {
        astring(IMAPMailboxName.wire(name, utf8: utf8))
    }
}
