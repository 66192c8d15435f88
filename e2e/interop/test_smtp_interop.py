"""SMTP receiver against clients this project did not write: Python smtplib and swaks, plus exact-byte
dialogs for the cases those clients cannot produce (bare LF, BDAT, pipelining)."""
import smtplib
import subprocess
import time

import pytest

from conftest import mailbox_ids, raw_message
from smtp_client import RawClient

BODY = (b"From: Carol <carol@remote.test>\r\nTo: alice@example.test\r\nSubject: hello\r\n\r\n"
        b"first line\r\n.starts with a dot\r\n..two dots\r\n\xc3\xa9t\xc3\xa9 8-bit\r\n")


def test_smtplib_delivers_and_store_has_trace_headers(server):
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        code, ehlo = s.ehlo("client.remote.test")
        assert code == 250
        for ext in (b"PIPELINING", b"SIZE", b"8BITMIME", b"DSN", b"ENHANCEDSTATUSCODES", b"SMTPUTF8", b"CHUNKING"):
            assert ext in ehlo
        refused = s.sendmail("carol@remote.test", ["alice@example.test"], BODY, mail_options=["BODY=8BITMIME"])
        assert refused == {}
    ids = mailbox_ids(server, "alice@example.test")
    assert len(ids) == 1
    stored = raw_message(server, "alice@example.test", ids[0])
    assert stored.startswith(b"Return-Path: <carol@remote.test>\r\nReceived: from client.remote.test ([127.0.0.1])")
    assert stored.endswith(BODY)          # byte-exact body, dot-unstuffed
    assert b"by mx.petrel.test" in stored


def test_queue_id_in_reply_and_log_line(server):
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.ehlo("c.test")
        s.mail("carol@remote.test")
        s.rcpt("alice@example.test")
        code, msg = s.data(b"Subject: x\r\n\r\nbody\r\n")
    assert code == 250 and b"queued as" in msg
    queue_id = msg.split()[-1].decode()
    # Wait for the "message accepted" line itself: the authentication-check line names the queue id
    # first, and the accepted line may be written just after the 250 reached the client.
    def accepted():
        return [l for l in server.log().splitlines() if "message accepted" in l and queue_id in l]
    deadline = time.time() + 10
    while time.time() < deadline and not accepted():
        time.sleep(0.05)
    assert accepted(), server.log()[-2000:]
    line = accepted()[0]
    assert "from=<carol@remote.test>" in line and "<alice@example.test>" in line and "127.0.0.1" in line


def test_unknown_user_and_relay_are_refused(server):
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.ehlo("c.test")
        s.mail("carol@remote.test")
        code, msg = s.rcpt("nobody@example.test")
        assert code == 550 and msg.startswith(b"5.1.1")
        code, msg = s.rcpt("victim@elsewhere.test")
        assert code == 550 and msg.startswith(b"5.7.1")
        code, msg = s.rcpt("user@[127.0.0.1]")
        assert code == 550
        code, msg = s.rcpt("<@example.test:victim@elsewhere.test>")
        assert code == 550
        code, msg = s.docmd("DATA")
        assert code == 503 and msg.startswith(b"5.5.1")
    assert mailbox_ids(server, "alice@example.test") == []


def test_postmaster_is_always_accepted(server):
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.ehlo("c.test")
        assert s.sendmail("carol@remote.test", ["PostMaster@example.test"], b"Subject: pm\r\n\r\nhi\r\n") == {}
        s.mail("carol@remote.test")
        assert s.rcpt("<Postmaster>")[0] == 250
    boxes = server.cli("mailbox", "list").stdout
    assert "postmaster@example.test\t1 message(s)" in boxes or "postmaster@example.test" in boxes


def test_vrfy_does_not_enumerate(server):
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.ehlo("c.test")
        assert s.verify("alice@example.test")[0] == 252
        assert s.verify("nobody@example.test")[0] == 252


def test_size_limit_rejects_with_552_and_stores_nothing(data_dir):
    from conftest import PetrelServer, run_cli
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--no-password")
    srv = PetrelServer(data_dir, max_message_size=10000).start()
    try:
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as s:
            s.ehlo("c.test")
            assert b"SIZE 10000" in s.ehlo_resp
            code, _ = s.mail("carol@remote.test", ["SIZE=20000"])
            assert code == 552
            s.rset()
            s.mail("carol@remote.test")
            s.rcpt("alice@example.test")
            code, msg = s.data(b"Subject: big\r\n\r\n" + b"x" * 900 + b"\r\n" * 1 + (b"y" * 900 + b"\r\n") * 20)
            assert code == 552 and msg.startswith(b"5.3.4")
        assert mailbox_ids(srv, "alice@example.test") == []
    finally:
        srv.stop()


def test_bare_lf_in_data_is_rejected_and_nothing_smuggled(server):
    c = RawClient(server.smtp_port)
    assert c.reply()[0] == 220
    assert c.cmd("EHLO c.test")[0] == 250
    assert c.cmd("MAIL FROM:<carol@remote.test>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    # The classic smuggling attempt: "\n.\n" then a second transaction in the same data.
    c.send(b"Subject: one\r\n\r\nbody\n.\nMAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
           b"Subject: smuggled\r\n\r\nx\r\n.\r\n")
    code, lines = c.reply()
    assert code == 521 and "5.5.2" in lines[0]
    assert c.closed()
    assert mailbox_ids(server, "alice@example.test") == []
    assert mailbox_ids(server, "bob@example.test") == []


def test_pipelined_transaction(server):
    c = RawClient(server.smtp_port)
    c.reply()
    c.cmd("EHLO c.test")
    c.send(b"MAIL FROM:<carol@remote.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\n"
           b"RCPT TO:<bob@example.test>\r\nDATA\r\n")
    codes = [c.reply()[0] for _ in range(5)]
    assert codes == [250, 250, 550, 250, 354]
    c.send(b"Subject: p\r\n\r\npipelined\r\n.\r\nQUIT\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 221
    assert len(mailbox_ids(server, "alice@example.test")) == 1
    assert len(mailbox_ids(server, "bob@example.test")) == 1


def test_bdat_chunking(server):
    c = RawClient(server.smtp_port)
    c.reply()
    c.cmd("EHLO c.test")
    c.cmd("MAIL FROM:<carol@remote.test>")
    c.cmd("RCPT TO:<alice@example.test>")
    part1 = b"Subject: chunks\r\n\r\n"
    part2 = b"line with\r\n.a dot that must not be unstuffed\r\n"
    c.send(b"BDAT %d\r\n" % len(part1) + part1)
    assert c.reply()[0] == 250
    c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    code, lines = c.reply()
    assert code == 250 and "queued as" in lines[0]
    # A BDAT without recipients is refused but its octets are still consumed (RFC 3030).
    c.cmd("MAIL FROM:<carol@remote.test>")
    c.send(b"BDAT 12 LAST\r\nQUIT\r\nQUIT\r\n")
    assert c.reply()[0] == 503
    assert c.cmd("NOOP")[0] == 250
    ids = mailbox_ids(server, "alice@example.test")
    assert len(ids) == 1
    assert raw_message(server, "alice@example.test", ids[0]).endswith(part1 + part2)


def test_command_errors(server):
    c = RawClient(server.smtp_port)
    c.reply()
    assert c.cmd("MAIL FROM:<a@b.test>")[0] == 503          # before EHLO
    assert c.cmd("FOO")[0] == 500
    assert c.cmd("EHLO c.test")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 503  # before MAIL
    assert c.cmd("MAIL FROM:alice")[0] == 501
    assert c.cmd("MAIL FROM:<a@b.test> FOO=BAR")[0] == 555
    assert c.cmd("NOOP")[0] == 250
    code, lines = c.cmd("X" * 600)                           # over 512 octets: refused while reading,
    assert code == 500 and "5.5.6" in lines[0]               # and the connection is closed
    assert c.closed()


def test_too_many_errors_closes_with_421(data_dir):
    from conftest import PetrelServer, run_cli
    run_cli(data_dir, "domain", "add", "example.test")
    srv = PetrelServer(data_dir, max_errors=3).start()
    try:
        c = RawClient(srv.smtp_port)
        c.reply()
        for _ in range(2):
            assert c.cmd("BOGUS")[0] == 500
        code, _ = c.cmd("BOGUS")
        if code == 500:
            code, _ = c.reply()
        assert code == 421
        assert c.closed()
    finally:
        srv.stop()


@pytest.mark.peer("swaks")
def test_swaks_delivers(server):
    out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(server.smtp_port),
                          "--from", "dave@remote.test", "--to", "bob@example.test",
                          "--header", "Subject: via swaks", "--body", "swaks body\n.dot line"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "250 2.0.0 Ok: queued as" in out.stdout
    ids = mailbox_ids(server, "bob@example.test")
    assert len(ids) == 1
    stored = raw_message(server, "bob@example.test", ids[0])
    assert b"Subject: via swaks" in stored and b"\r\n.dot line\r\n" in stored


@pytest.mark.peer("swaks")
def test_swaks_relay_denied(server):
    out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(server.smtp_port),
                          "--from", "dave@remote.test", "--to", "victim@elsewhere.test"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "550 5.7.1" in out.stdout


def _hops(n):
    return b"".join(b"Received: from hop%d.test by hop%d.test; Sun, 29 Nov 2026 08:00:00 +0000\r\n" % (i, i + 1)
                    for i in range(n))


def test_mail_loop_refused_at_end_of_data_with_554_5_4_6(server):
    """RFC 5321 §6.3: a message that, with Petrel's own Received: field, would carry more than
    delivery.hop_limit (default 30) Received: fields is refused at the end of DATA: 554 5.4.6, nothing
    stored, the session stays usable. 29 from the client + Petrel's = 30 is at the limit and accepted."""
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.ehlo("c.test")
        s.mail("carol@remote.test")
        s.rcpt("alice@example.test")
        code, msg = s.data(_hops(30) + b"Subject: loop\r\n\r\nReceived: in the body does not count\r\n")
        assert code == 554 and msg.startswith(b"5.4.6"), (code, msg)
        assert mailbox_ids(server, "alice@example.test") == []
        # The same session goes on: a message at the limit is stored.
        s.mail("carol@remote.test")
        s.rcpt("alice@example.test")
        code, msg = s.data(_hops(29) + b"Subject: at the limit\r\n\r\n" + _hops(40))
        assert code == 250, (code, msg)
    ids = mailbox_ids(server, "alice@example.test")
    assert len(ids) == 1
    stored = raw_message(server, "alice@example.test", ids[0])
    header = stored.split(b"\r\n\r\n", 1)[0]
    assert header.count(b"\r\nReceived: ") == 30 and b"Subject: at the limit" in header


def test_mail_loop_refused_after_bdat_last_with_a_header_split_across_chunks(server):
    c = RawClient(server.smtp_port)
    c.reply()
    c.cmd("EHLO c.test")
    message = _hops(30) + b"Subject: chunked loop\r\n\r\nbody\r\n"
    split = message.index(b"Received: from hop17") + 4        # inside the field name "Rece|ived"
    part1, part2 = message[:split], message[split:]
    assert c.cmd("MAIL FROM:<carol@remote.test>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    c.send(b"BDAT %d\r\n" % len(part1) + part1)
    assert c.reply()[0] == 250
    c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    code, lines = c.reply()
    assert code == 554 and lines[0].startswith("554 5.4.6"), lines
    # Nothing stored; the connection stays and the next transaction (at the limit) is accepted.
    assert c.cmd("MAIL FROM:<carol@remote.test>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    ok = _hops(29) + b"Subject: fine\r\n\r\nbody\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(ok) + ok)
    code, lines = c.reply()
    assert code == 250 and "queued as" in lines[0], lines
    assert c.cmd("QUIT")[0] == 221
    assert len(mailbox_ids(server, "alice@example.test")) == 1


def test_hop_limit_setting_applies_to_smtp_receiving(data_dir):
    from conftest import PetrelServer, run_cli
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--no-password")
    srv = PetrelServer(data_dir, extra_config="[delivery]\nhop_limit = 3\n").start()
    try:
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as s:
            s.ehlo("c.test")
            s.mail("carol@remote.test")
            s.rcpt("alice@example.test")
            code, msg = s.data(_hops(3) + b"Subject: three\r\n\r\nx\r\n")
            assert code == 554 and b"more than 3 Received" in msg, (code, msg)
            s.mail("carol@remote.test")
            s.rcpt("alice@example.test")
            code, _ = s.data(_hops(2) + b"Subject: two\r\n\r\nx\r\n")
            assert code == 250
        assert len(mailbox_ids(srv, "alice@example.test")) == 1
    finally:
        srv.stop()
