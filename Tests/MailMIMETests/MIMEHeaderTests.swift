import Testing

@testable import MailMIME

@Suite struct MIMEHeaderTests {
    @Test func foldedFieldsAndEmptyLine() {
        let bytes = utf8("Subject: a\r\n b\r\nFrom: x@y\r\n\r\nbody")
        let h = MIMEHeader.parse(bytes, from: 0, to: bytes.count)
        #expect(h.fields.map(\.name) == ["Subject", "From"])
        #expect(h.value("subject", in: bytes) == utf8("a b"))
        #expect(h.range == 0..<(bytes.count - 4))
        #expect(String(decoding: bytes[h.fields[0].range], as: UTF8.self) == "Subject: a\r\n b\r\n")
    }

    @Test func lineWithoutColonIsKeptButUnnamed() {
        let bytes = utf8("From: a\r\nno colon here\r\nTo: b\r\n\r\n")
        let h = MIMEHeader.parse(bytes, from: 0, to: bytes.count)
        #expect(h.fields.map(\.name) == ["From", "", "To"])
        #expect(h.first("") == nil || h.first("")?.name == "")
        #expect(h.value("To", in: bytes) == utf8("b"))
    }

    @Test func noEmptyLineMeansAllHeader() {
        let bytes = utf8("From: a\r\nSubject: b")
        let h = MIMEHeader.parse(bytes, from: 0, to: bytes.count)
        #expect(h.range == 0..<bytes.count)
        #expect(h.value("Subject", in: bytes) == utf8("b"))
    }

    @Test func bareLFLinesAndSpaceBeforeColon() {
        let bytes = utf8("Subject : hi\nX-A:\n\nrest")
        let h = MIMEHeader.parse(bytes, from: 0, to: bytes.count)
        #expect(h.fields.map(\.name) == ["Subject", "X-A"])
        #expect(h.value("x-a", in: bytes) == [])
        #expect(h.range.upperBound == bytes.count - 4)
    }

    @Test func encodedWords() {
        #expect(MIMEEncodedWord.decode(utf8("=?utf-8?Q?Gr=C3=BC=C3=9Fe?= aus =?iso-8859-1?B?S/Zsbg==?=")) == "Grüße aus Köln")
        // Whitespace between adjacent encoded words is dropped (RFC 2047 §6.2).
        #expect(MIMEEncodedWord.decode(utf8("=?utf-8?q?a?= =?utf-8?q?b?=")) == "ab")
        #expect(MIMEEncodedWord.decode(utf8("=?utf-8?q?a_b?=")) == "a b")
        // Malformed: left as is.
        #expect(MIMEEncodedWord.decode(utf8("=?utf-8?x?abc?=")) == "=?utf-8?x?abc?=")
        #expect(MIMEEncodedWord.decode(utf8("=?utf-8?q?unterminated")) == "=?utf-8?q?unterminated")
        // RFC 2231 language suffix and Windows-1252.
        #expect(MIMEEncodedWord.decode(utf8("=?windows-1252*en?Q?=80uro?=")) == "€uro")
        // Raw UTF-8 (RFC 6532) passes through.
        #expect(MIMEEncodedWord.decode(utf8("Grüße")) == "Grüße")
    }

    @Test func charsets() {
        #expect(MIMECharset.decode([0x4B, 0xF6, 0x6C, 0x6E], charset: "ISO-8859-1") == "Köln")
        #expect(MIMECharset.decode([0xA4], charset: "iso-8859-15") == "€")
        #expect(MIMECharset.decode([0x00, 0x41, 0xD8, 0x3D, 0xDE, 0x00], charset: "utf-16be") == "A😀")
        #expect(MIMECharset.decode([0xFF, 0xFE, 0x41, 0x00], charset: "utf-16") == "A")
        #expect(MIMECharset.decode([0xC3, 0x28], charset: "utf-8") == "\u{FFFD}(")
        #expect(MIMECharset.isKnown("UTF-8"))
        #expect(!MIMECharset.isKnown("x-unknown"))
    }

    @Test func transferDecoding() {
        #expect(MIMETransferDecoding.base64(utf8("AAEC\r\n/w==")) == [0, 1, 2, 255])
        #expect(MIMETransferDecoding.base64(utf8("SGVsbG8")) == utf8("Hello")) // missing padding
        #expect(MIMETransferDecoding.base64(utf8("SG!Vs bG8=garbage")) == utf8("Hello"))
        #expect(MIMETransferDecoding.quotedPrintable(utf8("a=3Db=\r\nc  \r\nd=zz")) == utf8("a=bc\r\nd=zz"))
        #expect(MIMETransferDecoding.quotedPrintable(utf8("x=20\r\n")) == utf8("x \r\n"))
        #expect(MIMETransferEncoding("Base64") == .base64)
        #expect(MIMETransferEncoding("x-uuencode") == .other("x-uuencode"))
        #expect(MIMETransferDecoding.decode(utf8("abc")[...], .other("x")) == nil)
    }

    @Test func contentTypeParameters() throws {
        let ct = try #require(MIMEContentType.parse(utf8("Text/Plain (comment); charset=\"utf-8\"; format=flowed")))
        #expect(ct.type == "Text" && ct.subtype == "Plain")
        #expect(ct.parameter("CHARSET") == "utf-8")
        #expect(ct.parameter("format") == "flowed")
        #expect(MIMEContentType.parse(utf8("garbage")) == nil)
        let multi = try #require(MIMEContentType.parse(utf8("multipart/mixed; boundary=a/b=c")))
        #expect(multi.parameter("boundary") == "a/b=c")
    }

    @Test func rfc2231Continuations() throws {
        let ct = try #require(MIMEContentType.parse(utf8("application/x; name*0*=utf-8''%C3%A4rger; name*1*=%20und; other=1")))
        #expect(ct.parameters == [MIMEParameter("name*", "utf-8''%C3%A4rger%20und"), MIMEParameter("other", "1")])
        #expect(ct.parameter("name") == "ärger und")
        let d = try #require(MIMEDisposition.parse(utf8("attachment; filename*1=\"b\"; filename*0=\"a \"")))
        #expect(d.parameters == [MIMEParameter("filename", "a b")])
    }

    @Test func dates() throws {
        let d = try #require(MIMEDate.parse(utf8("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)")))
        #expect(d.year == 1996 && d.month == 7 && d.day == 17 && d.hour == 2 && d.zoneMinutes == -420)
        #expect(d.secondsSinceEpoch == 837_595_405)
        let obs = try #require(MIMEDate.parse(utf8("17 Jul 96 02:23 EDT")))
        #expect(obs.year == 1996 && obs.second == 0 && obs.zoneMinutes == -240)
        #expect(MIMEDate.parse(utf8("1 Jan 49 00:00:00 GMT"))?.year == 2049)
        #expect(MIMEDate.parse(utf8("not a date")) == nil)
        #expect(MIMEDate.parse(utf8("32 Jan 2000")) == nil)
    }
}
