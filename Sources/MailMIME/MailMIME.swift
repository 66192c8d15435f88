/// MailMIME — a pure, lenient parser for Internet messages as IMAP needs them.
///
/// Implements the parts of RFC 5322 (header fields, address lists, dates), RFC 2045–2047 (MIME
/// structure, Content-Type / Content-Transfer-Encoding, encoded words), RFC 2183 (Content-Disposition),
/// RFC 2231 (parameter continuations and charsets), RFC 2046 §5.1 (multipart boundaries) and
/// RFC 6532 (UTF-8 header fields) that an IMAP server needs for ENVELOPE, BODYSTRUCTURE, BODY[section],
/// BINARY[section] and SEARCH (RFC 9051 §6.4.4, §6.4.5, §7.5.2).
///
/// Broken input is handled the way Dovecot does: the parser never fails and never traps; it returns a
/// sane structure (an unterminated header becomes the whole part, a multipart without its closing
/// boundary ends at the end of its parent, an unknown transfer encoding is passed through, a header
/// line without a colon is kept but never matches a name). Recursion is bounded by
/// `MIMELimits.maxDepth`; the number of parts by `MIMELimits.maxParts` — past either, the remaining
/// content is one opaque leaf part.
///
/// Layout:
/// - `MIMEHeader`         — header fields of one part, by byte range into the message.
/// - `MIMEMessage` / `MIMEPart` — the parsed tree (`MIMEParser`), with body line counts.
/// - `MIMEContentType`    — Content-Type / Content-Disposition values with RFC 2231 parameters.
/// - `MIMEAddress`        — RFC 5322 address lists with groups (for ENVELOPE).
/// - `MIMEEnvelope`       — the ten ENVELOPE fields.
/// - `MIMEEncodedWord`    — RFC 2047 decoding; `MIMECharset` — charset → Unicode.
/// - `MIMETransferDecoding` — base64 and quoted-printable (lenient).
/// - `MIMESection`        — RFC 9051 §6.4.5 section addressing (part numbers, HEADER, TEXT, MIME).
/// - `MIMESearchText`     — case-insensitive matching on decoded header and body text.
/// - `MIMEDate`           — RFC 5322 date-time (lenient, obsolete forms).
public enum MIMELimits {
    /// Nesting deeper than this (multipart within multipart, message/rfc822 within …) is not parsed:
    /// the part at this depth is a leaf. Dovecot uses a similar bound (message_parser max nesting).
    public static let maxDepth = 50
    /// Parts beyond this count in one message are not split further.
    public static let maxParts = 10_000
    /// Header fields beyond this count in one part are still part of the header bytes but not indexed.
    public static let maxHeaderFields = 10_000
}

// MARK: - Byte helpers

@usableFromInline let cr: UInt8 = 0x0D
@usableFromInline let lf: UInt8 = 0x0A
@usableFromInline let sp: UInt8 = 0x20
@usableFromInline let tab: UInt8 = 0x09

@inlinable func isWSP(_ b: UInt8) -> Bool { b == sp || b == tab }

/// ASCII lower-casing of one octet.
@inlinable func asciiLower(_ b: UInt8) -> UInt8 {
    (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b
}

/// ASCII case-insensitive equality of a byte slice and a lower-case ASCII string.
func asciiEqualsLower(_ bytes: some Collection<UInt8>, _ lower: String) -> Bool {
    let l = lower.utf8
    guard bytes.count == l.count else { return false }
    return zip(bytes, l).allSatisfy { asciiLower($0) == $1 }
}

extension Array where Element == UInt8 {
    /// The end of the line starting at `start` (the index after its LF, or `count`), and the end of its
    /// content (before CRLF / LF).
    @inlinable func lineBounds(from start: Int, limit: Int? = nil) -> (contentEnd: Int, next: Int) {
        let end = limit ?? count
        var i = start
        while i < end {
            if self[i] == lf {
                let contentEnd = (i > start && self[i - 1] == cr) ? i - 1 : i
                return (contentEnd, i + 1)
            }
            i += 1
        }
        return (end, end)
    }
}

/// Trims SP, HTAB, CR and LF from both ends of a byte slice.
func trimmedWhitespace(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    var s = bytes.startIndex, e = bytes.endIndex
    while s < e, isWSP(bytes[s]) || bytes[s] == cr || bytes[s] == lf { s += 1 }
    while e > s, isWSP(bytes[e - 1]) || bytes[e - 1] == cr || bytes[e - 1] == lf { e -= 1 }
    return bytes[s..<e]
}
