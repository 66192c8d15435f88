"""Relay (recipient) domains — Petrel as a backup MX (issue 13 item 10) — over real sockets with smtplib:
mail for a relay domain is accepted from an unauthenticated client, queued and forwarded to an aiosmtpd
sink by a route and by MX (the test's loopback DNS server, with Petrel itself listed as the lower
preference MX); mail for any other foreign domain is still refused 550 5.7.1; a sub-domain of a relay
domain is refused unless a ".domain" entry covers it; valid-recipient lists refuse others with 550 5.1.1;
CLI changes apply to a running server within seconds.
"""
import smtplib
import subprocess
import time

import pytest

from conftest import PETREL, PetrelServer, run_cli
from test_delivery import peer  # noqa: F401  (the aiosmtpd sink fixture, reused by name)
from dns_server import LocalDNS


def relay_domain_config(peer_port, dns_port, recipient_domains='["backup.test"]', recipients="[]"):
    return "\n".join([
        "",
        "[relay]",
        f"allow_recipient_domains = {recipient_domains}",
        f"allow_recipients = {recipients}",
        "",
        "[dns]",
        f'nameserver = "127.0.0.1:{dns_port}"',
        "timeout = 2",
        "",
        "[delivery]",
        'retry_intervals = ["1s"]',
        'poll_interval = "1s"',
        'tls = "none"',
        f"remote_port = {peer_port}",
        f'routes = {{ "backup.test" = "127.0.0.1:{peer_port}", "sub.backup.test" = "127.0.0.1:{peer_port}" }}',
        'connect_timeout = "2s"',
        'command_timeout = "10s"',
        'data_timeout = "10s"',
    ]) + "\n"


@pytest.fixture
def zone():
    # mx.petrel.test is the server's own hostname (conftest): a backup MX at preference 20, the primary
    # (the aiosmtpd sink on 127.0.0.1) at 10.
    dns = LocalDNS([
        ("mxbackup.test", "MX", (10, "primary.mxbackup.test")),
        ("mxbackup.test", "MX", (20, "mx.petrel.test")),
        ("primary.mxbackup.test", "A", "127.0.0.1"),
    ]).start()
    yield dns
    dns.stop()


def start(data_dir, peer_port, dns_port, **kwargs):
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    # allow_plaintext = false: nobody here can even try AUTH on port 25 without TLS; the client is a stranger.
    return PetrelServer(data_dir, allow_plaintext="false",
                        extra_config=relay_domain_config(peer_port, dns_port, **kwargs)).start()


def rcpt(srv, recipient, sender="someone@sender.test"):
    """(code, message) of RCPT TO:<recipient> from an unauthenticated client on the port-25 listener."""
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as s:
        s.ehlo("client.test")
        assert "auth" not in s.esmtp_features
        code, _ = s.mail(sender)
        assert code == 250
        return s.rcpt(recipient)


def rcpt_raw(srv, argument, sender="someone@sender.test"):
    """(code, message) of `RCPT TO:<argument>` sent as written (smtplib would re-quote the address)."""
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as s:
        s.ehlo("client.test")
        assert s.mail(sender)[0] == 250
        return s.docmd("RCPT TO:" + argument)


def send(srv, recipients, subject, sender="someone@sender.test"):
    """Sends from an unauthenticated client; returns smtplib's refused-recipients dict."""
    msg = f"From: {sender}\r\nTo: {', '.join(recipients)}\r\nSubject: {subject}\r\n\r\nbackup MX test\r\n"
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as s:
        return s.sendmail(sender, recipients, msg.encode())


def wait_for(predicate, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_relay_domain_accepts_from_anyone_and_forwards_by_route(data_dir, peer, zone):  # noqa: F811
    handler, controller = peer
    srv = start(data_dir, controller.port, zone.port)
    try:
        assert send(srv, ["Anyone@Backup.Test"], "via route") == {}
        wait_for(lambda: handler.messages, what="forwarding to the sink")
        mail_from, rcpts, content = handler.messages[0]
        assert mail_from == "someone@sender.test"
        assert rcpts == ["Anyone@backup.test"]
        assert b"Subject: via route" in content
        wait_for(lambda: "queue is empty" in srv.cli("queue", "list").stdout, what="an empty queue")
        assert "relay permitted" in srv.log() and 'because="relay domain backup.test"' in srv.log()

        # Any other foreign domain is still refused, and nothing is queued.
        for other in ["victim@elsewhere.test", "victim@xbackup.test", "victim@backup.test.elsewhere.test"]:
            code, message = rcpt(srv, other)
            assert code == 550 and b"5.7.1" in message and b"Relay access denied" in message, (other, message)
        # A source route or a quoted local part does not turn the relay domain into a door to elsewhere.
        code, message = rcpt_raw(srv, "<@backup.test:victim@elsewhere.test>")
        assert code == 550, message
        code, message = rcpt_raw(srv, "<victim@elsewhere.test>")
        assert code == 550, message
        code, message = rcpt_raw(srv, '<"victim@elsewhere.test"@backup.test>')
        assert code == 250, message   # a local part of backup.test, for backup.test's primary to judge
        code, message = rcpt_raw(srv, "<victim%elsewhere.test@backup.test>")
        assert code == 250, message
        # As documented: "backup.test" is that domain only, not its sub-domains.
        code, message = rcpt(srv, "anyone@sub.backup.test")
        assert code == 550 and b"Relay access denied" in message
        assert "elsewhere.test" not in srv.cli("queue", "list").stdout
    finally:
        srv.stop()
        srv.kill()


def test_relay_domain_forwards_by_mx_skipping_itself(data_dir, peer, zone):  # noqa: F811
    handler, controller = peer
    srv = start(data_dir, controller.port, zone.port, recipient_domains='["mxbackup.test"]')
    try:
        assert send(srv, ["user@mxbackup.test"], "via mx") == {}
        wait_for(lambda: handler.messages, what="delivery to the primary MX")
        assert handler.messages[0][1] == ["user@mxbackup.test"]
        assert ("mxbackup.test", "MX") in zone.queries
        # Petrel is the preference-20 MX itself: it never looked its own name up to connect to it.
        assert ("mx.petrel.test", "A") not in zone.queries
    finally:
        srv.stop()
        srv.kill()


def test_relay_domains_and_recipients_from_the_cli_apply_live(data_dir, peer, zone):  # noqa: F811
    handler, controller = peer
    srv = start(data_dir, controller.port, zone.port, recipient_domains="[]")
    try:
        code, _ = rcpt(srv, "anyone@sub.backup.test")
        assert code == 550
        out = srv.cli("relay", "allow-recipient-domain", ".backup.test").stdout
        assert "relay domain .backup.test added" in out
        # The running server picks the change up within seconds (AccessControl refreshes every 2 s).
        wait_for(lambda: rcpt(srv, "anyone@sub.backup.test")[0] == 250, timeout=15, what="the new relay domain")
        # ".backup.test" covers sub-domains only, not backup.test itself.
        assert rcpt(srv, "anyone@backup.test")[0] == 550
        assert send(srv, ["anyone@sub.backup.test"], "sub via route") == {}
        wait_for(lambda: handler.messages, what="forwarding to the sink")
        assert handler.messages[0][1] == ["anyone@sub.backup.test"]

        # A valid-recipient list: only listed addresses of that domain, from every client.
        srv.cli("relay", "allow-recipient", "Alice@Sub.Backup.Test")
        wait_for(lambda: rcpt(srv, "bob@sub.backup.test")[0] == 550, timeout=15, what="the valid-recipient list")
        code, message = rcpt(srv, "bob@sub.backup.test")
        assert b"5.1.1" in message and b"relay recipient table" in message
        assert rcpt(srv, "alice@sub.backup.test")[0] == 250
        # Other sub-domains have no list: any local part.
        assert rcpt(srv, "bob@other.backup.test")[0] == 250

        listing = srv.cli("relay", "list").stdout
        assert "relay-domain\t.backup.test\t(added" in listing
        assert "recipient\talice@sub.backup.test\t(added" in listing

        srv.cli("relay", "remove", "alice@sub.backup.test")
        srv.cli("relay", "remove", ".backup.test")
        wait_for(lambda: rcpt(srv, "alice@sub.backup.test")[0] == 550, timeout=15, what="the removal")
        proc = srv.cli("relay", "remove", ".backup.test", check=False)
        assert proc.returncode != 0 and "not in the relay lists" in proc.stderr
    finally:
        srv.stop()
        srv.kill()


def test_relay_domain_syntax_errors(data_dir):
    run_cli(data_dir, "domain", "add", "example.test")
    for bad in ["bad..example", "[192.0.2.1]", "xn--zz.example", "-x.example"]:
        proc = run_cli(data_dir, "relay", "allow-recipient-domain", bad, check=False)
        assert proc.returncode != 0 and "Error" in proc.stderr, (bad, proc.stderr)
    for bad in ["not-an-address", "a@[192.0.2.1]", "a@xn--zz.example"]:
        proc = run_cli(data_dir, "relay", "allow-recipient", bad, check=False)
        assert proc.returncode != 0 and "Error" in proc.stderr, (bad, proc.stderr)
    # The configuration file is checked too, with the key named.
    config = data_dir.parent / "bad.toml"
    config.write_text(f'[server]\ndata_dir = "{data_dir}"\n[relay]\nallow_recipient_domains = ["bad..example"]\n'
                      'allow_recipients = ["nobody"]\n')
    proc = subprocess.run([str(PETREL), "config", "check", "--config", str(config)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert "relay.allow_recipient_domains" in proc.stdout + proc.stderr
    assert "relay.allow_recipients" in proc.stdout + proc.stderr
