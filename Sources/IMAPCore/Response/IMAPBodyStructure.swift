/// BODY and BODYSTRUCTURE (RFC 9051 §7.5.2), computed from a parsed message (`MailMIME`) and encoded.
///
/// ```
/// body            = "(" (body-type-1part / body-type-mpart) ")"
/// body-type-1part = (body-type-basic / body-type-msg / body-type-text) [SP body-ext-1part]
/// body-type-basic = media-basic SP body-fields
/// body-type-msg   = media-message SP body-fields SP envelope SP body SP body-fld-lines
/// body-type-text  = media-text SP body-fields SP body-fld-lines
/// body-fields     = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
/// body-fld-param  = "(" string SP string *(SP string SP string) ")" / nil
/// body-ext-1part  = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]]
/// body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
/// body-ext-mpart  = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]]
/// body-fld-dsp    = "(" string SP body-fld-param ")" / nil
/// body-fld-lang   = nstring / "(" string *(SP string) ")"
/// body-fld-loc    = nstring
/// ```
/// As Dovecot does, BODYSTRUCTURE always carries every extension field (MD5, disposition, language,
/// location); BODY carries none. A part without Content-Type is text/plain with charset us-ascii; a
/// message/rfc822 part too deep to parse is reported with an empty envelope and an empty text body.
import Foundation
import MailMIME

public indirect enum IMAPBodyStructure: Hashable, Sendable {
    case single(IMAPBodySinglePart)
    case multipart(IMAPBodyMultipart)

    /// The structure of a whole message.
    public init(_ message: MIMEMessage) {
        self = IMAPBodyStructure.build(message.root, in: message)
    }

    static func build(_ part: MIMEPart, in message: MIMEMessage) -> IMAPBodyStructure {
        let header = part.header
        let bytes = message.bytes
        let disposition = header.value("Content-Disposition", in: bytes).flatMap(MIMEDisposition.parse)
        let language = header.value("Content-Language", in: bytes).map { value -> [String] in
            String(decoding: value, as: UTF8.self).split(separator: ",")
                .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \t")) }.filter { !$0.isEmpty }
        }
        let location = header.value("Content-Location", in: bytes)
        if part.kind == .multipart {
            return .multipart(
                IMAPBodyMultipart(
                    parts: part.children.map { build($0, in: message) },
                    subtype: part.contentType.subtype,
                    parameters: part.contentType.parameters,
                    disposition: disposition, language: language, location: location))
        }
        var single = IMAPBodySinglePart(
            type: part.contentType.type, subtype: part.contentType.subtype,
            parameters: part.contentType.parameters,
            id: header.value("Content-ID", in: bytes),
            description: header.value("Content-Description", in: bytes),
            encoding: message.transferEncodingValue(part) ?? "7BIT",
            size: part.bodyRange.count, kind: .basic,
            md5: header.value("Content-MD5", in: bytes),
            disposition: disposition, language: language, location: location)
        if part.contentType.isMultipart {
            // A multipart that could not be split (no boundary, no delimiter): a leaf, reported as text
            // lines would confuse clients; report it as application/octet-stream data like Dovecot.
            single.type = "application"
            single.subtype = "octet-stream"
        } else if let inner = part.encapsulated {
            single.kind = .message(
                envelope: MIMEEnvelope(header: inner.header, in: bytes),
                body: build(inner, in: message), lines: part.bodyLines)
        } else if part.contentType.isMessage {
            single.kind = .message(
                envelope: MIMEEnvelope(header: MIMEHeader(range: 0..<0), in: []),
                body: .single(IMAPBodySinglePart.emptyText), lines: part.bodyLines)
        } else if part.contentType.isText {
            single.kind = .text(lines: part.bodyLines)
        }
        return .single(single)
    }

    /// Encodes `body` (extensions false: BODY) or the extensible form (BODYSTRUCTURE).
    func encode(into w: inout IMAPWireWriter, extensions: Bool) {
        switch self {
        case .single(let s): s.encode(into: &w, extensions: extensions)
        case .multipart(let m): m.encode(into: &w, extensions: extensions)
        }
    }
}

public struct IMAPBodySinglePart: Hashable, Sendable {
    public indirect enum Kind: Hashable, Sendable {
        case basic
        case text(lines: Int)
        case message(envelope: MIMEEnvelope, body: IMAPBodyStructure, lines: Int)
    }

    public var type: String
    public var subtype: String
    public var parameters: [MIMEParameter]
    public var id: [UInt8]?
    public var description: [UInt8]?
    public var encoding: String
    public var size: Int
    public var kind: Kind
    public var md5: [UInt8]?
    public var disposition: MIMEDisposition?
    public var language: [String]?
    public var location: [UInt8]?

    static let emptyText = IMAPBodySinglePart(
        type: "text", subtype: "plain", parameters: [MIMEParameter("charset", "us-ascii")],
        id: nil, description: nil, encoding: "7bit", size: 0, kind: .text(lines: 0),
        md5: nil, disposition: nil, language: nil, location: nil)

    func encode(into w: inout IMAPWireWriter, extensions: Bool) {
        w.raw("(")
        w.string(type)
        w.space()
        w.string(subtype)
        w.space()
        IMAPBodySinglePart.parameters(parameters, into: &w)
        w.space()
        w.nstring(id)
        w.space()
        w.nstring(description)
        w.space()
        w.string(encoding)
        w.space()
        w.number(size)
        switch kind {
        case .basic:
            break
        case .text(let lines):
            w.space()
            w.number(lines)
        case .message(let envelope, let body, let lines):
            w.space()
            IMAPFetchValue.envelope(envelope, into: &w)
            w.space()
            body.encode(into: &w, extensions: extensions)
            w.space()
            w.number(lines)
        }
        if extensions {
            w.space()
            w.nstring(md5)
            w.space()
            IMAPBodySinglePart.extensionTail(disposition, language, location, into: &w)
        }
        w.raw(")")
    }

    /// `body-fld-param`
    static func parameters(_ params: [MIMEParameter], into w: inout IMAPWireWriter) {
        guard !params.isEmpty else { w.raw("NIL"); return }
        w.raw("(")
        for (i, p) in params.enumerated() {
            if i > 0 { w.space() }
            w.string(p.name)
            w.space()
            w.string(p.value)
        }
        w.raw(")")
    }

    /// `body-fld-dsp SP body-fld-lang SP body-fld-loc`
    static func extensionTail(
        _ disposition: MIMEDisposition?, _ language: [String]?, _ location: [UInt8]?,
        into w: inout IMAPWireWriter
    ) {
        if let d = disposition {
            w.raw("(")
            w.string(d.value)
            w.space()
            parameters(d.parameters, into: &w)
            w.raw(")")
        } else {
            w.raw("NIL")
        }
        w.space()
        if let language, !language.isEmpty {
            if language.count == 1 {
                w.string(language[0])
            } else {
                w.raw("(")
                for (i, l) in language.enumerated() {
                    if i > 0 { w.space() }
                    w.string(l)
                }
                w.raw(")")
            }
        } else {
            w.raw("NIL")
        }
        w.space()
        w.nstring(location)
    }
}

public struct IMAPBodyMultipart: Hashable, Sendable {
    public var parts: [IMAPBodyStructure]
    public var subtype: String
    public var parameters: [MIMEParameter]
    public var disposition: MIMEDisposition?
    public var language: [String]?
    public var location: [UInt8]?

    func encode(into w: inout IMAPWireWriter, extensions: Bool) {
        w.raw("(")
        for p in parts { p.encode(into: &w, extensions: extensions) }
        w.space()
        w.string(subtype)
        if extensions {
            w.space()
            IMAPBodySinglePart.parameters(parameters, into: &w)
            w.space()
            IMAPBodySinglePart.extensionTail(disposition, language, location, into: &w)
        }
        w.raw(")")
    }
}
