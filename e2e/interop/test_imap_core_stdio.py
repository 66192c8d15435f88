"""The IMAP core (phase A, no listener yet) driven by real IMAP clients nobody here wrote: Python's imaplib
(IMAP4_stream) and IMAPClient (stream=True), talking to `IMAPStdioHarness` — one session on stdin/stdout
over a fresh in-memory store per connection, preloaded with the MIME corpus in Tests/Fixtures/mime.

Nothing here opens a socket. When the IMAP listener exists (phase B) these move to the real server.
"""
import base64
import datetime
import imaplib
import os
import shlex
from pathlib import Path

import pytest

import imapclient  # noqa: E402
from imapclient import IMAPClient  # noqa: E402
from imapclient.exceptions import IMAPClientError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
# Built next to petrel (scripts/test.sh builds both); a missing harness fails the tests, never skips them.
PETREL_DIR = Path(os.environ.get("PETREL_BIN", ROOT / ".build" / "debug" / "petrel")).parent
HARNESS = Path(os.environ.get("IMAP_HARNESS_BIN", PETREL_DIR / "IMAPStdioHarness"))


@pytest.fixture(autouse=True)
def _harness_is_built():
    if not HARNESS.exists():
        pytest.fail(f"{HARNESS} is not built (swift build --product IMAPStdioHarness)", pytrace=False)
CORPUS = ROOT / "Tests" / "Fixtures" / "mime"
CORPUS_FILES = sorted(p.name for p in CORPUS.glob("*.eml"))
USER, PASSWORD = "alice@petrel.test", "s3cret pass"



def command(with_corpus=True):
    parts = [str(HARNESS), USER, PASSWORD] + ([str(CORPUS)] if with_corpus else [])
    return " ".join(shlex.quote(p) for p in parts)


def imaplib_client(with_corpus=True):
    return imaplib.IMAP4_stream(command(with_corpus))


class StreamIMAPClient(IMAPClient):
    """IMAPClient 4.1.0 sets a read timeout on the socket even in stream mode, where there is none."""

    def _set_read_timeout(self):
        if not self.stream:
            super()._set_read_timeout()


def client(with_corpus=True, login=True):
    c = StreamIMAPClient(command(with_corpus), stream=True, ssl=False)
    if login:
        c.login(USER, PASSWORD)
    return c


def seq_of(name):
    return CORPUS_FILES.index(name) + 1


# --- imaplib -------------------------------------------------------------------------------------


def test_imaplib_login_select_fetch_logout():
    m = imaplib_client()
    assert "IMAP4REV2" in m.capabilities and "AUTH=PLAIN" in m.capabilities
    typ, data = m.login(USER, PASSWORD)
    assert typ == "OK" and b"Logged in" in data[0]
    typ, data = m.select("INBOX")
    assert typ == "OK" and int(data[0]) == len(CORPUS_FILES)
    typ, data = m.fetch(str(seq_of("simple.eml")), "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    assert typ == "OK"
    assert data[0][1] == b"Message-Id: <B27397-0100000@cac.washington.edu>\r\n\r\n"
    typ, data = m.fetch("1:*", "(UID RFC822.SIZE)")
    sizes = {int(line.split()[0]): line for line in data}
    assert len(sizes) == len(CORPUS_FILES)
    expected = (CORPUS / "nested.eml").stat().st_size
    assert f"RFC822.SIZE {expected}".encode() in sizes[seq_of("nested.eml")]
    typ, data = m.logout()
    assert typ == "BYE"


def test_imaplib_synchronizing_literal_login():
    """imaplib sends `LOGIN user {n}`, waits for the continuation, then the octets."""
    m = imaplib_client(with_corpus=False)
    m.literal = PASSWORD.encode()
    typ, data = m._simple_command("LOGIN", USER)
    assert typ == "OK"
    assert m._simple_command("NOOP")[0] == "OK"
    m.logout()


def test_imaplib_authenticate_plain_and_failure():
    m = imaplib_client(with_corpus=False)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.authenticate("PLAIN", lambda _: f"\0{USER}\0wrong".encode())
    typ, _ = m.authenticate("PLAIN", lambda _: f"\0{USER}\0{PASSWORD}".encode())
    assert typ == "OK"
    m.logout()


def test_imaplib_errors_carry_response_codes():
    m = imaplib_client()
    m.login(USER, PASSWORD)
    typ, data = m.select("Nowhere")
    assert typ == "NO" and data[0].startswith(b"[NONEXISTENT]")
    m.select("INBOX")
    with pytest.raises(imaplib.IMAP4.error, match="Invalid message sequence number"):
        m.fetch("999", "FLAGS")
    typ, data = m.copy("1", "Nowhere")
    assert typ == "NO" and data[0].startswith(b"[TRYCREATE]")
    typ, data = m.search("KOI8-R", "ALL")
    assert typ == "NO" and data[0].startswith(b"[BADCHARSET")
    with pytest.raises(imaplib.IMAP4.error, match="Unknown command"):
        m.xatom("FROBNICATE")
    m.logout()


def test_imaplib_append_store_expunge():
    m = imaplib_client(with_corpus=False)
    m.login(USER, PASSWORD)
    when = imaplib.Time2Internaldate(datetime.datetime(2020, 5, 17, 12, 30, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))))
    typ, data = m.append("INBOX", r"(\Flagged $Label1)", when, b"Subject: appended\r\n\r\nbody\r\n")
    assert typ == "OK" and data[0] == b"[APPENDUID 1 1] APPEND completed"
    m.select("INBOX")
    typ, data = m.fetch("1", "(FLAGS INTERNALDATE)")
    assert b"\\Flagged" in data[0] and b"$Label1" in data[0]
    assert b'INTERNALDATE "17-May-2020 12:30:05 +0200"' in data[0]
    typ, data = m.store("1", "+FLAGS", r"(\Deleted)")
    assert typ == "OK" and b"\\Deleted" in data[0]
    typ, data = m.expunge()
    assert typ == "OK" and data == [b"1"]
    m.logout()


# --- IMAPClient ---------------------------------------------------------------------------------


def test_imapclient_fetch_envelope_bodystructure_sections():
    c = client()
    c.select_folder("INBOX")
    ids = c.search("ALL")
    assert ids == list(range(1, len(CORPUS_FILES) + 1))
    data = c.fetch(ids, ["ENVELOPE", "BODYSTRUCTURE", "RFC822.SIZE", "BODY.PEEK[]", "FLAGS"])
    for name in CORPUS_FILES:
        item = data[seq_of(name)]
        raw = (CORPUS / name).read_bytes()
        assert item[b"BODY[]"] == raw.replace(b"\0", b"\x80"), name
        assert item[b"RFC822.SIZE"] == len(raw), name
        assert item[b"FLAGS"] == (b"\\Recent",), name      # this IMAP4rev1 session is the first to SELECT
    env = data[seq_of("simple.eml")][b"ENVELOPE"]
    assert env.subject == b"=?utf-8?Q?Gr=C3=BC=C3=9Fe?= aus =?iso-8859-1?B?S/Zsbg==?="
    assert env.from_[0].name == b"Terry Gray" and env.from_[0].mailbox == b"gray" and env.from_[0].host == b"cac.washington.edu"
    assert len(env.cc) == 2 and env.cc[1].name == b"John Klensin"
    assert env.message_id == b"<B27397-0100000@cac.washington.edu>"
    groups = data[seq_of("groups.eml")][b"ENVELOPE"]
    assert groups.to[0].mailbox == b"undisclosed-recipients" and groups.to[0].host is None
    nested = data[seq_of("nested.eml")][b"BODYSTRUCTURE"]
    assert nested.is_multipart
    parts, subtype = nested[0], nested[1]
    assert subtype == b"mixed" and len(parts) == 3
    assert parts[0].is_multipart and parts[0][1] == b"alternative"
    assert parts[1][0] == b"application" and parts[1][1] == b"pdf" and parts[1][6] == 352
    assert parts[2][0] == b"message" and parts[2][1] == b"rfc822"
    # (BINARY of the PDF holds NUL, sent as literal8, which IMAPClient 4.1's lexer does not read;
    # test_binary_fetch_of_nul_octets checks it with imaplib.)
    sections = c.fetch([seq_of("nested.eml")], ["BODY.PEEK[1.1]", "BODY.PEEK[3.HEADER.FIELDS (SUBJECT)]", "BINARY.PEEK[1.2]", "BINARY.SIZE[2]"])
    s = sections[seq_of("nested.eml")]
    assert s[b"BODY[1.1]"] == b"Plain part."
    assert s[b"BODY[3.HEADER.FIELDS (SUBJECT)]"] == b"Subject: Inner message\r\n\r\n"
    assert s[b"BINARY[1.2]"] == b"<b>HTML part.</b>"
    assert s[b"BINARY.SIZE[2]"] == 256
    c.logout()


def test_imapclient_partial_fetch_and_implicit_seen():
    c = client()
    c.select_folder("INBOX")
    msg = seq_of("simple.eml")
    part = c.fetch([msg], ["BODY[]<0.10>"])[msg]
    assert part[b"BODY[]<0>"] == (CORPUS / "simple.eml").read_bytes()[:10]
    assert c.get_flags([msg])[msg] == (b"\\Seen", b"\\Recent")
    c.logout()


def test_imapclient_search_keys_and_unicode():
    c = client()
    c.select_folder("INBOX")
    assert c.search(["SUBJECT", "Grüße"], charset="UTF-8") == sorted([seq_of("simple.eml"), seq_of("latin1.eml"), seq_of("utf8.eml")])
    assert c.search(["BODY", "你好世界"], charset="UTF-8") == [seq_of("utf8.eml")]
    assert c.search(["TEXT", "needle-inside"]) == [seq_of("nested.eml")]
    assert c.search(["FROM", "alice", "NOT", "SUBJECT", "nested"]) == [seq_of("alternative.eml")]
    assert c.search(["SENTBEFORE", datetime.date(1994, 2, 8)]) == sorted([seq_of("alternative.eml"), seq_of("nested.eml")])
    assert c.search(["LARGER", 1000]) == [seq_of("nested.eml")]
    c.add_flags([1, 2], [b"\\Flagged"])
    assert c.search(["OR", "FLAGGED", "HEADER", "Message-ID", "alt@"]) == [1, 2]
    c.logout()


def test_imapclient_folders_status_subscriptions_utf7():
    c = client(with_corpus=False)
    names = [f[2] for f in c.list_folders()]
    assert names[0] == "INBOX" and set(names) >= {"Sent", "Drafts", "Trash", "Junk", "Archive"}
    special = {f[2]: f[0] for f in c.list_folders()}
    assert b"\\Sent" in special["Sent"] and b"\\HasNoChildren" in special["Sent"]
    c.create_folder("Entwürfe/台北")
    assert "Entwürfe/台北" in [f[2] for f in c.list_folders()]
    assert c.folder_exists("Entwürfe")
    c.rename_folder("Entwürfe", "Drafts2")
    assert c.list_folders(pattern="Drafts2/*")[0][2] == "Drafts2/台北"
    c.subscribe_folder("Drafts2/台北")
    assert "Drafts2/台北" in [f[2] for f in c.list_sub_folders()]
    status = c.folder_status("INBOX", ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"])
    assert status[b"MESSAGES"] == 0 and status[b"UIDNEXT"] == 1
    c.delete_folder("Drafts2/台北")
    assert not c.folder_exists("Drafts2/台北")
    with pytest.raises(IMAPClientError):
        c.delete_folder("INBOX")
    c.logout()


def test_imapclient_copy_move_uid_expunge_condstore():
    c = client()
    c.enable("CONDSTORE")
    info = c.select_folder("INBOX")
    assert info[b"UIDVALIDITY"] == 1 and info[b"EXISTS"] == len(CORPUS_FILES)
    assert b"HIGHESTMODSEQ" in info
    c.use_uid = True
    uids = c.search("ALL")
    c.copy(uids[:3], "Archive")
    c.move(uids[3:5], "Trash")
    assert c.select_folder("Archive")[b"EXISTS"] == 3
    c.select_folder("INBOX")
    remaining = c.search("ALL")
    assert remaining == uids[:3] + uids[5:]
    before = c.select_folder("INBOX")[b"HIGHESTMODSEQ"]
    c.set_flags(remaining[:2], [b"\\Deleted"])
    changed = c.fetch(remaining, ["FLAGS"], modifiers=[f"CHANGEDSINCE {before}"])
    assert sorted(changed) == remaining[:2] and all(b"MODSEQ" in v for v in changed.values())
    c.uid_expunge(remaining[:1])
    assert c.search("ALL") == remaining[1:]
    c.logout()


def test_imaplib_idle_receives_exists():
    """IDLE (RFC 2177) at the line level (imaplib 3.11 has no idle(); IMAPClient's idle_check needs a
    socket): another session delivers while we idle, and the EXISTS arrives before DONE."""
    os.environ["IMAP_HARNESS_PUSH_ON_IDLE"] = "1"
    try:
        m = imaplib_client()
    finally:
        del os.environ["IMAP_HARNESS_PUSH_ON_IDLE"]
    m.login(USER, PASSWORD)
    m.select("INBOX")
    m.send(b"i1 IDLE\r\n")
    assert m.readline() == b"+ idling\r\n"
    assert m.readline() == f"* {len(CORPUS_FILES) + 1} EXISTS\r\n".encode()
    assert m.readline() == f"* {len(CORPUS_FILES) + 1} RECENT\r\n".encode()   # IMAP4rev1: all are \Recent here
    m.send(b"DONE\r\n")
    assert m.readline() == b"i1 OK IDLE terminated\r\n"
    typ, data = m.fetch(str(len(CORPUS_FILES) + 1), "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert data[0][1] == b"Subject: pushed during IDLE\r\n\r\n"
    m.logout()


def test_imapclient_namespace_id_quota_capabilities():
    c = client(with_corpus=False)
    ns = c.namespace()
    assert ns.personal == (("", "/"),) and ns.other is None and ns.shared is None
    assert c.id_({"name": "pytest"}) == ((b"name", b"Petrel"),)
    roots, quotas = c.get_quota_root("INBOX")
    assert roots.mailbox == "INBOX" and roots.quota_roots == [] and quotas == []
    caps = c.capabilities()
    for cap in (b"IMAP4REV2", b"UIDPLUS", b"MOVE", b"IDLE", b"CONDSTORE", b"QRESYNC", b"SPECIAL-USE", b"LITERAL+", b"ESEARCH"):
        assert cap in caps
    c.logout()


def test_imapclient_plain_sasl_ir():
    c = client(with_corpus=False, login=False)
    c.plain_login(USER, PASSWORD)
    assert c.noop()[0].endswith(b"completed")
    c.logout()


def test_binary_fetch_of_nul_octets():
    """BINARY[] decodes base64 to octets with NUL, sent as literal8 (RFC 3516); imaplib reads it."""
    m = imaplib_client(with_corpus=False)
    m.login(USER, PASSWORD)
    m.select("INBOX")
    msg = b"Subject: b\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"\0\1\2hello") + b"\r\n"
    m.append("INBOX", None, None, msg)
    typ, data = m.fetch("1", "(BINARY.PEEK[1] BINARY.SIZE[1])")
    assert typ == "OK"
    flat = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in data)
    assert b"~{8}" in flat and b"\0\1\2hello" in flat and b"BINARY.SIZE[1] 8" in flat
    m.logout()
