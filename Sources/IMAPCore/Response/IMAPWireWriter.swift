/// The one place that turns values into IMAP wire syntax (RFC 9051 §4, §9): atoms, numbers, strings
/// (quoted or literal), nstrings, mailbox names. `IMAPResponse.encode` and the FETCH/ENVELOPE/
/// BODYSTRUCTURE encoders write through it.
///
/// String choice (RFC 9051 §4.3): a string is sent quoted when it has no CR, LF or NUL, is at most
/// `maxQuotedLength` octets, and — unless UTF-8 is enabled (IMAP4rev2 or UTF8=ACCEPT, where `quoted`
/// may hold UTF-8, RFC 9051 §9 / RFC 6855 §3) — has no 8-bit octets; otherwise as a literal `{n}`.
/// Octets that no `literal` may hold (NUL, RFC 9051 `CHAR8`) are sent in a literal8 `~{n}` only where
/// the grammar allows it (BINARY), else replaced (see `IMAPFetchValue`).
///
/// A literal of `ownPieceLength` octets or more given as an array (a message body from the store) is not
/// copied: it becomes a piece of its own in `pieces`, sent as it is, between the octets written before and
/// after it.
public struct IMAPWireWriter: Sendable {
    /// Pieces finished before the octets being written now.
    private var done: [[UInt8]] = []
    /// The octets written since the last piece kept whole.
    private var current: [UInt8] = []
    /// UTF-8 mode: quoted strings may hold UTF-8, mailbox names are UTF-8 (else modified UTF-7).
    public let utf8: Bool
    public static let maxQuotedLength = 1024
    /// Literal arrays this long or longer are kept as pieces of their own (not copied).
    public static let ownPieceLength = 16 * 1024

    public init(utf8: Bool) {
        self.utf8 = utf8
    }

    /// Everything written, in order, as pieces to send one after the other (no empty piece).
    public var pieces: [[UInt8]] { current.isEmpty ? done : done + [current] }

    /// Everything written, as one array (joined when there is more than one piece).
    public var bytes: [UInt8] {
        if done.isEmpty { return current }
        var all: [UInt8] = []
        all.reserveCapacity(done.reduce(current.count) { $0 + $1.count })
        for piece in done { all += piece }
        return all + current
    }

    /// The octets of a literal: a large array is kept as a piece (no copy), anything else is appended.
    private mutating func literalOctets(_ s: some Collection<UInt8>) {
        if let array = s as? [UInt8], array.count >= IMAPWireWriter.ownPieceLength {
            if !current.isEmpty { done.append(current) }
            done.append(array)
            current = []
        } else {
            current.append(contentsOf: s)
        }
    }

    public mutating func raw(_ text: String) {
        var text = text
        text.withUTF8 { short($0) }
    }

    /// Appends `bytes`; a few octets (a keyword, a number, a flag) one by one, which is cheaper than a
    /// bulk append's call for them.
    private mutating func short(_ bytes: UnsafeBufferPointer<UInt8>) {
        if bytes.count <= 16 {
            for byte in bytes { current.append(byte) }
        } else {
            current.append(contentsOf: bytes)
        }
    }
    public mutating func raw(_ octets: some Sequence<UInt8>) { current.append(contentsOf: octets) }
    public mutating func space() { current.append(0x20) }
    public mutating func crlf() { current.append(0x0D); current.append(0x0A) }
    /// A number in decimal (no String made for it): the digits are made from the last one into a small
    /// buffer (division by the constant 10 is a multiplication), then appended at once.
    public mutating func number(_ n: some BinaryInteger) {
        guard var v = UInt64(exactly: n) else { return raw(String(n)) }
        if v < 10 {
            current.append(0x30 &+ UInt8(truncatingIfNeeded: v))
            return
        }
        // UInt64.max has 20 digits.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var start = digits.count
            while v > 0 {
                start -= 1
                digits[start] = 0x30 &+ UInt8(truncatingIfNeeded: v % 10)
                v /= 10
            }
            short(UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }
    public mutating func reserve(_ n: Int) { current.reserveCapacity(current.count + n) }

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
        current.append(UInt8(ascii: "\""))
        for b in s {
            if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { current.append(UInt8(ascii: "\\")) }
            current.append(b)
        }
        current.append(UInt8(ascii: "\""))
    }

    /// `literal = "{" number64 "}" CRLF *CHAR8`
    public mutating func literal(_ s: some Collection<UInt8>) {
        current.append(UInt8(ascii: "{"))
        number(s.count)
        raw("}\r\n")
        literalOctets(s)
    }

    /// `literal8 = "~{" number64 "}" CRLF *OCTET` (RFC 3516 §4.2)
    public mutating func literal8(_ s: some Collection<UInt8>) {
        raw("~{\(s.count)}\r\n")
        literalOctets(s)
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
            current.append(contentsOf: s)
        } else {
            string(s)
        }
    }

    /// `mailbox = "INBOX" / astring`, the Unicode name encoded for the mode in force.
    public mutating func mailbox(_ name: String) {
        astring(IMAPMailboxName.wire(name, utf8: utf8))
    }
}
