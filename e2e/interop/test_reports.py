"""Delivery reports through the real `petrel` binary: the Badmail CLI (`petrel badmail list/show/purge`)
on entries the server itself wrote, the delay-warning DSN (RFC 3464 `Action: delayed`), and the admin
copy of failure reports (`[delivery] bounce_copy_to`).

The remote side is an aiosmtpd peer on loopback reached through a `[delivery] routes` entry; MX look-ups
go to a dnslib server on loopback. Reports are read back through POP3 (poplib) and parsed with Python's
`email` package. Every wait polls a condition against a deadline.
"""
import email
import email.policy
import email.utils
import os
import poplib
import re
import smtplib
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import PETREL, PetrelServer, run_cli
from test_delivery import delivery_config, delivery_status, wait_for
from test_delivery import dns, peer  # noqa: F401  (the aiosmtpd peer and dnslib fixtures, reused by name)

ENTRY_NAME = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z)-([A-Za-z0-9]+)$")


# MARK: - helpers

def petrel(srv, *args):
    """`petrel ARGS --config <the server's file>`: the CLI reads the same configuration as the server."""
    cmd = [str(PETREL), *args, "--config", str(srv.config_path)]
    return subprocess.run(cmd, capture_output=True, timeout=60)


def assert_clean_failure(proc, *needles):
    """A refused command: non-zero exit (not a signal or trap), a message naming the problem, no crash dump."""
    out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    assert proc.returncode > 0, f"expected a failure exit code, got {proc.returncode}: {out}"
    assert proc.returncode not in (132, 133, 134, 139), f"crashed ({proc.returncode}): {out}"
    assert "Fatal error" not in out and "Stack dump" not in out and "Illegal instruction" not in out, out
    for needle in needles:
        assert needle in out, f"{needle!r} not in {out!r}"
    return out


def pop3_messages(srv, user, password):
    """Every message in the mailbox, fetched with poplib (the session is closed with QUIT, nothing deleted)."""
    deadline = time.time() + 10
    while True:
        try:
            p = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=10)
            p.user(user)
            p.pass_(password)
            break
        except poplib.error_proto as e:
            # The previous poll's session may not be released yet.
            if b"[IN-USE]" not in e.args[0] or time.time() > deadline:
                raise
            time.sleep(0.05)
    try:
        count, _ = p.stat()
        out = []
        for n in range(1, count + 1):
            _, lines, _ = p.retr(n)
            out.append(email.message_from_bytes(b"\r\n".join(lines) + b"\r\n", policy=email.policy.default))
        return out
    finally:
        p.quit()


def pop3_reports(srv, user, password):
    return [m for m in pop3_messages(srv, user, password) if m.get_content_type() == "multipart/report"]


def original_headers(report):
    for part in report.walk():
        if part.get_content_type() in ("text/rfc822-headers", "message/rfc822"):
            payload = part.get_payload()
            if isinstance(payload, list):          # message/rfc822 parsed into a message
                return payload[0].as_string()
            return part.get_content() if isinstance(part.get_content(), str) else str(payload)
    raise AssertionError("no original message or headers part")


def count_in_log(srv, text):
    return srv.log().count(text)


def start_server(data_dir, extra, mailboxes=(("alice@example.test", "alice-password"),)):
    run_cli(data_dir, "domain", "add", "example.test")
    for address, password in mailboxes:
        run_cli(data_dir, "mailbox", "add", address, "--password-stdin", input_text=password + "\n")
    return PetrelServer(data_dir, extra_config=extra).start()


def submit(srv, to, subject, sender="alice@example.test", password="alice-password"):
    msg = (f"From: {sender}\r\nTo: {', '.join(to)}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.test>\r\n"
           f"\r\nBody of {subject}.\r\n")
    with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=10) as s:
        s.login(sender, password)
        s.sendmail(sender, to, msg.encode())


def relay_unauthenticated(srv, sender, to, subject):
    """Port 25 from 127.0.0.1 (allowed to relay by [relay] allow_networks), any envelope sender."""
    msg = f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.test>\r\n\r\nbody\r\n"
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as s:
        s.ehlo("client.test")
        assert s.sendmail(sender, [to], msg.encode()) == {}


# MARK: - fixtures

@pytest.fixture
def badmail_server(data_dir, peer, dns):  # noqa: F811
    """Port 25 may relay from loopback, so a message can carry a local sender that has no mailbox: its
    failure report cannot be delivered to anyone and goes to Badmail."""
    extra = delivery_config(peer[1].port, dns.port) + '\n[relay]\nallow_networks = ["127.0.0.1/32"]\n'
    srv = start_server(data_dir, extra)
    yield srv
    srv.stop()
    srv.kill()


def badmail_list(srv):
    """(entry lines as [name, date, size, queue id, reason], the summary line) of `petrel badmail list`."""
    proc = petrel(srv, "badmail", "list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    entries = [l.split("\t") for l in lines if "\t" in l]
    summary = [l for l in lines if "\t" not in l]
    return entries, summary


def make_badmail(srv, handler, subject):
    """A bounce to the non-existent local sender ghost@example.test: the report lands in Badmail."""
    before = count_in_log(srv, "stored in badmail")
    handler.rules[f"{subject}@remote.test"] = "550 5.1.1 <%s@remote.test>: no such user" % subject
    relay_unauthenticated(srv, "ghost@example.test", f"{subject}@remote.test", subject)
    wait_for(lambda: count_in_log(srv, "stored in badmail") > before, timeout=40, what=f"the badmail entry for {subject}")
    lines = [l for l in srv.log().splitlines() if "stored in badmail" in l]
    m = re.search(r" file=(\S+)", lines[-1])
    assert m, lines[-1]
    return m.group(1)


# MARK: - 1. petrel badmail list / show / purge

def test_badmail_list_show_purge_on_server_written_entries(badmail_server, peer):  # noqa: F811
    srv = badmail_server
    handler, _ = peer
    badmail_dir = srv.data_dir / "badmail"

    entries, summary = badmail_list(srv)
    assert entries == [] and summary and summary[0].startswith("no badmail entries in ")

    first = make_badmail(srv, handler, "first")
    second = make_badmail(srv, handler, "second")
    assert handler.messages == [], "the peer refused both; no report went out to anyone"
    assert (badmail_dir.stat().st_mode & 0o777) == 0o700

    entries, summary = badmail_list(srv)
    assert len(entries) == 2, entries
    names = [e[0] for e in entries]
    assert names == [second, first], "newest first, named as the server logged them"
    files = sorted(os.listdir(badmail_dir))
    assert files == sorted([n + ".eml" for n in names] + [n + ".txt" for n in names]), files
    for name, date, size, queue_id, reason in entries:
        m = ENTRY_NAME.match(name)
        assert m, name
        assert m.group(2) == queue_id
        stored = datetime.strptime(m.group(1), "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=timezone.utc)
        assert abs((datetime.now(timezone.utc) - stored).total_seconds()) < 300
        assert re.search(r"\d{4} \d\d:\d\d:\d\d [+-]\d{4}$", date), date  # an RFC 5322 date
        assert int(size) == (badmail_dir / (name + ".eml")).stat().st_size + (badmail_dir / (name + ".txt")).stat().st_size
        assert "could not be addressed" in reason and "ghost@example.test" in reason, reason
    total = sum(int(e[2]) for e in entries)
    assert summary == [f"2 entries, {total} of 104857600 octets in {badmail_dir}"], summary

    # show: the description, with or without the .txt/.eml suffix, and the same with --data-dir.
    newest = names[0]
    shown = petrel(srv, "badmail", "show", newest)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout.decode()
    assert f"Queue-ID: {entries[0][3]}" in text
    assert "Sender: <>" in text and "Recipients: ghost@example.test" in text
    assert "Reason:\nreport about " in text and "<ghost@example.test>: no such mailbox here" in text
    eml_size = (badmail_dir / (newest + ".eml")).stat().st_size
    assert f"Report message: {badmail_dir / (newest + '.eml')} ({eml_size} octets; print it with --message)" in text
    assert petrel(srv, "badmail", "show", newest + ".txt").stdout == shown.stdout
    assert petrel(srv, "badmail", "show", newest + ".eml").stdout == shown.stdout
    assert run_cli(srv.data_dir, "badmail", "show", newest).stdout == text

    # show --message: the report itself, byte for byte the .eml, a failure DSN about "second".
    raw = petrel(srv, "badmail", "show", newest, "--message")
    assert raw.returncode == 0 and raw.stdout == (badmail_dir / (newest + ".eml")).read_bytes()
    report = email.message_from_bytes(raw.stdout, policy=email.policy.default)
    assert report.get_content_type() == "multipart/report"
    assert report["To"].addresses[0].addr_spec == "ghost@example.test"
    _, recipients = delivery_status(report)
    assert len(recipients) == 1 and recipients[0]["Action"] == "failed" and recipients[0]["Status"] == "5.1.1"
    assert "second@remote.test" in recipients[0]["Final-Recipient"]
    assert "Subject: second" in original_headers(report)

    # Bad input: clear error, non-zero exit, nothing removed.
    missing = "20000101T000000.000000Z-NOSUCHENTRY"
    assert_clean_failure(petrel(srv, "badmail", "show", missing), "no badmail entry", missing)
    assert_clean_failure(petrel(srv, "badmail", "show", missing, "--message"), "no badmail entry")
    assert_clean_failure(petrel(srv, "badmail", "show", "no-such-id"), "no-such-id")
    assert_clean_failure(petrel(srv, "badmail", "show", "../" + newest), newest)
    assert_clean_failure(petrel(srv, "badmail", "show", str(badmail_dir / (newest + ".eml"))))
    assert_clean_failure(petrel(srv, "badmail", "show", ""))
    assert_clean_failure(petrel(srv, "badmail", "purge"), "--all", "--older-than")
    assert_clean_failure(petrel(srv, "badmail", "purge", "--all", "--older-than", "1d"), "--all", "--older-than")
    assert_clean_failure(petrel(srv, "badmail", "purge", "--older-than", "soon"), "--older-than")
    assert_clean_failure(petrel(srv, "badmail", "purge", "--older-than", "-5d"))
    assert [e[0] for e in badmail_list(srv)[0]] == names, "a refused command removed nothing"

    # purge --older-than: entries just written are younger than an hour, nothing goes.
    purged = petrel(srv, "badmail", "purge", "--older-than", "1h")
    assert purged.returncode == 0 and purged.stdout.decode().strip() == f"removed 0 badmail entries from {badmail_dir}"
    assert [e[0] for e in badmail_list(srv)[0]] == names

    # Age the older entry: its files (as the server wrote them) get a name 10 days earlier.
    oldest = names[1]
    m = ENTRY_NAME.match(oldest)
    stamp = datetime.strptime(m.group(1), "%Y%m%dT%H%M%S.%fZ") - timedelta(days=10)
    aged = stamp.strftime("%Y%m%dT%H%M%S.%fZ") + "-" + m.group(2)
    for suffix in (".eml", ".txt"):
        os.rename(badmail_dir / (oldest + suffix), badmail_dir / (aged + suffix))
    assert [e[0] for e in badmail_list(srv)[0]] == [newest, aged]

    purged = petrel(srv, "badmail", "purge", "--older-than", "7d")
    assert purged.returncode == 0 and purged.stdout.decode().strip() == f"removed 1 badmail entry from {badmail_dir}"
    assert [e[0] for e in badmail_list(srv)[0]] == [newest]
    assert sorted(os.listdir(badmail_dir)) == [newest + ".eml", newest + ".txt"]
    assert_clean_failure(petrel(srv, "badmail", "show", aged), "no badmail entry")

    # The server keeps writing into the directory after a purge; purge --all removes both.
    make_badmail(srv, handler, "third")
    assert len(badmail_list(srv)[0]) == 2
    purged = petrel(srv, "badmail", "purge", "--all")
    assert purged.returncode == 0 and purged.stdout.decode().strip() == f"removed 2 badmail entries from {badmail_dir}"
    entries, summary = badmail_list(srv)
    assert entries == [] and summary == [f"no badmail entries in {badmail_dir}"]
    assert [f for f in os.listdir(badmail_dir) if not f.startswith(".")] == []
    purged = petrel(srv, "badmail", "purge", "--all")
    assert purged.returncode == 0 and purged.stdout.decode().strip() == f"removed 0 badmail entries from {badmail_dir}"
    assert srv.proc.poll() is None, "the server kept running"


# MARK: - 2. the delay warning

def test_delay_warning_is_sent_once(data_dir, peer, dns):  # noqa: F811
    handler, controller = peer
    handler.default_reply = "451 4.3.0 try again later"
    extra = delivery_config(controller.port, dns.port, delay_warning='"2s"')
    srv = start_server(data_dir, extra)
    try:
        submit(srv, ["bob@remote.test"], subject="slow")
        wait_for(lambda: pop3_reports(srv, "alice@example.test", "alice-password"), timeout=40,
                 what="the delay warning in alice's mailbox")
        # Several more deferred attempts after the warning: still exactly one warning.
        after = count_in_log(srv, "delivery deferred")
        wait_for(lambda: count_in_log(srv, "delivery deferred") >= after + 3, timeout=30, what="three more attempts")
        found = pop3_reports(srv, "alice@example.test", "alice-password")
        assert len(found) == 1, [r["Subject"] for r in found]
        report = found[0]
        assert report["Subject"] == "Delayed Mail (still being retried)"
        assert report["To"].addresses[0].addr_spec == "alice@example.test"
        assert report["From"].addresses[0].username.upper() == "MAILER-DAEMON"
        assert report["Auto-Submitted"] == "auto-replied"
        assert report.get_param("report-type") == "delivery-status"
        fields, recipients = delivery_status(report)
        assert fields["Reporting-MTA"].replace(" ", "") == "dns;mx.petrel.test"
        assert len(recipients) == 1
        r = recipients[0]
        assert r["Action"] == "delayed"
        assert re.fullmatch(r"4\.\d{1,3}\.\d{1,3}", r["Status"]), r["Status"]
        assert r["Final-Recipient"].replace(" ", "") == "rfc822;bob@remote.test"
        assert "451" in r["Diagnostic-Code"]
        assert "127.0.0.1" in r["Remote-MTA"] and r["Last-Attempt-Date"]
        # Petrel keeps trying until arrival + expire (default 5 days).
        arrival = email.utils.parsedate_to_datetime(fields["Arrival-Date"])
        until = email.utils.parsedate_to_datetime(r["Will-Retry-Until"])
        assert until - arrival == timedelta(days=5), (fields["Arrival-Date"], r["Will-Retry-Until"])
        explanation = next(p for p in report.walk() if p.get_content_type() == "text/plain").get_content()
        assert "bob@remote.test" in explanation and r["Will-Retry-Until"] in " ".join(explanation.split())
        # Delay reports carry the original header section only.
        parts = [p.get_content_type() for p in report.walk()]
        assert "text/rfc822-headers" in parts and "message/rfc822" not in parts
        headers = original_headers(report)
        assert "Subject: slow" in headers and "Message-ID: <slow@example.test>" in headers
        assert "Body of slow" not in headers
        assert "report queued" in srv.log() and "kind=delay" in srv.log()
        # The message itself is still queued, and was never delivered.
        assert "bob@remote.test" in srv.cli("queue", "list").stdout
        assert handler.messages == []
    finally:
        srv.stop()
        srv.kill()


# MARK: - 3. bounce_copy_to

def test_bounce_copy_goes_to_the_admin_once(data_dir, peer, dns):  # noqa: F811
    handler, controller = peer
    handler.rules["nobody@remote.test"] = "550 5.1.1 <nobody@remote.test>: Recipient address rejected"
    extra = delivery_config(controller.port, dns.port, bounce_copy_to='"postmaster@example.test"')
    srv = start_server(data_dir, extra, mailboxes=(("alice@example.test", "alice-password"),
                                                   ("postmaster@example.test", "postmaster-password")))
    try:
        submit(srv, ["nobody@remote.test"], subject="copied")
        wait_for(lambda: pop3_reports(srv, "alice@example.test", "alice-password")
                 and pop3_reports(srv, "postmaster@example.test", "postmaster-password"),
                 timeout=40, what="the report and its copy")
        # Let the queue run a few more scans; nothing is doubled.
        wait_for(lambda: "queue is empty" in srv.cli("queue", "list").stdout, what="an empty queue")
        time.sleep(2.5)
        to_sender = pop3_messages(srv, "alice@example.test", "alice-password")
        to_admin = pop3_messages(srv, "postmaster@example.test", "postmaster-password")
        assert len(to_sender) == 1 and len(to_admin) == 1, ([m["Subject"] for m in to_sender],
                                                            [m["Subject"] for m in to_admin])
        for report in (to_sender[0], to_admin[0]):
            assert report.get_content_type() == "multipart/report"
            assert report["Subject"] == "Undelivered Mail Returned to Sender"
            assert report["To"].addresses[0].addr_spec == "alice@example.test", "the copy is the sender's report"
            _, recipients = delivery_status(report)
            assert len(recipients) == 1
            assert recipients[0]["Action"] == "failed" and recipients[0]["Status"] == "5.1.1"
            assert recipients[0]["Final-Recipient"].replace(" ", "") == "rfc822;nobody@remote.test"
            assert "Subject: copied" in original_headers(report)
        # One report message, stored once in each mailbox: the same Message-ID.
        assert to_sender[0]["Message-ID"] == to_admin[0]["Message-ID"]
        assert srv.log().count("kind=failure") == 1, "one failure report queued"
        # A delivered message produces no copy (only failure reports are copied).
        submit(srv, ["bob@remote.test"], subject="fine")
        wait_for(lambda: any("bob@remote.test" in m[1] for m in handler.messages), what="bob's delivery")
        wait_for(lambda: "queue is empty" in srv.cli("queue", "list").stdout, what="an empty queue")
        assert len(pop3_messages(srv, "postmaster@example.test", "postmaster-password")) == 1
        assert len(pop3_messages(srv, "alice@example.test", "alice-password")) == 1
    finally:
        srv.stop()
        srv.kill()
