"""IMAP through `petrel serve` with clients this project did not write: Python's imaplib (LOGIN, STARTTLS,
SELECT after an SMTP delivery with smtplib, FETCH, STORE, IDLE woken by mail delivered meanwhile, APPEND,
errors with their response codes, IMAPS) and IMAPClient's live test suite — each on SQLite and on
PostgreSQL (a database of the module's cluster, pg_cluster.py).

The IMAP listeners start only when the store serves IMAP (an IMAPMailboxProvider: the folder tables of the
SQLite and PostgreSQL stores). A server whose store does not logs "imap not started"; these tests then
SKIP with that line as the reason — they are not expected failures, they run as soon as the store does.
"""
import email
import hashlib
import imaplib
import importlib.util
import json
import os
import re
import smtplib
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import PetrelServer, config_cli, run_cli

MESSAGE = (b"From: bob@example.test\r\nTo: alice@example.test\r\nSubject: imap interop\r\n"
           b"Message-ID: <imap-interop-1@example.test>\r\n\r\nHello over IMAP.\r\n")


def no_verify():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def imap_ports_or_skip(srv):
    ports, reason = srv.imap_ports()
    if ports is None:
        pytest.skip(f"IMAP is not started by this server: {reason}")
    return ports


def deliver(srv, subject="imap interop", to="alice@example.test"):
    body = MESSAGE.replace(b"Subject: imap interop", b"Subject: " + subject.encode())
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as smtp:
        smtp.sendmail("bob@example.test", [to], body)


def postgres_server(cluster, data_dir):
    """A server on a fresh database of the module's PostgreSQL cluster, with the `server` fixture's mailboxes."""
    database = "i" + hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]
    cluster.psql(f"CREATE DATABASE {database}")
    srv = PetrelServer(data_dir, extra_config=cluster.store_section(database=database))
    srv.write_config()
    config_cli(srv.config_path, "domain", "add", "example.test")
    for name in ("alice", "bob"):
        config_cli(srv.config_path, "mailbox", "add", f"{name}@example.test", "--password-stdin", input_text=f"{name}-password\n")
    return srv.start()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.peer("postgresql"))])
def imap_server(request, data_dir):
    """The `server` fixture's server, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        srv = request.getfixturevalue("server")
    else:
        srv = postgres_server(request.getfixturevalue("cluster"), data_dir)

        def stop():
            srv.stop()
            srv.kill()
        request.addfinalizer(stop)
    imap_ports_or_skip(srv)
    return srv


@pytest.fixture
def tls_only_server(data_dir):
    """Logins only over TLS: LOGINDISABLED until STARTTLS."""
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    srv = PetrelServer(data_dir, allow_plaintext="false").start()
    try:
        imap_ports_or_skip(srv)
        yield srv
    finally:
        srv.stop()
        srv.kill()


def test_logindisabled_until_starttls_then_login(tls_only_server):
    port, _ = tls_only_server.imap_ports()[0]
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    assert "STARTTLS" in imap.capabilities and "LOGINDISABLED" in imap.capabilities
    with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED|LOGINDISABLED"):
        imap.login("alice@example.test", "alice-password")
    imap.starttls(ssl_context=no_verify())
    assert "LOGINDISABLED" not in imap.capabilities and "STARTTLS" not in imap.capabilities
    typ, _ = imap.login("alice@example.test", "alice-password")
    assert typ == "OK"
    imap.logout()
    deadline = time.time() + 10  # the log line is read from the server's stderr by another thread
    while "imap login" not in tls_only_server.log() and time.time() < deadline:
        time.sleep(0.05)
    assert "imap login" in tls_only_server.log()


def test_smtp_delivery_select_fetch_store(imap_server):
    deliver(imap_server)
    port, _ = imap_server.imap_ports()[0]
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    imap.login("alice@example.test", "alice-password")
    typ, data = imap.select("INBOX")
    assert typ == "OK" and int(data[0]) == 1
    typ, data = imap.fetch("1", "(BODY.PEEK[] FLAGS)")
    assert typ == "OK"
    message = email.message_from_bytes(data[0][1])
    assert message["Subject"] == "imap interop"
    assert b"Hello over IMAP." in data[0][1]
    typ, data = imap.store("1", "+FLAGS", "(\\Flagged)")
    assert typ == "OK" and b"\\Flagged" in data[0]
    typ, data = imap.uid("SEARCH", None, "FLAGGED")
    assert typ == "OK" and data[0].split() == [b"1"]
    imap.logout()


def test_idle_is_woken_by_mail_delivered_meanwhile(imap_server):
    deliver(imap_server, subject="first")
    port, _ = imap_server.imap_ports()[0]
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    imap.login("alice@example.test", "alice-password")
    typ, data = imap.select("INBOX")
    assert int(data[0]) == 1
    # imaplib of Python 3.11 has no idle(): the command by hand (RFC 2177).
    tag = imap._new_tag()
    imap.send(tag + b" IDLE\r\n")
    assert imap.readline().startswith(b"+")
    deliver(imap_server, subject="second")         # another session: SMTP, through the queue into INBOX
    imap.sock.settimeout(10)
    line = imap.readline()
    assert line.strip() == b"* 2 EXISTS", line
    imap.send(b"DONE\r\n")
    while True:
        line = imap.readline()
        if line.startswith(tag):
            assert b"OK" in line
            break
    imap.logout()


def test_append_and_errors_with_response_codes(imap_server):
    port, _ = imap_server.imap_ports()[0]
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap.login("alice@example.test", "wrong-password")
    imap.login("alice@example.test", "alice-password")
    typ, data = imap.append("INBOX", "(\\Seen)", None, MESSAGE)
    assert typ == "OK" and b"APPENDUID" in data[0]
    typ, data = imap.append("No/Such/Folder", None, None, MESSAGE)
    assert typ == "NO" and b"TRYCREATE" in data[0]
    typ, data = imap.select("Nonexistent")
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    typ, data = imap.select("INBOX")
    assert typ == "OK" and int(data[0]) == 1
    typ, data = imap.fetch("1", "(FLAGS)")
    assert b"\\Seen" in data[0]
    with pytest.raises(imaplib.IMAP4.error):         # BAD: beyond the last message (RFC 9051 §9)
        imap.fetch("99", "(FLAGS)")
    imap.logout()


def read_tagged(imap, tag):
    """The lines and literals imaplib reads up to the tagged reply `tag` (raw, for commands imaplib cannot send)."""
    out = b""
    while True:
        line = imap.readline()
        out += line
        m = re.search(rb"\{(\d+)\}\r\n$", line)
        if m:
            out += imap.read(int(m.group(1)))
        elif line.startswith(tag + b" "):
            return out


def test_fetch_sends_nul_as_0x80_and_smtp_mail_as_stored(imap_server):
    """BODY[]/RFC822 of a message APPENDed as literal8 with NUL octets (RFC 3516 §4.4) sends each NUL as 0x80
    (no `literal` may hold NUL, RFC 9051 CHAR8), whole, partial and by section; BINARY[] gives the NULs back.
    A message that came in by SMTP (whose decoder refused NUL, so FETCH does not scan it again) comes back
    byte for byte as smtplib sent it, under the trace fields Petrel added."""
    deliver(imap_server, subject="by smtp")
    port, _ = imap_server.imap_ports()[0]
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    imap.login("alice@example.test", "alice-password")
    assert b"BINARY" in imap.capability()[1][0].split()          # after login (RFC 9051 §7.1: may grow)
    with_nul = b"Subject: nul\r\nContent-Type: text/plain\r\n\r\na\x00b\r\nc\x00\x00d\r\n"
    tag = imap._new_tag()
    imap.send(tag + b" APPEND INBOX ~{%d}\r\n" % len(with_nul))
    assert imap.readline().startswith(b"+")
    imap.send(with_nul + b"\r\n")
    assert b"APPENDUID" in read_tagged(imap, tag).splitlines()[-1]
    typ, data = imap.select("INBOX")
    assert typ == "OK" and int(data[0]) == 2
    replaced = with_nul.replace(b"\x00", b"\x80")
    typ, data = imap.fetch("2", "(BODY.PEEK[] RFC822.TEXT BODY.PEEK[1] BODY.PEEK[]<38.1000>)")
    assert typ == "OK"
    literals = [part[1] for part in data if isinstance(part, tuple)]
    text = replaced[replaced.index(b"\r\n\r\n") + 4:]
    assert literals == [replaced, text, text, replaced[38:]], literals
    tag = imap._new_tag()
    imap.send(tag + b" FETCH 2 (BINARY.PEEK[1])\r\n")
    answer = b""
    while not answer.endswith(b"\r\n") or not answer.splitlines()[-1].startswith(tag):
        chunk = imap.sock.recv(65536)
        assert chunk, answer
        answer += chunk
    assert b"~{%d}\r\n" % len(text) in answer and b"a\x00b\r\nc\x00\x00d\r\n" in answer, answer
    typ, data = imap.fetch("1", "(BODY.PEEK[])")
    stored = data[0][1]
    assert stored.endswith(MESSAGE.replace(b"Subject: imap interop", b"Subject: by smtp"))
    assert stored.startswith(b"Return-Path: <bob@example.test>\r\n") and b"\nReceived: " in stored
    imap.logout()


def test_implicit_tls_and_status(imap_server):
    _, tls_port = imap_server.imap_ports()[0]
    imap = imaplib.IMAP4_SSL("127.0.0.1", tls_port, ssl_context=no_verify(), timeout=10)
    assert "STARTTLS" not in imap.capabilities
    imap.login("alice@example.test", "alice-password")
    typ, data = imap.list()
    assert typ == "OK" and any(b"INBOX" in line for line in data)
    imap.logout()
    with urllib.request.urlopen(f"http://127.0.0.1:{imap_server.admin_port}/status", timeout=10) as response:
        report = json.load(response)
    assert report["connections"]["imaps"]["total"] >= 1
    assert report["imap_logins"]["success"] >= 1


def test_imapclient_livetest(imap_server, tmp_path):
    """IMAPClient's own live test suite against alice's account (it works in a folder of its own), in
    full: every test must pass (skips only for extensions Petrel does not offer). imapclient_livetest.py
    runs it with three bugs of the client library set right and a slow network for its two timeout
    tests (docs/IMAP.md "IMAPClient's live tests")."""
    if importlib.util.find_spec("imapclient.livetest") is None:
        pytest.skip("this IMAPClient release does not ship imapclient.livetest")
    port, _ = imap_server.imap_ports()[0]
    ini = tmp_path / "livetest.ini"
    ini.write_text("[DEFAULT]\nhost = 127.0.0.1\nport = %d\nssl = false\nstarttls = false\n"
                   "username = alice@example.test\npassword = alice-password\n" % port)
    runner = Path(__file__).with_name("imapclient_livetest.py")
    proc = subprocess.run([sys.executable, str(runner), str(ini), "-v"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    output = proc.stdout + proc.stderr
    (tmp_path / "livetest.out").write_text(output)
    ran = re.search(r"^Ran (\d+) tests", output, re.M)
    assert ran and int(ran.group(1)) >= 59, output[-4000:]
    failed = sorted(set(re.findall(r"^(?:FAIL|ERROR): (\w+) \(", output, re.M)))
    assert not failed and proc.returncode == 0 and re.search(r"^OK\b", output, re.M), \
        f"failures {failed} (exit {proc.returncode}):\n" + output[-6000:]
    # The tests the runner helps ran and passed (the UID and the non-UID class each have test_move and
    # test_fetch; their names print alike).
    for test, times in (("test_move", 2), ("test_fetch", 2), ("test_small_connection_timeout_fail", 1),
                        ("test_small_read_timeout_fail", 1)):
        # (-v prints a docstring's first line, when there is one, on a line of its own before the result)
        passed = re.findall(r"^%s \([^)]*\)(?:\n[^\n]*?)? \.\.\. ok$" % test, output, re.M)
        assert len(passed) == times, (test, output[-4000:])
    # Skipped: only what tests an extension Petrel does not offer (docs/IMAP.md), never one it offers.
    reasons = set(re.findall(r"^test_\w+ \([^)]*\) \.\.\. skipped ['\"](.*)['\"]$", output, re.M))
    allowed = {"Server doesn't support XLIST", "Server doesn't support ACL", "Server doesn't support labels",
               "Server doesn't support Gmail search", "Server doesn't support SORT",
               "Server doesn't support THREAD=REFERENCES", "test instance not configured for UID operations"}
    assert reasons <= allowed, (sorted(reasons - allowed), output[-4000:])
