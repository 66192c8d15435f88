import MailMIME
import Testing

@testable import IMAPCore

/// FETCH, STORE, COPY/MOVE, UID EXPUNGE and SEARCH arguments (RFC 9051 §6.4, RFC 3516, RFC 7162, RFC 4731, RFC 5182).
@Suite struct IMAPCommandParserMessageTests {
    func fetchItems(_ line: String) -> [IMAPFetchAttribute]? {
        if case .fetch(_, let items, _, _)? = command(line) { return items }
        return nil
    }

    @Test func sequenceSets() throws {
        #expect(try IMAPSequenceSet(parsing: "1:3,5,7:*").encoded == "1:3,5,7:*")
        #expect(try IMAPSequenceSet(parsing: "$") == .lastCommand)
        #expect(try IMAPSequenceSet(parsing: "*:4").encoded == "*:4")
        #expect(throws: IMAPParseError.self) { try IMAPSequenceSet(parsing: "0") }
        #expect(throws: IMAPParseError.self) { try IMAPSequenceSet(parsing: "1,") }
        #expect(throws: IMAPParseError.self) { try IMAPSequenceSet(parsing: "4294967296") }
        #expect(IMAPSequenceSet.compact([5, 1, 2, 3, 9, 10, 3]).encoded == "1:3,5,9:10")
        #expect(IMAPSequenceRange(.number(9), .number(4)).resolved(last: 20) == 4...9)
        #expect(IMAPSequenceRange(.number(9), .last).resolved(last: 5) == 5...9)
    }

    @Test func fetchMacrosAndItems() {
        #expect(fetchItems("a FETCH 1 ALL") == [.flags, .internalDate, .rfc822Size, .envelope])
        #expect(fetchItems("a FETCH 1 FAST") == [.flags, .internalDate, .rfc822Size])
        #expect(fetchItems("a FETCH 1 FULL") == [.flags, .internalDate, .rfc822Size, .envelope, .body])
        #expect(
            fetchItems("a FETCH 2:4 (UID FLAGS BODYSTRUCTURE BODY RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE MODSEQ INTERNALDATE ENVELOPE)")
                == [.uid, .flags, .bodyStructure, .body, .rfc822, .rfc822Header, .rfc822Text, .rfc822Size, .modSeq, .internalDate, .envelope])
    }

    @Test func sections() {
        #expect(fetchItems("a FETCH 1 BODY[]") == [.bodySection(MIMESectionSpec(), partial: nil, peek: false)])
        #expect(
            fetchItems("a FETCH 1 BODY.PEEK[HEADER]<0.2048>")
                == [.bodySection(MIMESectionSpec(text: .header), partial: IMAPPartial(offset: 0, length: 2048), peek: true)])
        #expect(fetchItems("a FETCH 1 body[1.2.3.MIME]") == [.bodySection(MIMESectionSpec(part: [1, 2, 3], text: .mime), partial: nil, peek: false)])
        #expect(
            fetchItems("a FETCH 1 (BODY[4.2.TEXT] BODY[3.HEADER.FIELDS (DATE FROM)] BODY.PEEK[HEADER.FIELDS.NOT (\"X-A\" {3}\r\nX-B)])") == [
                .bodySection(MIMESectionSpec(part: [4, 2], text: .text), partial: nil, peek: false),
                .bodySection(MIMESectionSpec(part: [3], text: .headerFields(["DATE", "FROM"])), partial: nil, peek: false),
                .bodySection(MIMESectionSpec(text: .headerFieldsNot(["X-A", "X-B"])), partial: nil, peek: true)
            ])
        #expect(
            fetchItems("a FETCH 1 (BINARY[1.2]<10.20> BINARY.PEEK[] BINARY.SIZE[3])") == [
                .binary(part: [1, 2], partial: IMAPPartial(offset: 10, length: 20), peek: false),
                .binary(part: [], partial: nil, peek: true),
                .binarySize(part: [3])
            ])
        for bad in [
            "a FETCH 1 BODY[MIME]", "a FETCH 1 BODY[0]", "a FETCH 1 BODY[1.]", "a FETCH 1 BODY.PEEK",
            "a FETCH 1 BODY[]<1.0>", "a FETCH 1 BODY[HEADER.FIELDS ()]", "a FETCH 1 BINARY[TEXT]",
            "a FETCH 1 (FLAGS", "a FETCH 1 ()", "a FETCH 1 BODY[HEADER.FIELDS (A:B)]", "a FETCH * FOO"
        ] {
            #expect(parseError(bad) != nil, "\(bad)")
        }
    }

    @Test func fetchModifiers() {
        guard case .fetch(let set, _, let mods, let uid)? = command("s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)") else {
            Issue.record(); return
        }
        #expect(set.encoded == "300:500" && uid && mods == IMAPFetchModifiers(changedSince: 12345, vanished: true))
        #expect(parseError("a FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)") != nil) // VANISHED needs UID FETCH
        #expect(parseError("a UID FETCH 1:* (FLAGS) (VANISHED)") != nil)
        #expect(parseError("a FETCH 1 FLAGS (FOO 1)") != nil)
    }

    @Test func storeCopyMoveExpunge() {
        #expect(
            command("A003 STORE 2:4 +FLAGS (\\Deleted)")
                == .store(try! IMAPSequenceSet(parsing: "2:4"), IMAPStoreModifiers(), IMAPStoreFlags(operation: .add, flags: [.deleted]), uid: false))
        #expect(
            command("a UID STORE 1 -FLAGS.SILENT \\Seen $Junk")
                == .store(
                    try! IMAPSequenceSet(parsing: "1"), IMAPStoreModifiers(),
                    IMAPStoreFlags(operation: .remove, silent: true, flags: [.seen, IMAPFlag("$Junk")]), uid: true))
        #expect(
            command("d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)")
                == .store(
                    try! IMAPSequenceSet(parsing: "7,5,9"), IMAPStoreModifiers(unchangedSince: 320_162_338),
                    IMAPStoreFlags(operation: .add, silent: true, flags: [.deleted]), uid: false))
        #expect(
            command("a STORE 1 FLAGS ()")
                == .store(try! IMAPSequenceSet(parsing: "1"), IMAPStoreModifiers(), IMAPStoreFlags(operation: .replace, flags: []), uid: false))
        #expect(parseError("a STORE 1 FLAGZ (\\Seen)") != nil)
        #expect(parseError("a STORE 1 +FLAGS") != nil)
        #expect(command("A003 COPY 2:4 MEETING") == .copy(try! IMAPSequenceSet(parsing: "2:4"), IMAPMailboxName("MEETING"), uid: false))
        #expect(command("a UID MOVE 42:69 foo") == .move(try! IMAPSequenceSet(parsing: "42:69"), IMAPMailboxName("foo"), uid: true))
        #expect(command("A003 UID EXPUNGE 3000:3002") == .uidExpunge(try! IMAPSequenceSet(parsing: "3000:3002")))
        #expect(command("a MOVE $ Trash") == .move(.lastCommand, IMAPMailboxName("Trash"), uid: false))
    }

    func searchKey(_ line: String) -> IMAPSearchKey? {
        if case .search(let s, _)? = command(line) { return s.key }
        return nil
    }

    /// Every RFC 9051 search key, the IMAP4rev1 ones and MODSEQ.
    @Test func everySearchKey() {
        let d = IMAPDate(year: 1994, month: 2, day: 1)
        let cases: [(String, IMAPSearchKey)] = [
            ("ALL", .all), ("ANSWERED", .answered), ("BCC x", .bcc(bytes("x"))), ("BEFORE 1-Feb-1994", .before(d)),
            ("BODY \"a b\"", .body(bytes("a b"))), ("CC x", .cc(bytes("x"))), ("DELETED", .deleted), ("DRAFT", .draft),
            ("FLAGGED", .flagged), ("FROM Smith", .from(bytes("Smith"))), ("KEYWORD $Junk", .keyword(IMAPFlag("$Junk"))),
            ("LARGER 1000", .larger(1000)), ("NEW", .new), ("NOT SEEN", .not(.seen)), ("OLD", .old),
            ("ON \"1-Feb-1994\"", .on(d)), ("OR SEEN FLAGGED", .or(.seen, .flagged)), ("RECENT", .recent), ("SEEN", .seen),
            ("SENTBEFORE 1-Feb-1994", .sentBefore(d)), ("SENTON 01-Feb-1994", .sentOn(d)), ("SENTSINCE 1-Feb-1994", .sentSince(d)),
            ("SINCE 1-Feb-1994", .since(d)), ("SMALLER 5", .smaller(5)), ("SUBJECT {3+}\r\nabc", .subject(bytes("abc"))),
            ("TEXT x", .text(bytes("x"))), ("TO x", .to(bytes("x"))), ("UID 1:*", .uid(try! IMAPSequenceSet(parsing: "1:*"))),
            ("UNANSWERED", .unanswered), ("UNDELETED", .undeleted), ("UNDRAFT", .undraft), ("UNFLAGGED", .unflagged),
            ("UNKEYWORD $Junk", .unkeyword(IMAPFlag("$Junk"))), ("UNSEEN", .unseen),
            ("HEADER Message-ID <x@y>", .header("Message-ID", bytes("<x@y>"))),
            ("2:4,7", .sequenceSet(try! IMAPSequenceSet(parsing: "2:4,7"))), ("$", .sequenceSet(.lastCommand)),
            ("(SEEN FLAGGED)", .and([.seen, .flagged])), ("MODSEQ 620162338", .modSeq(620_162_338)),
            ("MODSEQ \"/flags/\\\\draft\" all 620162338", .modSeq(620_162_338))
        ]
        for (text, key) in cases { #expect(searchKey("a SEARCH " + text) == key, "\(text)") }
        #expect(
            searchKey("A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"")
                == .and([.flagged, .since(d), .not(.from(bytes("Smith")))]))
        for bad in [
            "a SEARCH", "a SEARCH FOO", "a SEARCH BEFORE 1-Foo-1994", "a SEARCH LARGER x", "a SEARCH OR SEEN",
            "a SEARCH HEADER \"\" x", "a SEARCH MODSEQ \"/flags/x\" bogus 1", "a SEARCH (", "a SEARCH 0"
        ] {
            #expect(parseError(bad) != nil, "\(bad)")
        }
    }

    @Test func searchCharsetAndReturn() {
        guard case .search(let s, let uid)? = command("A283 UID SEARCH RETURN (MIN COUNT SAVE) CHARSET UTF-8 TEXT {2+}\r\n\u{00e9}") else {
            Issue.record(); return
        }
        #expect(uid && s.charset == "UTF-8" && s.returnOptions == IMAPSearchReturnOptions(min: true, count: true, save: true))
        #expect(s.key == .text(bytes("\u{00e9}")))
        guard case .search(let empty, _)? = command("a SEARCH RETURN () ALL") else { Issue.record(); return }
        #expect(empty.returnOptions == IMAPSearchReturnOptions(all: true))
        guard case .search(let plain, _)? = command("a SEARCH CHARSET \"ISO-8859-1\" ALL") else { Issue.record(); return }
        #expect(plain.returnOptions == nil && plain.charset == "ISO-8859-1")
        #expect(parseError("a SEARCH RETURN (PARTIAL 1:5) ALL") != nil)
    }
}
