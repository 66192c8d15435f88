"""Per-mailbox quota (RFC 9208) through `petrel serve` with clients this project did not write: the
administrator sets it with `petrel mailbox quota`; Python's smtplib sees `452 4.2.2` at RCPT for a mailbox
over its quota (and for a declared SIZE that does not fit) while other recipients of the same transaction
get the message; imaplib sees the QUOTA capabilities, GETQUOTAROOT/GETQUOTA values, SETQUOTA refused, and
APPEND/COPY refused with `[OVERQUOTA]`.
"""
import imaplib
import re
import smtplib

import pytest

from conftest import PetrelServer, config_cli, rcpt_until

BODY = b"From: bob@example.test\r\nTo: alice@example.test\r\nSubject: quota\r\n\r\n" + (b"x" * 58 + b"\r\n") * 50


def imap_port(srv):
    ports, reason = srv.imap_ports()
    if ports is None:
        pytest.skip(f"IMAP is not started by this server: {reason}")
    return ports[0]


def quota_values(response):
    """`"" (STORAGE 4 10 MESSAGE 1 5)` → {"STORAGE": (4, 10), "MESSAGE": (1, 5)}."""
    text = response.decode() if isinstance(response, bytes) else response
    inner = re.search(r"\((.*)\)", text).group(1).split()
    return {inner[i]: (int(inner[i + 1]), int(inner[i + 2])) for i in range(0, len(inner), 3)}


def test_cli_sets_shows_and_validates_the_quota(server):
    out = server.cli("mailbox", "quota", "alice@example.test", "500M", "--messages", "1000").stdout
    assert "500M storage (524288000 bytes), 1000 messages" in out
    show = server.cli("mailbox", "show", "alice@example.test").stdout
    assert "quota: 500M storage (524288000 bytes), 1000 messages" in show
    assert "quota: none" in server.cli("mailbox", "show", "bob@example.test").stdout
    server.cli("mailbox", "quota", "alice@example.test", "none")
    assert "quota: none" in server.cli("mailbox", "show", "alice@example.test").stdout
    bad = server.cli("mailbox", "quota", "alice@example.test", "1.5G", check=False)
    assert bad.returncode != 0 and "not a size" in bad.stderr
    bad = server.cli("mailbox", "quota", "alice@example.test", "1G", "--messages", "-3", check=False)
    assert bad.returncode != 0
    missing = server.cli("mailbox", "quota", "ghost@example.test", "1G", check=False)
    assert missing.returncode != 0 and "does not exist" in missing.stderr
    help_text = server.cli("mailbox", "quota", "--help").stdout
    assert "Examples:" in help_text and "petrel mailbox quota alice@example.test 2G --messages 100000" in help_text


def test_smtp_refuses_a_full_mailbox_with_452_4_2_2(server):
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        smtp.sendmail("bob@example.test", ["alice@example.test"], BODY)
    # Below what alice already holds: she takes no more mail, bob still does — once the server's answer
    # "alice has no limits" from the delivery above is over ([store] recipient_cache).
    server.cli("mailbox", "quota", "alice@example.test", "2K")
    assert rcpt_until(server.smtp_port, "alice@example.test", 452, sender="carol@remote.test", size=len(BODY))[0] == 452
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        refused = smtp.sendmail("carol@remote.test", ["alice@example.test", "bob@example.test"], BODY)
        assert refused == {"alice@example.test": (452, b"4.2.2 <alice@example.test>: Mailbox full")}
        with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
            smtp.sendmail("carol@remote.test", ["alice@example.test"], BODY)
        code, text = caught.value.recipients["alice@example.test"]
        assert code == 452 and text.startswith(b"4.2.2")
    assert "smtp recipient over quota" in server.log()
    bob = server.cli("mailbox", "show", "bob@example.test").stdout
    assert "1 message(s) in INBOX" in bob
    alice = server.cli("mailbox", "show", "alice@example.test").stdout
    assert "1 message(s) in INBOX" in alice

    # Room for small mail, but not for a declared SIZE that does not fit (RFC 1870).
    server.cli("mailbox", "quota", "alice@example.test", "10K", "--messages", "10")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("size")
        assert smtp.mail("carol@remote.test", options=["SIZE=20000"])[0] == 250
        code, text = smtp.rcpt("alice@example.test")
        assert (code, text) == (452, b"4.2.2 <alice@example.test>: Mailbox full")
        assert smtp.rcpt("bob@example.test")[0] == 250
        smtp.rset()
        assert smtp.mail("carol@remote.test", options=["SIZE=3100"])[0] == 250
        assert smtp.rcpt("alice@example.test")[0] == 250

    # The message limit alone.
    server.cli("mailbox", "quota", "alice@example.test", "none", "--messages", "1")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("carol@remote.test", ["alice@example.test"], BODY)
    server.cli("mailbox", "quota", "alice@example.test", "none")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        assert smtp.sendmail("carol@remote.test", ["alice@example.test"], BODY) == {}


def test_imap_getquotaroot_and_overquota(server):
    port = imap_port(server)
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        smtp.sendmail("bob@example.test", ["alice@example.test"], BODY)
    size = int(re.search(r"(\d+) bytes in all folders", server.cli("mailbox", "show", "alice@example.test").stdout).group(1))
    assert size > 3000

    imap = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    imap.login("alice@example.test", "alice-password")
    # Before login the server names only what a client needs to log in; afterwards RFC 9208's three.
    typ, data = imap.capability()
    capabilities = data[0].decode().upper().split()
    for capability in ("QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"):
        assert capability in capabilities
    # No quota yet: INBOX has no quota root.
    typ, data = imap.getquotaroot("INBOX")
    assert typ == "OK" and data[0][0] == b'INBOX' and data[1] == [None]

    server.cli("mailbox", "quota", "alice@example.test", "10K", "--messages", "5")
    typ, data = imap.getquotaroot("INBOX")
    assert typ == "OK"
    roots, quotas = data
    assert roots[0] == b'INBOX ""'
    assert quota_values(quotas[0]) == {"STORAGE": ((size + 1023) // 1024, 10), "MESSAGE": (1, 5)}
    typ, data = imap.getquota('""')
    assert typ == "OK" and quota_values(data[0]) == {"STORAGE": ((size + 1023) // 1024, 10), "MESSAGE": (1, 5)}
    typ, data = imap._simple_command("SETQUOTA", '""', "(STORAGE 100000)")
    assert typ == "NO"

    # APPEND to another folder counts for the same root; one more does not fit.
    message = b"Subject: appended\r\n\r\n" + (b"y" * 78 + b"\r\n") * 50
    typ, data = imap.append("Archive", None, None, message)
    assert typ == "OK" and b"APPENDUID" in data[0]
    typ, data = imap.append("INBOX", None, None, message)
    assert typ == "NO" and b"[OVERQUOTA]" in data[0], data
    # COPY would add as much again: refused too; MOVE changes no usage and is allowed.
    typ, _ = imap.select("Archive")
    assert typ == "OK"
    typ, data = imap.copy("1", "Trash")
    assert typ == "NO" and b"[OVERQUOTA]" in data[0], data
    typ, data = imap.uid("MOVE", "1", "Trash")
    assert typ == "OK"
    imap.logout()
    # SMTP sees the same usage: full (once the answer of the delivery above is over).
    assert rcpt_until(server.smtp_port, "alice@example.test", 452, sender="carol@remote.test", size=len(BODY))[0] == 452
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("carol@remote.test", ["alice@example.test"], BODY)


@pytest.mark.peer("postgresql")
def test_quota_on_postgresql(cluster, data_dir):
    """The same limits on the PostgreSQL store: kept in `mailboxes`, usage over every folder, 452 4.2.2 at
    RCPT and [OVERQUOTA] on APPEND."""
    srv = PetrelServer(data_dir, extra_config=cluster.store_section())
    srv.write_config()
    config_cli(srv.config_path, "domain", "add", "example.test")
    config_cli(srv.config_path, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    config_cli(srv.config_path, "mailbox", "quota", "alice@example.test", "6K", "--messages", "10")
    assert cluster.psql("SELECT quota_storage, quota_messages FROM mailboxes WHERE address = 'alice@example.test'").strip() \
        in ("6144|10", "6144 | 10")
    srv.start()
    try:
        port = imap_port(srv)
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as smtp:
            assert smtp.sendmail("bob@remote.test", ["alice@example.test"], BODY) == {}
        imap = imaplib.IMAP4("127.0.0.1", port, timeout=10)
        imap.login("alice@example.test", "alice-password")
        message = b"Subject: appended\r\n\r\n" + (b"y" * 78 + b"\r\n") * 30
        typ, data = imap.append("Archive", None, None, message)
        assert typ == "OK", data
        typ, data = imap.getquotaroot("INBOX")
        storage, messages = quota_values(data[1][0])["STORAGE"], quota_values(data[1][0])["MESSAGE"]
        assert storage[1] == 6 and storage[0] >= 5 and messages == (2, 10)
        typ, data = imap.append("INBOX", None, None, message)
        assert typ == "NO" and b"[OVERQUOTA]" in data[0], data
        imap.logout()
        # The usage is just under 6K: lowered below it, SMTP refuses (the CLI changes it under the server).
        config_cli(srv.config_path, "mailbox", "quota", "alice@example.test", "5K", "--messages", "10")
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as smtp:
            with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
                smtp.sendmail("bob@remote.test", ["alice@example.test"], BODY)
            assert caught.value.recipients["alice@example.test"] == (452, b"4.2.2 <alice@example.test>: Mailbox full")
        assert "quota: 5K storage (5120 bytes), 10 messages" in config_cli(srv.config_path, "mailbox", "show", "alice@example.test")
    finally:
        assert srv.stop() == 0
        srv.kill()
