"""The two IDN bugs of issue 13 (items 11 and 12), end to end through the real `petrel` binary:

- the owner of `a@bücher.example` submits as `a@bücher.example` after AUTH (smtplib, SMTPUTF8): accepted,
  whether the login used the A-label or the U-label spelling (it was `553` before);
- a non-delivery report to an SMTPUTF8 sender at a Unicode remote domain is queued under the A-label
  routing domain, and the MX question that goes to the test's loopback DNS server is for
  `xn--bcher-kva.example` (the U-label went into the queue before, and raw UTF-8 into DNS).
"""
import base64
import smtplib
import socket
import time

import pytest
from aiosmtpd.controller import Controller

from conftest import PetrelServer, mailbox_ids, raw_message, run_cli
from dns_server import LocalDNS
from test_delivery import PeerHandler

A_LABEL = "xn--bcher-kva.example"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_submission_as_unicode_domain_owner_after_auth(data_dir):
    run_cli(data_dir, "domain", "add", "bücher.example")
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "a@bücher.example", "--password-stdin", input_text="a-password\n")
    run_cli(data_dir, "mailbox", "add", "bob@example.test", "--password-stdin", input_text="bob-password\n")
    srv = PetrelServer(data_dir).start()
    try:
        msg = "From: a@bücher.example\r\nTo: bob@example.test\r\nSubject: idn sender\r\n\r\nHallo.\r\n".encode()
        # Login with the A-label spelling (smtplib sends ASCII credentials), sender with the U-label.
        with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=10) as s:
            s.ehlo("client.test")
            assert "smtputf8" in s.esmtp_features
            s.login(f"a@{A_LABEL}", "a-password")
            assert s.sendmail("a@bücher.example", ["bob@example.test"], msg, mail_options=["SMTPUTF8"]) == {}
            # Any case, and the A-label form, name the same mailbox; a look-alike does not.
            s.command_encoding = "utf-8"
            assert s.docmd("MAIL FROM:<A@BÜCHER.example> SMTPUTF8")[0] == 250
            assert s.docmd("RSET")[0] == 250
            assert s.docmd(f"MAIL FROM:<a@{A_LABEL}>")[0] == 250
            assert s.docmd("RSET")[0] == 250
            code, message = s.docmd("MAIL FROM:<a@bucher.example>")
            assert code == 553 and b"not owned by user" in message
        # Login with the U-label spelling (AUTH PLAIN carries UTF-8, RFC 4616).
        with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=10) as s:
            s.ehlo("client.test")
            s.command_encoding = "utf-8"
            token = base64.b64encode("\0a@bücher.example\0a-password".encode()).decode()
            assert s.docmd("AUTH", "PLAIN " + token)[0] == 235
            assert s.docmd("MAIL FROM:<a@bücher.example> SMTPUTF8")[0] == 250
            assert s.docmd("RCPT TO:<bob@example.test>")[0] == 250
            assert s.docmd("DATA")[0] == 354
            s.send(msg.replace(b"idn sender", b"idn sender 2") + b".\r\n")
            assert s.getreply()[0] == 250
        wait_for(lambda: len(mailbox_ids(srv, "bob@example.test")) == 2, what="both messages in bob's mailbox")
        stored = raw_message(srv, "bob@example.test", mailbox_ids(srv, "bob@example.test")[0])
        assert "Return-Path: <a@bücher.example>".encode() in stored
    finally:
        srv.stop()
        srv.kill()


@pytest.fixture
def utf8_peer():
    handler = PeerHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=True)
    controller.start()
    yield handler, controller
    controller.stop()


@pytest.fixture
def idn_dns():
    zone = LocalDNS([
        (A_LABEL, "MX", (10, f"mail.{A_LABEL}")),
        (f"mail.{A_LABEL}", "A", "127.0.0.1"),
    ]).start()
    yield zone
    zone.stop()


def test_report_to_a_unicode_sender_domain_is_routed_by_its_a_label(data_dir, utf8_peer, idn_dns):
    handler, controller = utf8_peer
    # The original is refused for good by the next hop; the report to its sender is deferred once
    # (so the queue entry can be looked at), then accepted.
    handler.rules["y@fail.test"] = "550 5.1.1 <y@fail.test>: no such user"
    handler.rules["x@bücher.example"] = "451 4.3.0 try again later"
    run_cli(data_dir, "domain", "add", "example.test")
    extra = "\n".join([
        "",
        "[relay]",
        'allow_networks = ["127.0.0.1"]',
        "[dns]",
        f'nameserver = "127.0.0.1:{idn_dns.port}"',
        "timeout = 2",
        "[delivery]",
        'retry_intervals = ["1s"]',
        'poll_interval = "1s"',
        'tls = "none"',
        f"remote_port = {controller.port}",
        f'routes = {{ "fail.test" = "127.0.0.1:{controller.port}" }}',
        'connect_timeout = "2s"',
        'command_timeout = "10s"',
        'data_timeout = "10s"',
    ]) + "\n"
    srv = PetrelServer(data_dir, extra_config=extra).start()
    try:
        msg = "From: x@bücher.example\r\nTo: y@fail.test\r\nSubject: will bounce\r\n\r\nHallo.\r\n".encode()
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as s:
            assert s.sendmail("x@bücher.example", ["y@fail.test"], msg, mail_options=["SMTPUTF8"]) == {}

        # The report is queued under the A-label routing domain, the address kept as written.
        wait_for(lambda: "x@bücher.example" in handler.rcpt_attempts, what="the report's first attempt (via MX)")
        listing = srv.cli("queue", "list").stdout
        line = next(l for l in listing.splitlines() if "<> -> <x@bücher.example>" in l)
        details = srv.cli("queue", "show", line.split()[0]).stdout
        assert f"routing domain      {A_LABEL}" in details or any(
            l.startswith("routing domain") and l.split()[-1] == A_LABEL for l in details.splitlines()), details
        assert "sender              <>" in details or "<>" in details

        # The MX question went to the loopback DNS server for the A-label; nothing raw was ever asked.
        assert (A_LABEL, "MX") in idn_dns.queries
        assert all(q.isascii() and "\\" not in q for q, _ in idn_dns.queries), idn_dns.queries

        # Then the report is delivered there, from <>, over SMTPUTF8.
        del handler.rules["x@bücher.example"]
        wait_for(lambda: any(rcpts == ["x@bücher.example"] for _, rcpts, _ in handler.messages), what="the report")
        mail_from, _, content = next(m for m in handler.messages if m[1] == ["x@bücher.example"])
        assert mail_from in ("", "<>")
        assert b"multipart/report" in content and "x@bücher.example".encode() in content
        wait_for(lambda: "queue is empty" in srv.cli("queue", "list").stdout, what="an empty queue")
    finally:
        srv.stop()
        srv.kill()
