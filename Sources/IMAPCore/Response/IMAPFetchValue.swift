import MailCore
import MailMIME

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// FETCH response items (RFC 9051 §7.5.2 `msg-att`) and the ENVELOPE encoding.
///
/// ```
/// msg-att         = "(" (msg-att-dynamic / msg-att-static) *(SP (msg-att-dynamic / msg-att-static)) ")"
/// msg-att-dynamic = "FLAGS" SP "(" [flag-fetch *(SP flag-fetch)] ")"
/// msg-att-static  = "ENVELOPE" SP envelope / "INTERNALDATE" SP date-time / "RFC822.SIZE" SP number64 /
///                   "BODY" ["STRUCTURE"] SP body / "BODY" section ["<" number ">"] SP nstring /
///                   "BINARY" section-binary SP (nstring / literal8) / "BINARY.SIZE" section-binary SP number /
///                   "UID" SP uniqueid
/// msg-att-static  =/ "RFC822" [".HEADER" / ".TEXT"] SP nstring          ; RFC 3501
/// fetch-mod-resp  = "MODSEQ" SP "(" permsg-modsequence ")"              ; RFC 7162
/// envelope        = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP env-to SP
///                   env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")"
/// env-from        = "(" 1*address ")" / nil          ; likewise sender, reply-to, to, cc, bcc
/// address         = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
/// ```
public enum IMAPFetchValue: Hashable, Sendable {
    case flags([IMAPFlag])
    case uid(UInt32)
    case internalDate(IMAPDateTime)
    case rfc822Size(UInt64)
    case modSeq(UInt64)
    case envelope(MIMEEnvelope)
    /// BODY (no extension data)
    case body(IMAPBodyStructure)
    case bodyStructure(IMAPBodyStructure)
    /// `BODY[section]<origin>`: nil data is NIL (the section does not exist).
    case bodySection(MIMESectionSpec, origin: UInt64?, IMAPMessageText?)
    /// `BINARY[part]<origin>`: sent as literal8 when it holds NUL.
    case binary(part: [Int], origin: UInt64?, [UInt8]?)
    case binarySize(part: [Int], UInt64)
    case rfc822(IMAPMessageText)
    case rfc822Header(IMAPMessageText)
    case rfc822Text(IMAPMessageText)

    func encode(into w: inout IMAPWireWriter) {
        switch self {
        case .flags(let flags):
            w.raw("FLAGS (")
            for (i, flag) in flags.enumerated() {
                if i > 0 { w.space() }
                w.raw(flag.name)
            }
            w.raw(")")
        case .uid(let uid):
            w.raw("UID ")
            w.number(uid)
        case .internalDate(let d): w.raw("INTERNALDATE " + d.encoded)
        case .rfc822Size(let n):
            w.raw("RFC822.SIZE ")
            w.number(n)
        case .modSeq(let m):
            w.raw("MODSEQ (")
            w.number(m)
            w.raw(")")
        case .envelope(let e):
            w.raw("ENVELOPE ")
            IMAPFetchValue.envelope(e, into: &w)
        case .body(let b):
            w.raw("BODY ")
            b.encode(into: &w, extensions: false)
        case .bodyStructure(let b):
            w.raw("BODYSTRUCTURE ")
            b.encode(into: &w, extensions: true)
        case .bodySection(let spec, let origin, let data):
            w.raw("BODY[")
            IMAPFetchValue.section(spec, into: &w)
            w.raw("]")
            if let origin { w.raw("<\(origin)>") }
            w.space()
            IMAPFetchValue.messageData(data, into: &w)
        case .binary(let part, let origin, let data):
            w.raw("BINARY[" + part.map(String.init).joined(separator: ".") + "]")
            if let origin { w.raw("<\(origin)>") }
            w.space()
            if let data, data.contains(0) {
                w.literal8(data)
            } else if let data {
                w.literal(data)
            } else {
                w.raw("NIL")
            }
        case .binarySize(let part, let n):
            w.raw("BINARY.SIZE[" + part.map(String.init).joined(separator: ".") + "] \(n)")
        case .rfc822(let data):
            w.raw("RFC822 ")
            IMAPFetchValue.messageData(data, into: &w)
        case .rfc822Header(let data):
            w.raw("RFC822.HEADER ")
            IMAPFetchValue.messageData(data, into: &w)
        case .rfc822Text(let data):
            w.raw("RFC822.TEXT ")
            IMAPFetchValue.messageData(data, into: &w)
        }
    }

    /// Message text is always sent as a literal (it has line ends); `IMAPMessageText` holds no NUL.
    static func messageData(_ text: IMAPMessageText?, into w: inout IMAPWireWriter) {
        guard let text else { w.raw("NIL"); return }
        w.literal(text.octets)
    }

    /// The section text as it was requested (field names upper-cased as Dovecot and Cyrus do not; they
    /// are echoed as sent).
    static func section(_ spec: MIMESectionSpec, into w: inout IMAPWireWriter) {
        var parts: [String] = spec.part.map(String.init)
        switch spec.text {
        case nil: break
        case .header?: parts.append("HEADER")
        case .text?: parts.append("TEXT")
        case .mime?: parts.append("MIME")
        case .headerFields(let names)?, .headerFieldsNot(let names)?:
            if case .headerFieldsNot = spec.text { parts.append("HEADER.FIELDS.NOT") } else { parts.append("HEADER.FIELDS") }
            w.raw(parts.joined(separator: "."))
            w.raw(" (")
            for (i, n) in names.enumerated() {
                if i > 0 { w.space() }
                w.astring(Array(n.utf8))
            }
            w.raw(")")
            return
        }
        w.raw(parts.joined(separator: "."))
    }

    static func envelope(_ e: MIMEEnvelope, into w: inout IMAPWireWriter) {
        w.raw("(")
        w.nstring(e.date)
        w.space()
        w.nstring(e.subject)
        for list in [e.from, e.sender, e.replyTo, e.to, e.cc, e.bcc] {
            w.space()
            addresses(list, into: &w)
        }
        w.space()
        w.nstring(e.inReplyTo)
        w.space()
        w.nstring(e.messageID)
        w.raw(")")
    }

    static func addresses(_ items: [MIMEAddressItem], into w: inout IMAPWireWriter) {
        guard !items.isEmpty else { w.raw("NIL"); return }
        w.raw("(")
        for item in items {
            w.raw("(")
            switch item {
            case .mailbox(let name, let route, let local, let domain):
                w.nstring(name)
                w.space()
                w.nstring(route)
                w.space()
                w.string(local)
                w.space()
                w.string(domain)
            case .groupStart(let name):
                w.raw("NIL NIL ")
                w.string(name)
                w.raw(" NIL")
            case .groupEnd:
                w.raw("NIL NIL NIL NIL")
            }
            w.raw(")")
        }
        w.raw(")")
    }
}

/// Message text as a FETCH sends it (BODY[…], RFC822, RFC822.HEADER/TEXT): always in a literal (it has
/// line ends), which may not hold NUL (RFC 9051 `CHAR8`), so each NUL is sent as 0x80, as Dovecot does
/// (BINARY[] returns the exact octets, in a literal8). Made only by `init(_:form:)`, so no value carries a
/// NUL to the encoder unless a form wrongly says `.noNUL` (only the SMTP DATA decoder, which refuses NUL,
/// sets it: `BodyForm`).
public struct IMAPMessageText: Hashable, Sendable {
    public let octets: [UInt8]

    /// `octets` (the stored message or a part of it) with each NUL replaced by 0x80. `form` is what the
    /// store knows about the whole stored message (`IMAPStoredMessage.form`): when it says there is no NUL
    /// (`.noNUL`, which the SMTP DATA decoder checked at delivery), no part of it has one and the octets are
    /// not scanned again; otherwise memchr (vectorised) looks, and most messages have none.
    public init(_ octets: [UInt8], form: BodyForm = []) {
        guard !form.contains(.noNUL) else {
            self.octets = octets
            return
        }
        let hasNUL = octets.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return false }
            return memchr(base, 0, buffer.count) != nil
        }
        self.octets = hasNUL ? octets.map { $0 == 0 ? 0x80 : $0 } : octets
    }
}
