"""POP3 service against clients this project did not write: Python poplib and mpop, fetching mail that
was sent through Petrel's SMTP with smtplib, compared byte for byte."""
import poplib
import re
import smtplib
import subprocess
import time

import pytest

from conftest import mailbox_ids, raw_message
from smtp_client import RawClient

BODIES = [
    b"Subject: dots\r\n\r\n.leading dot\r\n..two\r\n.\r\nend\r\n",
    "Subject: 8bit\r\n\r\nGr\u00fc\u00dfe aus K\u00f6ln \u2014 \u00e9t\u00e9\r\n".encode("utf-8"),
    b"Subject: empty body\r\n\r\n",
]


def send(server, rcpt, body, sender="carol@remote.test"):
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.ehlo("c.test")
        assert s.sendmail(sender, [rcpt], body, mail_options=["BODY=8BITMIME"]) == {}


def login(server, user="alice@example.test", password="alice-password"):
    p = poplib.POP3("127.0.0.1", server.pop3_port, timeout=10)
    p.user(user)
    p.pass_(password)
    return p


def login_when_released(server, timeout=5):
    """Logs in, retrying while the server has not yet noticed that the previous session dropped."""
    deadline = time.time() + timeout
    while True:
        try:
            return login(server)
        except poplib.error_proto as e:
            if b"[IN-USE]" not in e.args[0] or time.time() > deadline:
                raise
            time.sleep(0.05)


def test_poplib_fetches_byte_exact(server):
    for b in BODIES:
        send(server, "alice@example.test", b)
    p = login(server)
    count, size = p.stat()
    assert count == 3
    stored = [raw_message(server, "alice@example.test", i) for i in mailbox_ids(server, "alice@example.test")]
    assert size == sum(len(s) for s in stored)
    listing = p.list()[1]
    assert [int(l.split()[1]) for l in listing] == [len(s) for s in stored]
    for n, (body, raw) in enumerate(zip(BODIES, stored), start=1):
        resp, lines, octets = p.retr(n)
        fetched = b"\r\n".join(lines) + b"\r\n"
        assert fetched == raw                      # poplib undoes the dot-stuffing
        assert fetched.endswith(body)
        assert octets >= len(raw)
    uidls = [u.split()[1] for u in p.uidl()[1]]
    assert len(set(uidls)) == 3
    # UIDVALIDITY and UID of INBOX, 8 hex digits each (docs/IMAP.md "Storage"): one UIDVALIDITY, UIDs 1-3.
    assert all(re.fullmatch(rb"[0-9a-f]{16}", u) for u in uidls), uidls
    assert len({u[:8] for u in uidls}) == 1 and [int(u[8:], 16) for u in uidls] == [1, 2, 3]
    top = p.top(1, 1)[1]
    assert b"Subject: dots" in top and top[-1] == b".leading dot"
    p.dele(1)
    assert p.stat()[0] == 2
    p.quit()
    p = login(server)
    assert p.stat()[0] == 2
    assert [u.split()[1] for u in p.uidl()[1]] == uidls[1:]     # the same ids at the next login
    p.quit()


def test_capa_and_no_apop(server):
    c = RawClient(server.pop3_port)
    greeting = c.line()
    assert greeting.startswith(b"+OK") and b"<" not in greeting   # no APOP timestamp
    c.send(b"CAPA\r\n")
    lines = []
    while True:
        l = c.line()
        lines.append(l)
        if l == b".":
            break
    caps = {l.split()[0] for l in lines[1:-1]}
    assert {b"TOP", b"UIDL", b"USER", b"RESP-CODES", b"PIPELINING", b"SASL", b"AUTH-RESP-CODE"} <= caps


def test_wrong_password_and_unknown_user_look_the_same(server):
    for user, pw in (("alice@example.test", "wrong-password"), ("nobody@example.test", "whatever1")):
        p = poplib.POP3("127.0.0.1", server.pop3_port, timeout=30)
        p.user(user)
        with pytest.raises(poplib.error_proto) as e:
            p.pass_(pw)
        assert e.value.args[0].startswith(b"-ERR [AUTH]")
        p.close()


def test_dropped_connection_after_dele_keeps_message(server):
    send(server, "alice@example.test", BODIES[0])
    p = login(server)
    p.dele(1)
    p.close()                                        # no QUIT: no UPDATE state
    p = login_when_released(server)
    assert p.stat()[0] == 1
    p.quit()


def test_second_session_gets_in_use(server):
    p1 = login(server)
    p2 = poplib.POP3("127.0.0.1", server.pop3_port, timeout=10)
    p2.user("alice@example.test")
    with pytest.raises(poplib.error_proto) as e:
        p2.pass_("alice-password")
    assert b"[IN-USE]" in e.value.args[0]
    p1.quit()
    p3 = login(server)                               # the lock was released by QUIT
    p3.quit()


def test_locked_mailbox_refuses_login(server):
    server.cli("mailbox", "lock", "bob@example.test")
    p = poplib.POP3("127.0.0.1", server.pop3_port, timeout=30)
    p.user("bob@example.test")
    with pytest.raises(poplib.error_proto) as e:
        p.pass_("bob-password")
    assert e.value.args[0].startswith(b"-ERR")
    server.cli("mailbox", "unlock", "bob@example.test")
    login(server, "bob@example.test", "bob-password").quit()


def test_auth_plain(server):
    import base64
    c = RawClient(server.pop3_port)
    c.line()
    token = base64.b64encode(b"\0alice@example.test\0alice-password").decode()
    c.send(f"AUTH PLAIN {token}\r\n".encode())
    assert c.line().startswith(b"+OK")
    c.send(b"STAT\r\n")
    assert c.line().startswith(b"+OK 0 0")
    c.send(b"QUIT\r\n")
    assert c.line().startswith(b"+OK")


@pytest.mark.peer("mpop")
def test_mpop_fetches_into_maildir(server, tmp_path):
    for b in BODIES:
        send(server, "bob@example.test", b)
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    rc = tmp_path / "mpoprc"
    rc.write_text(f"""defaults
tls off
auth user
account petrel
host 127.0.0.1
port {server.pop3_port}
user bob@example.test
password bob-password
delivery maildir {maildir}
keep off
uidls_file {tmp_path}/uidls
""")
    rc.chmod(0o600)
    out = subprocess.run(["mpop", "--file", str(rc), "petrel"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    files = sorted((maildir / "new").iterdir())
    assert len(files) == 3
    fetched = [f.read_bytes() for f in files]
    for body in BODIES:
        # mpop stores with LF line ends and adds its own Received header; compare the body part.
        assert any(body.replace(b"\r\n", b"\n") in f for f in fetched)
    assert mailbox_ids(server, "bob@example.test") == []   # keep off: mpop deleted them at QUIT


def pop3_stuffed(stored):
    """RFC 1939 §3 by hand: every line that starts with "." gets another one, then "." CRLF."""
    lines = stored.split(b"\r\n")[:-1]
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines) + b".\r\n"


def test_retr_octets_on_the_wire_with_and_without_lines_to_stuff(server):
    """What the DATA decoder knew is stored with each message (deliveries.body_form: 1 CRLF lines, 2 no line
    starting with ".", 4 no NUL), and RETR sends a message with nothing to stuff as stored: the octets on
    the wire are checked here, not through poplib (which would forgive a missing stuffing dot on most lines)."""
    import sqlite3
    for b in BODIES:
        send(server, "alice@example.test", b)
    # One session: a DATA message with nothing to stuff, then a BDAT one (taken as it comes, so nothing is
    # known of it) whose lines start with "." — what DATA knew must not carry over to it.
    s = RawClient(server.smtp_port)
    try:
        assert s.reply()[0] == 220
        assert s.cmd("EHLO c.test")[0] == 250
        for verb, body in ((b"DATA", b"Subject: plain\r\n\r\nno dots\r\n"),
                           (b"BDAT", b"Subject: chunked\r\n\r\n.one\r\n.\r\n..two\r\n")):
            assert s.cmd("MAIL FROM:<carol@remote.test>")[0] == 250
            assert s.cmd("RCPT TO:<alice@example.test>")[0] == 250
            if verb == b"DATA":
                assert s.cmd("DATA")[0] == 354
                s.send(body + b".\r\n")
            else:
                s.send(b"BDAT %d LAST\r\n" % len(body) + body)
            assert s.reply()[0] == 250
        s.cmd("QUIT")
    finally:
        s.close()
    with sqlite3.connect(server.data_dir / "petrel.sqlite") as db:
        forms = [r[0] for r in db.execute("SELECT body_form FROM deliveries ORDER BY id")]
    assert forms == [1 | 4, 1 | 2 | 4, 1 | 2 | 4, 1 | 2 | 4, 0], forms
    stored = [raw_message(server, "alice@example.test", i) for i in mailbox_ids(server, "alice@example.test")]
    c = RawClient(server.pop3_port)
    try:
        assert c.line().startswith(b"+OK")
        c.send(b"USER alice@example.test\r\n")
        assert c.line().startswith(b"+OK")
        c.send(b"PASS alice-password\r\n")
        assert c.line().startswith(b"+OK")
        for n, raw in enumerate(stored, start=1):
            c.send(b"RETR %d\r\n" % n)
            assert c.line().startswith(b"+OK")
            expected = pop3_stuffed(raw)
            got = c.exactly(len(expected))
            assert got == expected, (n, got[-200:], expected[-200:])
        c.send(b"QUIT\r\n")
        assert c.line().startswith(b"+OK")
    finally:
        c.close()
