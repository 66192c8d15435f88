import MailMIME
import Testing

@testable import IMAPCore

/// Commands without arguments, session commands and errors (RFC 9051 §6.1, §6.2, RFC 2971, RFC 5161).
@Suite struct IMAPCommandParserSessionTests {
    @Test func simpleCommandsAnyCase() {
        #expect(command("a1 CAPABILITY") == .capability)
        #expect(command("a1 noop") == .noop)
        #expect(command("a1 LogOut") == .logout)
        #expect(command("a1 STARTTLS") == .startTLS)
        #expect(command("a1 IDLE") == .idle)
        #expect(command("a1 NAMESPACE") == .namespace)
        #expect(command("a1 CHECK") == .check)
        #expect(command("a1 CLOSE") == .close)
        #expect(command("a1 UNSELECT") == .unselect)
        #expect(command("a1 EXPUNGE") == .expunge)
        #expect(command("a1 COMPRESS DEFLATE") == .compress(algorithm: "DEFLATE"))
    }

    @Test func tags() {
        #expect((try? parse("A.1-x] NOOP").get())?.tag == "A.1-x]")
        #expect(parseError("+a NOOP")?.tag == nil)
        #expect(parseError(" NOOP")?.tag == nil)
        #expect(parseError("a")?.tag == nil)
        #expect(parseError("a{1} NOOP")?.tag == nil)
    }

    @Test func errorsKeepTheTag() {
        #expect(parseError("t1 FROBNICATE")?.tag == "t1")
        #expect(parseError("t1 NOOP extra")?.message == "Unexpected characters at the end of the command")
        #expect(parseError("t1 NOOP ") != nil)
        #expect(parseError("t1 UID FROB 1")?.tag == "t1")
        #expect(parseError("t1 LOGIN")?.tag == "t1")
    }

    @Test func loginStringForms() {
        #expect(command("a LOGIN alice secret") == .login(username: bytes("alice"), password: bytes("secret")))
        #expect(command("a LOGIN \"al ice\" \"se\\\"c\\\\ret\"") == .login(username: bytes("al ice"), password: bytes("se\"c\\ret")))
        #expect(command("a LOGIN {5}\r\nalice {6+}\r\nsecret") == .login(username: bytes("alice"), password: bytes("secret")))
        #expect(command("a LOGIN \"Jöran\" pw") == .login(username: bytes("Jöran"), password: bytes("pw")))
        #expect(parseError("a LOGIN \"bad\\x\" pw") != nil)
        #expect(parseError("a LOGIN {3}\r\na\0b pw") != nil) // NUL in a literal
        #expect(parseError("a LOGIN {9}\r\nshort") != nil) // shorter than announced
        #expect(parseError("a LOGIN ~{3}\r\nabc pw") != nil) // literal8 is not an astring
    }

    @Test func authenticateWithSASLIR() {
        #expect(command("a AUTHENTICATE PLAIN") == .authenticate(mechanism: "PLAIN", initialResponse: nil))
        #expect(
            command("a AUTHENTICATE plain AGFsaWNlAHNlY3JldA==")
                == .authenticate(mechanism: "PLAIN", initialResponse: "AGFsaWNlAHNlY3JldA=="))
        #expect(command("a AUTHENTICATE PLAIN =") == .authenticate(mechanism: "PLAIN", initialResponse: "="))
        #expect(parseError("a AUTHENTICATE PLAIN ab!c") != nil)
    }

    @Test func idAndEnable() {
        #expect(command("a ID NIL") == .id(nil))
        #expect(command("a ID (\"name\" \"sodr\" \"version\" NIL)") == .id([IMAPIDField("name", "sodr"), IMAPIDField("version", nil)]))
        #expect(parseError("a ID (\"0123456789012345678901234567890\" \"x\")") != nil) // field > 30 octets
        #expect(command("a ENABLE CONDSTORE UTF8=ACCEPT") == .enable(["CONDSTORE", "UTF8=ACCEPT"]))
        #expect(parseError("a ENABLE") != nil)
    }

    @Test func nestingIsBounded() {
        let deep = "a SEARCH " + String(repeating: "(", count: 200) + "ALL" + String(repeating: ")", count: 200)
        #expect(parseError(deep)?.message == "Too deeply nested")
        let nots = "a SEARCH " + String(repeating: "NOT ", count: 500) + "ALL"
        #expect(parseError(nots)?.message == "Too deeply nested")
        #expect(command("a SEARCH " + String(repeating: "NOT ", count: 20) + "ALL") != nil)
    }
}

/// SELECT, CREATE, RENAME, STATUS, quota, LIST, LSUB, APPEND (RFC 9051 §6.3 and extensions).
@Suite struct IMAPCommandParserMailboxTests {
    @Test func selectParameters() {
        #expect(command("a SELECT INBOX") == .select(IMAPMailboxName("INBOX"), IMAPSelectParameters()))
        #expect(command("a EXAMINE \"Sent Items\" (CONDSTORE)") == .examine(IMAPMailboxName("Sent Items"), IMAPSelectParameters(condstore: true)))
        let q = command("a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1:3 41,43:45)))")
        guard case .select(_, let params)? = q, let qr = params.qresync else { Issue.record("no QRESYNC"); return }
        #expect(qr.uidValidity == 67_890_007 && qr.modSeq == 20_050_715_194_045_000)
        #expect(qr.knownUIDs == (try? IMAPSequenceSet(parsing: "41,43:211,214:541")))
        #expect(qr.knownSequenceSet == (try? IMAPSequenceSet(parsing: "1:3")))
        #expect(qr.knownUIDSet == (try? IMAPSequenceSet(parsing: "41,43:45")))
        #expect(parseError("a SELECT INBOX (FOO)") != nil)
        #expect(parseError("a SELECT INBOX (QRESYNC (0 1))") != nil)
    }

    @Test func createRenameStatusQuota() {
        #expect(command("a CREATE Drafts2 (USE (\\Drafts))") == .create(IMAPMailboxName("Drafts2"), specialUse: ["\\Drafts"]))
        #expect(command("a CREATE owatagusiam/") == .create(IMAPMailboxName("owatagusiam/"), specialUse: []))
        #expect(command("a RENAME blurdybloop sarasoop") == .rename(IMAPMailboxName("blurdybloop"), IMAPMailboxName("sarasoop")))
        #expect(
            command("a STATUS blurdybloop (UIDNEXT MESSAGES SIZE DELETED HIGHESTMODSEQ APPENDLIMIT RECENT UNSEEN UIDVALIDITY)")
                == .status(
                    IMAPMailboxName("blurdybloop"),
                    [.uidNext, .messages, .size, .deleted, .highestModSeq, .appendLimit, .recent, .unseen, .uidValidity]))
        #expect(parseError("a STATUS x ()") != nil)
        #expect(parseError("a STATUS x (BOGUS)") != nil)
        #expect(command("a GETQUOTA \"\"") == .getQuota(root: []))
        #expect(command("a GETQUOTAROOT INBOX") == .getQuotaRoot(IMAPMailboxName("INBOX")))
        #expect(command("a SETQUOTA \"\" (STORAGE 512)") == .setQuota(root: []))
        #expect(command("a SUBSCRIBE #news.comp.mail.mime") == .subscribe(IMAPMailboxName("#news.comp.mail.mime")))
        #expect(command("a DELETE {4+}\r\nTemp") == .delete(IMAPMailboxName("Temp")))
    }

    @Test func listForms() {
        guard case .list(let simple)? = command("A101 LIST \"\" \"\"") else { Issue.record(); return }
        #expect(simple.patterns == [[]] && !simple.isExtended)
        guard
            case .list(let ext)? = command(
                "A02 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX* %/Sent) RETURN (CHILDREN STATUS (MESSAGES UNSEEN) SPECIAL-USE)")
        else {
            Issue.record(); return
        }
        #expect(ext.selectSubscribed && ext.recursiveMatch && ext.isExtended)
        #expect(ext.patterns == [bytes("INBOX*"), bytes("%/Sent")])
        #expect(ext.returnChildren && ext.returnSpecialUse && ext.returnStatus == [.messages, .unseen])
        guard case .list(let special)? = command("t LIST (SPECIAL-USE) \"\" *") else { Issue.record(); return }
        #expect(special.selectSpecialUse)
        #expect(parseError("t LIST (RECURSIVEMATCH) \"\" *") != nil)
        #expect(parseError("t LIST (FOO) \"\" *") != nil)
        #expect(parseError("t LIST \"\" * RETURN (BOGUS)") != nil)
        #expect(command("A102 LSUB \"#news.\" \"comp.mail.*\"") == .lsub(reference: IMAPMailboxName("#news."), pattern: bytes("comp.mail.*")))
        #expect(command("A103 LIST /usr/staff/jones \"\"") != nil)
        #expect(command("A104 LIST ~/Mail/ %") != nil)
    }

    @Test func appendForms() {
        let msg = "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\nHello"
        let c = command("A003 APPEND saved-messages (\\Seen $Forwarded) \" 7-Feb-1994 21:52:25 -0800\" {\(msg.utf8.count)}\r\n\(msg)")
        guard case .append(let a)? = c else { Issue.record(); return }
        #expect(a.mailbox == IMAPMailboxName("saved-messages"))
        #expect(a.flags == [.seen, IMAPFlag("$Forwarded")])
        #expect(a.date == IMAPDateTime(secondsSinceEpoch: 760_686_745, zoneMinutes: -480))
        #expect(a.message == bytes(msg) && !a.isBinary)
        guard case .append(let b)? = command("a APPEND INBOX ~{3}\r\na\0b") else { Issue.record(); return }
        #expect(b.isBinary && b.message == [0x61, 0, 0x62])
        guard case .append(let u)? = command("a APPEND INBOX UTF8 (~{2+}\r\nhi)") else { Issue.record(); return }
        #expect(u.isUTF8 && u.message == bytes("hi"))
        #expect(parseError("a APPEND INBOX \"hello\"") != nil)
        #expect(parseError("a APPEND INBOX \"31-Feb-1994 21:52:25 -0800\" {1}\r\nx") == nil) // day range only
        #expect(parseError("a APPEND INBOX \"7-Foo-1994 21:52:25 -0800\" {1}\r\nx") != nil)
        #expect(parseError("a APPEND INBOX \"7-Feb-1994 25:52:25 -0800\" {1}\r\nx") != nil)
    }

    @Test func modifiedUTF7() {
        #expect(IMAPModifiedUTF7.decode(bytes("~peter/mail/&U,BTFw-/&ZeVnLIqe-")) == "~peter/mail/台北/日本語")
        #expect(IMAPModifiedUTF7.encode("~peter/mail/台北/日本語") == bytes("~peter/mail/&U,BTFw-/&ZeVnLIqe-"))
        #expect(IMAPModifiedUTF7.decode(bytes("Tom &- Jerry")) == "Tom & Jerry")
        #expect(IMAPModifiedUTF7.encode("Tom & Jerry") == bytes("Tom &- Jerry"))
        #expect(IMAPModifiedUTF7.encode("Entwürfe") == bytes("Entw&APw-rfe"))
        #expect(IMAPModifiedUTF7.encode("😀") == bytes("&2D3eAA-"))
        #expect(IMAPModifiedUTF7.decode(bytes("&2D3eAA-")) == "😀")
        for bad in ["&", "&Jjo", "&AGE-", "&U,BTFw-&ZeVnLIqe-", "a\u{00e9}", "&2D0-", "&U,BTF-"] {
            #expect(IMAPModifiedUTF7.decode(bytes(bad)) == nil, "\(bad)")
        }
        #expect(IMAPMailboxName(bytes("inbox")).decoded(utf8: false) == "INBOX")
        #expect(IMAPMailboxName(bytes("Inbox/Sub")).decoded(utf8: true) == "INBOX/Sub")
        #expect(IMAPMailboxName(bytes("Tom & Jerry")).decoded(utf8: true) == "Tom & Jerry")
        #expect(IMAPMailboxName(bytes("Tom & Jerry")).decoded(utf8: false) == nil)
        #expect(IMAPMailboxName([0xFF]).decoded(utf8: true) == nil)
    }
}
