import MailCore
import MailMIME
import Testing

@testable import IMAPCore

/// The encoder against the exact bytes of RFC examples (RFC 9051 §7, RFC 3501 §7.4.2, RFC 4315, RFC 4731,
/// RFC 7162, RFC 9208, RFC 2342, RFC 2971, RFC 5258).
@Suite struct IMAPResponseEncoderTests {
    func wire(_ r: IMAPResponse, utf8: Bool = false) -> String { text(r.encoded(utf8: utf8)) }

    @Test func statusResponses() {
        #expect(wire(.tagged(tag: "A142", .ok, .readWrite, "SELECT completed")) == "A142 OK [READ-WRITE] SELECT completed\r\n")
        #expect(wire(.untagged(.ok, .uidValidity(3_857_529_045), "UIDs valid")) == "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n")
        #expect(
            wire(.untagged(.ok, .permanentFlags([.deleted, .seen], allowsNewKeywords: true), "Limited"))
                == "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n")
        #expect(
            wire(.tagged(tag: "A003", .ok, .appendUID(uidValidity: 38505, uids: .compact([3955])), "APPEND completed"))
                == "A003 OK [APPENDUID 38505 3955] APPEND completed\r\n")
        #expect(
            wire(
                .tagged(
                    tag: "A004", .ok,
                    .copyUID(
                        uidValidity: 38505, source: try! IMAPSequenceSet(parsing: "304,319:320"),
                        destination: try! IMAPSequenceSet(parsing: "3956:3958")), "Done"))
                == "A004 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n")
        #expect(
            wire(.tagged(tag: "d105", .ok, .modified(try! IMAPSequenceSet(parsing: "7,9")), "Conditional STORE failed"))
                == "d105 OK [MODIFIED 7,9] Conditional STORE failed\r\n")
        #expect(wire(.tagged(tag: "a", .no, .badCharset(["UTF-8", "US-ASCII"]), "x")) == "a NO [BADCHARSET (UTF-8 US-ASCII)] x\r\n")
        #expect(wire(.untagged(.bye, nil, "IMAP4rev2 Server logging out")) == "* BYE IMAP4rev2 Server logging out\r\n")
        #expect(wire(.continuation("Ready for additional command text")) == "+ Ready for additional command text\r\n")
        #expect(wire(.continuationData([])) == "+ \r\n")
        #expect(wire(.continuationData(bytes("Username:"))) == "+ VXNlcm5hbWU6\r\n")
        #expect(wire(.tagged(tag: "a", .bad, nil, "line\r\nbreak")) == "a BAD line  break\r\n")
    }

    @Test func mailboxData() {
        #expect(
            wire(.data(.capability(["IMAP4rev2", "STARTTLS", "AUTH=GSSAPI", "LOGINDISABLED"])))
                == "* CAPABILITY IMAP4rev2 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n")
        #expect(wire(.data(.exists(172))) == "* 172 EXISTS\r\n")
        #expect(wire(.data(.expunge(44))) == "* 44 EXPUNGE\r\n")
        #expect(wire(.data(.flags([.answered, .flagged, .deleted, .seen, .draft]))) == "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n")
        #expect(
            wire(.data(.status(mailbox: "blurdybloop", [IMAPStatusValue(.messages, 231), IMAPStatusValue(.uidNext, 44292)])))
                == "* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n")
        #expect(wire(.data(.list(IMAPListItem(attributes: ["\\Noselect"], name: "~/Mail/foo")))) == "* LIST (\\Noselect) \"/\" ~/Mail/foo\r\n")
        #expect(wire(.data(.list(IMAPListItem(attributes: [], name: "Sent Items")))) == "* LIST () \"/\" \"Sent Items\"\r\n")
        #expect(
            wire(.data(.list(IMAPListItem(attributes: ["\\NonExistent"], name: "Foo", childInfoSubscribed: true))))
                == "* LIST (\\NonExistent) \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n")
        #expect(wire(.data(.list(IMAPListItem(attributes: ["\\HasNoChildren"], name: "台北")))) == "* LIST (\\HasNoChildren) \"/\" &U,BTFw-\r\n")
        #expect(
            wire(.data(.list(IMAPListItem(attributes: ["\\HasNoChildren"], name: "台北"))), utf8: true)
                == "* LIST (\\HasNoChildren) \"/\" \"台北\"\r\n")
        #expect(wire(.data(.list(IMAPListItem(attributes: [], name: "NIL")))) == "* LIST () \"/\" \"NIL\"\r\n")
        #expect(wire(.data(.namespace(personal: [("", "/")]))) == "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n")
        #expect(wire(.data(.search([2, 3, 6], modSeq: nil))) == "* SEARCH 2 3 6\r\n")
        #expect(
            wire(.data(.search([2, 5, 6, 7, 11, 12, 18, 19, 20, 23], modSeq: 917_162_500)))
                == "* SEARCH 2 5 6 7 11 12 18 19 20 23 (MODSEQ 917162500)\r\n")
        #expect(wire(.data(.search([], modSeq: nil))) == "* SEARCH\r\n")
        #expect(wire(.data(.esearch(IMAPESearch(tag: "A282", uid: false, min: 2, count: 3)))) == "* ESEARCH (TAG \"A282\") MIN 2 COUNT 3\r\n")
        #expect(
            wire(.data(.esearch(IMAPESearch(tag: "A283", uid: true, all: try! IMAPSequenceSet(parsing: "2,10:11")))))
                == "* ESEARCH (TAG \"A283\") UID ALL 2,10:11\r\n")
        #expect(
            wire(.data(.vanished(earlier: true, try! IMAPSequenceSet(parsing: "41,43:116,118,120:211,214:540"))))
                == "* VANISHED (EARLIER) 41,43:116,118,120:211,214:540\r\n")
        #expect(wire(.data(.enabled(["CONDSTORE", "QRESYNC"]))) == "* ENABLED CONDSTORE QRESYNC\r\n")
        #expect(
            wire(.data(.id([IMAPIDField("name", "Cyrus"), IMAPIDField("version", "1.5")]))) == "* ID (\"name\" \"Cyrus\" \"version\" \"1.5\")\r\n")
        #expect(wire(.data(.id(nil))) == "* ID NIL\r\n")
        #expect(wire(.data(.quota(root: "", [IMAPQuotaResource("STORAGE", usage: 10, limit: 512)]))) == "* QUOTA \"\" (STORAGE 10 512)\r\n")
        #expect(wire(.data(.quotaRoot(mailbox: "INBOX", roots: [""]))) == "* QUOTAROOT INBOX \"\"\r\n")
    }

    @Test func stringChoice() {
        var w = IMAPWireWriter(utf8: false)
        w.string(bytes("plain \"q\" \\"))
        w.space()
        w.string(bytes("two\r\nlines"))
        w.space()
        w.string(bytes("Grüße"))
        #expect(text(w.bytes) == "\"plain \\\"q\\\" \\\\\" {10}\r\ntwo\r\nlines {7}\r\nGrüße")
        var u = IMAPWireWriter(utf8: true)
        u.string(bytes("Grüße"))
        u.space()
        u.string([0xFF, 0x41])
        #expect(u.bytes == bytes("\"Grüße\" {2}\r\n") + [0xFF, 0x41])
        var long = IMAPWireWriter(utf8: false)
        long.string([UInt8](repeating: 0x61, count: 1025))
        #expect(text(long.bytes).hasPrefix("{1025}\r\n"))
    }

    /// A message body of `ownPieceLength` octets or more is sent as a piece of its own, between what was
    /// written before and after it (not copied into the response); a shorter one is part of the bytes.
    @Test func largeLiteralIsAPieceOfItsOwn() {
        let big = [UInt8](repeating: 0x62, count: IMAPWireWriter.ownPieceLength)
        var w = IMAPWireWriter(utf8: false)
        w.raw("* 1 FETCH (BODY[] ")
        w.literal(big)
        w.raw(")\r\n* 2 FETCH (BODY[] ")
        w.literal(Array(big.dropLast()))
        w.raw(")\r\n")
        let head = bytes("* 1 FETCH (BODY[] {16384}\r\n")
        let small = bytes(")\r\n* 2 FETCH (BODY[] {16383}\r\n") + big.dropLast() + bytes(")\r\n")
        #expect(w.pieces == [head, big, small])
        #expect(w.bytes == head + big + small)
        var one = IMAPWireWriter(utf8: false)
        one.literal(big)
        #expect(one.pieces == [bytes("{16384}\r\n"), big])
        #expect(IMAPWireWriter(utf8: false).pieces.isEmpty)
    }

    /// Small sends in a row become one write; a large one stays as it is, and nothing is lost or reordered.
    @Test func coalesceJoinsSmallSendsAndKeepsLargeOnes() {
        let big = [UInt8](repeating: 0x62, count: IMAPWireWriter.ownPieceLength)
        let actions: [IMAPServerAction] = [
            .send(bytes("a")), .send(bytes("b")), .send([]), .send(big), .send(bytes("c")), .close, .send(bytes("d"))
        ]
        let out = IMAPServerSession.coalesce(actions)
        #expect(out == [.send(bytes("ab")), .send(big), .send(bytes("c")), .close, .send(bytes("d"))])
    }

    /// RFC 3501 §6.4.5's FETCH FULL example, computed from a message built to match it.
    @Test func rfc3501FetchFullExample() throws {
        var message =
            "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
            + "From: Terry Gray <gray@cac.washington.edu>\r\n"
            + "Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
            + "To: imap@cac.washington.edu\r\n"
            + "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n"
            + "Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
            + "MIME-Version: 1.0\r\n"
            + "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n"
        let header = message.utf8.count
        for i in 0..<92 {
            let line = i == 91 ? String(repeating: "x", count: 3028 - 91 * 33 - 2) : String(repeating: "y", count: 31)
            message += line + "\r\n"
        }
        let body = message.utf8.count - header
        #expect(body == 3028)
        let stored = IMAPStoredMessage(
            metadata: IMAPMessageMetadata(
                uid: 1, flags: [.seen], internalDate: IMAPDateTime(secondsSinceEpoch: 837_596_665, zoneMinutes: -420),
                size: 4286, modSeq: 1),
            content: bytes(message))
        let out = IMAPFetchRenderer.render(stored, items: [.flags, .internalDate, .rfc822Size, .envelope, .body])
        #expect(!out.unknownCTE)
        #expect(
            wire(.data(.fetch(12, out.values))) == "* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
                + "RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
                + "\"IMAP4rev1 WG mtg summary and minutes\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
                + "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
                + "((NIL NIL \"imap\" \"cac.washington.edu\")) ((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")"
                + "(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \"<B27397-0100000@cac.washington.edu>\") "
                + "BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92))\r\n")
    }

    /// RFC 9051 §7.5.2's multipart BODYSTRUCTURE example shape: two text parts, no separators between parts.
    @Test func multipartBodyStructure() {
        let msg =
            "Content-Type: MULTIPART/MIXED; BOUNDARY=\"----- =_aaaaaaaaaa0\"\r\n\r\n"
            + "------- =_aaaaaaaaaa0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n"
            + String(repeating: "a\r\n", count: 23) + "------- =_aaaaaaaaaa0\r\n"
            + "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME=cc.diff\r\nContent-ID: <960723163407.20117h@cac.washington.edu>\r\n"
            + "Content-Description: Compiler diff\r\nContent-Transfer-Encoding: BASE64\r\n\r\n"
            + String(repeating: "QUJD\r\n", count: 99) + "QUJ\r\n------- =_aaaaaaaaaa0--\r\n"
        let structure = IMAPBodyStructure(MIMEMessage(bytes(msg)))
        var w = IMAPWireWriter(utf8: false)
        structure.encode(into: &w, extensions: false)
        #expect(
            text(w.bytes) == "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 67 23)"
                + "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") \"<960723163407.20117h@cac.washington.edu>\" "
                + "\"Compiler diff\" \"BASE64\" 597 100) \"MIXED\")")
        var e = IMAPWireWriter(utf8: false)
        structure.encode(into: &e, extensions: true)
        #expect(text(e.bytes).hasSuffix("\"BASE64\" 597 100 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"----- =_aaaaaaaaaa0\") NIL NIL NIL)"))
    }

    @Test func nestedMessageBodyStructureAndSections() {
        let m = MIMEMessage(Fixtures.mime("nested.eml"))
        var w = IMAPWireWriter(utf8: false)
        IMAPBodyStructure(m).encode(into: &w, extensions: true)
        let s = text(w.bytes)
        #expect(s.hasPrefix("(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 11 1 NIL NIL NIL NIL)"))
        #expect(
            s.contains(
                "(\"application\" \"pdf\" (\"name\" \"doc.pdf\") \"<doc@example.test>\" \"A document\" \"base64\" 352 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" "
                    + "(\"attachment\" (\"filename\" \"doc.pdf\")) (\"en\" \"de\") \"http://example.test/doc.pdf\")"))
        #expect(s.contains("(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" "))
        #expect(s.contains("(\"Carol\" NIL \"carol\" \"example.test\")"))
        #expect(s.hasSuffix("\"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)"))
        let values: [IMAPFetchValue] = [
            .bodySection(MIMESectionSpec(part: [1, 1]), origin: nil, m.section(MIMESectionSpec(part: [1, 1])).map { IMAPMessageText($0) }),
            .bodySection(
                MIMESectionSpec(part: [3], text: .headerFields(["Subject"])), origin: nil,
                m.section(MIMESectionSpec(part: [3], text: .headerFields(["Subject"]))).map { IMAPMessageText($0) }),
            .bodySection(MIMESectionSpec(part: [9]), origin: 0, nil),
            .binary(part: [3, 2], origin: nil, [0, 1, 2, 255]),
            .binarySize(part: [3, 2], 4)
        ]
        let encoded = IMAPResponse.data(.fetch(1, values)).encoded(utf8: false)
        #expect(
            encoded == bytes(
                "* 1 FETCH (BODY[1.1] {11}\r\nPlain part. BODY[3.HEADER.FIELDS (Subject)] {26}\r\nSubject: Inner message\r\n\r\n "
                    + "BODY[9]<0> NIL BINARY[3.2] ~{4}\r\n") + [0, 1, 2, 255] + bytes(" BINARY.SIZE[3.2] 4)\r\n"))
    }

    /// Numbers are written digit by digit: every width, the largest values, and a negative one (not on the
    /// wire in IMAP, written as Swift would) come out as their decimal text.
    @Test func numbersAreWrittenInDecimal() {
        let values: [UInt64] = [0, 1, 9, 10, 11, 99, 100, 101, 1_000_000, 4_294_967_295, 9_999_999_999_999_999_999, UInt64.max]
        for v in values {
            var w = IMAPWireWriter(utf8: false)
            w.number(v)
            #expect(text(w.bytes) == String(v))
        }
        var w = IMAPWireWriter(utf8: false)
        w.number(UInt32.max)
        w.space()
        w.number(-42)
        #expect(text(w.bytes) == "4294967295 -42")
    }

    /// Repeated FETCH items are answered once, in the order first named (short and long lists).
    @Test func repeatedFetchItemsAreAnsweredOnce() {
        let stored = IMAPStoredMessage(
            metadata: IMAPMessageMetadata(
                uid: 7, flags: [.seen], internalDate: IMAPDateTime(secondsSinceEpoch: 0, zoneMinutes: 0), size: 3, modSeq: 2),
            content: Array("a\r\n".utf8))
        let short = IMAPFetchRenderer.render(stored, items: [.uid, .flags, .uid, .flags], addFlags: true, addModSeq: true)
        #expect(short.values == [.uid(7), .flags([.seen]), .modSeq(2)])
        let long = IMAPFetchRenderer.render(stored, items: Array(repeating: IMAPFetchAttribute.uid, count: 40) + [.rfc822Size])
        #expect(long.values == [.uid(7), .rfc822Size(3)])
    }

    /// NUL, which no IMAP literal may hold (CHAR8), is sent as 0x80 in every message-text item — whole,
    /// partial, header, text and part — when nothing is known about the stored octets (APPEND, older mail);
    /// BINARY gives the exact octets. A form that says `.noNUL` is taken as checked at delivery: the octets
    /// go out as they are without a scan (IMAPStoreTests checks that APPEND stores no form and
    /// DataDecoderTests that the decoder only says what it saw).
    @Test func nulIsSentAs0x80InMessageTextUnlessTheFormSaysThereIsNone() {
        let raw = Array("Subject: a\u{0}b\r\n\r\nx\u{0}y\r\n".utf8)
        let replaced = raw.map { $0 == 0 ? 0x80 : $0 }
        let metadata = IMAPMessageMetadata(
            uid: 1, flags: [], internalDate: IMAPDateTime(secondsSinceEpoch: 0, zoneMinutes: 0), size: UInt64(raw.count), modSeq: 1)
        let items: [IMAPFetchAttribute] = [
            .rfc822, .rfc822Header, .rfc822Text, .bodySection(MIMESectionSpec(), partial: nil, peek: true),
            .bodySection(MIMESectionSpec(), partial: IMAPPartial(offset: 9, length: 4), peek: true),
            .bodySection(MIMESectionSpec(part: [1]), partial: nil, peek: true)
        ]
        let unknown = IMAPFetchRenderer.render(IMAPStoredMessage(metadata: metadata, content: raw), items: items).values
        #expect(
            unknown == [
                .rfc822(IMAPMessageText(replaced)), .rfc822Header(IMAPMessageText(Array(replaced[..<16]))),
                .rfc822Text(IMAPMessageText(Array(replaced[16...]))), .bodySection(MIMESectionSpec(), origin: nil, IMAPMessageText(replaced)),
                .bodySection(MIMESectionSpec(), origin: 9, IMAPMessageText(Array(replaced[9..<13]))),
                .bodySection(MIMESectionSpec(part: [1]), origin: nil, IMAPMessageText(Array(replaced[16...])))
            ])
        for value in unknown {
            #expect(!IMAPResponse.data(.fetch(1, [value])).encoded(utf8: false).contains(0))
        }
        #expect(IMAPMessageText(raw).octets == replaced)
        #expect(IMAPMessageText(raw, form: [.crlfLines]).octets == replaced)
        #expect(IMAPMessageText([]).octets == [])
        // What the SMTP decoder recorded is trusted as it is (so a body without NUL is not scanned).
        let clean = raw.filter { $0 != 0 }
        let known = IMAPStoredMessage(metadata: metadata, content: clean, form: .smtpData(lineStartsWithDot: false))
        #expect(IMAPFetchRenderer.render(known, items: [.rfc822]).values == [.rfc822(IMAPMessageText(clean))])
        #expect(IMAPMessageText(raw, form: [.noNUL]).octets == raw)
        #expect(
            IMAPResponse.data(.fetch(1, [.rfc822(IMAPMessageText(clean, form: [.noNUL]))])).encoded(utf8: false)
                == Array("* 1 FETCH (RFC822 {\(clean.count)}\r\n".utf8) + clean + Array(")\r\n".utf8))
        // BINARY is not message text: its octets are exact, in a literal8.
        let binary = IMAPFetchRenderer.render(
            IMAPStoredMessage(metadata: metadata, content: raw), items: [.binary(part: [1], partial: nil, peek: true)]
        ).values
        #expect(binary == [.binary(part: [1], origin: nil, Array(raw[16...]))])
    }
}
