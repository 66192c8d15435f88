import Testing

@testable import MailMIME

@Suite struct MIMEStructureTests {
    @Test func simpleMessage() {
        let m = Corpus.message("simple.eml")
        #expect(m.root.kind == .leaf)
        #expect(m.root.contentType.type == "TEXT")
        #expect(m.root.contentType.parameter("charset") == "US-ASCII")
        #expect(m.root.bodyLines == 2)
        #expect(m.text(m.root.bodyRange).hasPrefix("Hello Joe"))
        let env = m.envelope
        #expect(env.subject == utf8("=?utf-8?Q?Gr=C3=BC=C3=9Fe?= aus =?iso-8859-1?B?S/Zsbg==?="))
        #expect(env.from == [.mailbox(name: utf8("Terry Gray"), route: nil, local: utf8("gray"), domain: utf8("cac.washington.edu"))])
        #expect(env.sender == env.from && env.replyTo == env.from)
        #expect(env.cc.count == 2)
        #expect(env.bcc.isEmpty && env.inReplyTo == nil)
        #expect(env.messageID == utf8("<B27397-0100000@cac.washington.edu>"))
    }

    @Test func alternativeWithPreambleAndEpilogue() {
        let m = Corpus.message("alternative.eml")
        #expect(m.root.kind == .multipart)
        #expect(m.root.children.count == 2)
        let plain = m.root.children[0]
        #expect(m.text(plain.bodyRange) == "Caf=C3=A9 cr=C3=A8me, soft=\r\n break here.")
        #expect(plain.bodyLines == 2)
        #expect(m.decodedText(plain) == "Café crème, soft break here.")
        #expect(m.text(m.root.children[1].bodyRange) == "<p>Café crème</p>")
    }

    @Test func nestedStructureAndSections() throws {
        let m = Corpus.message("nested.eml")
        #expect(m.root.children.count == 3)
        #expect(m.root.children[0].kind == .multipart)
        #expect(m.root.children[1].contentType.subtype == "pdf")
        #expect(m.root.children[2].kind == .message)
        let inner = m.root.children[2].encapsulated
        #expect(inner?.kind == .multipart)
        #expect(inner?.children.count == 2)
        // Part numbers (RFC 9051 §6.4.5).
        #expect(m.sectionText(MIMESectionSpec(part: [1, 1])) == "Plain part.")
        #expect(m.sectionText(MIMESectionSpec(part: [1, 2])) == "<b>HTML part.</b>")
        #expect(m.sectionText(MIMESectionSpec(part: [3, 1])) == "Inner body text with needle-inside.")
        #expect(m.section(MIMESectionSpec(part: [3, 2])) == utf8("AAEC/w=="))
        #expect(m.sectionText(MIMESectionSpec(part: [3], text: .header))?.hasPrefix("From: Carol") == true)
        #expect(m.sectionText(MIMESectionSpec(part: [3], text: .mime)) == "Content-Type: message/rfc822\r\n\r\n")
        #expect(
            m.sectionText(MIMESectionSpec(part: [3], text: .headerFields(["subject", "TO"])))
                == "To: dave@example.test\r\nSubject: Inner message\r\n\r\n")
        #expect(m.sectionText(MIMESectionSpec(part: [1, 1], text: .mime)) == "Content-Type: text/plain; charset=us-ascii\r\n\r\n")
        // HEADER/TEXT need a message/rfc822 part; missing parts are nil.
        #expect(m.section(MIMESectionSpec(part: [2], text: .header)) == nil)
        #expect(m.section(MIMESectionSpec(part: [4])) == nil)
        #expect(m.section(MIMESectionSpec(part: [1, 1, 1])) == nil)
        #expect(m.section(MIMESectionSpec(part: [], text: .mime)) == nil)
        // BINARY decodes the transfer encoding.
        #expect(try m.binary([2]).get() == Array(0...255).map(UInt8.init))
        #expect(try m.binary([3, 2]).get() == [0, 1, 2, 255])
        #expect(m.binary([9]) == .failure(.noSuchPart))
        #expect(try m.binary([]).get() == m.bytes)
        // HEADER.FIELDS.NOT and TEXT of the whole message.
        #expect(
            m.sectionText(MIMESectionSpec(text: .headerFieldsNot(["From", "To", "Subject", "Date", "Message-ID", "MIME-Version"])))
                == "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n")
        #expect(m.sectionText(MIMESectionSpec(text: .text))?.hasPrefix("--outer\r\n") == true)
    }

    @Test func singlePartNumbering() {
        let m = Corpus.message("simple.eml")
        #expect(m.section(MIMESectionSpec(part: [1])) == Array(m.slice(m.root.bodyRange)))
        #expect(m.section(MIMESectionSpec(part: [2])) == nil)
    }

    @Test func rfc2231Parts() {
        let m = Corpus.message("rfc2231.eml")
        #expect(m.root.children.count == 2)
        let first = m.root.children[0]
        #expect(first.contentType.parameters == [MIMEParameter("name*", "utf-8''%C3%A4rger%20und%20mehr.txt")])
        #expect(first.contentType.parameter("name") == "ärger und mehr.txt")
        let d = MIMEDisposition.parse(first.header.value("Content-Disposition", in: m.bytes) ?? [])
        #expect(d?.parameters == [MIMEParameter("filename", "very long file name.txt")])
        #expect(m.root.children[1].contentType.parameter("title") == "This is ***fun***")
    }

    @Test func brokenInputIsSane() {
        let m = Corpus.message("broken.eml")
        // The first Content-Type wins; the multipart never closes; the inner one neither.
        #expect(m.root.kind == .multipart)
        #expect(m.root.children.count == 2)
        #expect(m.text(m.root.children[0].bodyRange) == "first part, no closing boundary follows")
        #expect(m.root.children[1].kind == .multipart)
        #expect(m.root.children[1].children.count == 1)
        #expect(m.header.fields.contains { $0.name.isEmpty })
    }

    @Test func digestDefaultsToMessage() {
        let m = Corpus.message("digest.eml")
        #expect(m.root.children.count == 2)
        #expect(m.root.children.allSatisfy { $0.kind == .message && $0.contentType.isDefault })
        #expect(m.root.children[1].encapsulated.map { MIMEEnvelope(header: $0.header, in: m.bytes).subject } == utf8("Two"))
    }

    @Test func headerOnlyAndBareLF() {
        let h = Corpus.message("header-only.eml")
        #expect(h.root.bodyRange.isEmpty)
        #expect(h.headerValue("Subject") == utf8("No body"))
        // RFC 3501 §6.4.5: no blank line in header fetches of a message with no body and no blank line.
        #expect(h.sectionText(MIMESectionSpec(part: [], text: .header)) == "From: a@example.test\r\nSubject: No body\r\n")
        #expect(h.sectionText(MIMESectionSpec(part: [], text: .headerFields(["subject"]))) == "Subject: No body\r\n")
        #expect(h.sectionText(MIMESectionSpec(part: [], text: .headerFieldsNot(["from"]))) == "Subject: No body\r\n")
        #expect(h.sectionText(MIMESectionSpec(part: [], text: .headerFields(["x-none"]))) == "")
        // With a blank line it is always there, also when no field is selected.
        let s = Corpus.message("simple.eml")
        #expect(s.sectionText(MIMESectionSpec(part: [], text: .headerFields(["x-none"]))) == "\r\n")
        #expect(s.sectionText(MIMESectionSpec(part: [], text: .headerFieldsNot(["from"])))?.hasSuffix("US-ASCII\r\n\r\n") == true)
        let lf = Corpus.message("lf-only.eml")
        #expect(lf.root.children.count == 1)
        #expect(lf.text(lf.root.children[0].bodyRange) == "line one\nline two")
        #expect(lf.root.children[0].bodyLines == 2)
    }

    @Test func utf8Headers() {
        let m = Corpus.message("utf8.eml")
        #expect(m.envelope.from == [.mailbox(name: utf8("Jöran Ünlü"), route: nil, local: utf8("jöran"), domain: utf8("bücher.example"))])
        #expect(m.headerMatches("Subject", MIMESearchNeedle("KÖLN")))
        #expect(m.bodyMatches(MIMESearchNeedle("你好世界")))
    }

    @Test func addressGroupsRoutesComments() {
        let m = Corpus.message("groups.eml")
        let e = m.envelope
        #expect(e.from == [.mailbox(name: utf8("Sender"), route: nil, local: utf8("s"), domain: utf8("example.test"))])
        #expect(e.to == [.groupStart(name: utf8("undisclosed-recipients")), .groupEnd])
        #expect(
            e.cc == [
                .groupStart(name: utf8("Friends")),
                .mailbox(name: nil, route: nil, local: utf8("a"), domain: utf8("example.test")),
                .mailbox(name: utf8("B. Person"), route: nil, local: utf8("b"), domain: utf8("example.test")),
                .groupEnd,
                .mailbox(name: nil, route: nil, local: utf8("c"), domain: utf8("example.test"))
            ])
        #expect(
            e.bcc == [
                .mailbox(name: utf8("Hidden Person"), route: nil, local: utf8("hidden"), domain: utf8("example.test")),
                .mailbox(name: nil, route: nil, local: utf8("bare-local-part"), domain: MIMEAddressList.missingDomain)
            ])
        #expect(e.replyTo == [.mailbox(name: nil, route: utf8("@route1,@route2"), local: utf8("routed"), domain: utf8("example.test"))])
        #expect(e.date == nil)
    }

    @Test func searchMatching() {
        let latin = Corpus.message("latin1.eml")
        #expect(latin.headerMatches("subject", MIMESearchNeedle("grüße")))
        #expect(latin.bodyMatches(MIMESearchNeedle("SCHÖNE GRÜẞE")))
        #expect(latin.textMatches(MIMESearchNeedle("x@example")))
        #expect(!latin.bodyMatches(MIMESearchNeedle("x@example")))
        let nested = Corpus.message("nested.eml")
        #expect(nested.bodyMatches(MIMESearchNeedle("NEEDLE-INSIDE")))
        #expect(nested.bodyMatches(MIMESearchNeedle("inner message"))) // an encapsulated header is body text
        #expect(!nested.bodyMatches(MIMESearchNeedle("doc.pdf"))) // not in any text part
        #expect(nested.headerMatches("Content-Type", MIMESearchNeedle("")))
        #expect(!nested.headerMatches("X-Missing", MIMESearchNeedle("")))
        let alt = Corpus.message("alternative.eml")
        #expect(alt.bodyMatches(MIMESearchNeedle("soft break"))) // quoted-printable soft break joined
    }

    @Test func everyCorpusMessageParses() {
        #expect(Corpus.all.count >= 10)
        for name in Corpus.all {
            let m = Corpus.message(name)
            #expect(!m.bytes.isEmpty, "\(name)")
            #expect(m.root.range.upperBound == m.bytes.count, "\(name)")
            _ = m.envelope
        }
    }
}
