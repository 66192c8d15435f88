"""Outbound delivery end to end: Petrel's queue and SMTP client against a real SMTP peer (aiosmtpd) on
loopback, reached through a per-domain route and through MX records served by a DNS server the test
starts on loopback. Non-delivery reports are parsed with Python's `email` package.
"""
import asyncio
import email
import email.policy
import smtplib
import socket
import sqlite3
import time

import pytest
from aiosmtpd.controller import Controller

from conftest import PetrelServer, mailbox_ids, raw_message, run_cli
from dns_server import LocalDNS
from test_ops import get, metric


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PeerHandler:
    """Accepts everything except the addresses in `rules` (address -> reply). `default_reply` (e.g. a 451)
    applies to every RCPT when set."""

    def __init__(self):
        self.messages = []
        self.rules = {}
        self.default_reply = None
        self.rcpt_attempts = []
        self.stall = 0  # seconds to wait before answering RCPT (a transfer in flight)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt_attempts.append(address)
        if self.stall:
            await asyncio.sleep(self.stall)
        reply = self.rules.get(address.lower()) or self.default_reply
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Ok: queued as PEER%d" % len(self.messages)


@pytest.fixture
def peer():
    handler = PeerHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller
    controller.stop()


@pytest.fixture
def dns(peer):
    zone = LocalDNS([
        ("mx.test", "MX", (10, "mail.mx.test")),
        ("mail.mx.test", "A", "127.0.0.1"),
        ("nullmx.test", "MX", (0, ".")),
    ]).start()
    yield zone
    zone.stop()


def delivery_config(peer_port, dns_port, **extra):
    lines = [
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
        f'routes = {{ "remote.test" = "127.0.0.1:{peer_port}" }}',
        'connect_timeout = "2s"',
        'command_timeout = "10s"',
        'data_timeout = "10s"',
    ]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def relay_server(data_dir, peer, dns):
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    srv = PetrelServer(data_dir, extra_config=delivery_config(peer[1].port, dns.port)).start()
    yield srv
    srv.stop()
    srv.kill()


def submit(srv, to, subject="hello", body="Hello there.\r\n.dot line\r\n", extra_headers="", sender="alice@example.test"):
    msg = (f"From: {sender}\r\nTo: {', '.join(to)}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.test>\r\n"
           f"{extra_headers}\r\n{body}")
    with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=10) as s:
        s.login("alice@example.test", "alice-password")
        s.sendmail(sender, to, msg.encode())


def wait_for(predicate, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def reports(srv, address="alice@example.test"):
    out = []
    for delivery_id in mailbox_ids(srv, address):
        msg = email.message_from_bytes(raw_message(srv, address, delivery_id), policy=email.policy.default)
        if msg.get_content_type() == "multipart/report":
            out.append(msg)
    return out


def delivery_status(report):
    """(per-message fields, [per-recipient fields]) of the message/delivery-status part."""
    for part in report.walk():
        if part.get_content_type() == "message/delivery-status":
            blocks = part.get_payload()
            return blocks[0], blocks[1:]
    raise AssertionError("no message/delivery-status part")


def test_route_delivery_reaches_the_peer_once(relay_server, peer):
    handler, _ = peer
    submit(relay_server, ["bob@remote.test", "carol@remote.test"], subject="routed")
    wait_for(lambda: handler.messages, what="delivery to the peer")
    time.sleep(1.5)
    assert len(handler.messages) == 1, "both recipients go in one transaction, once"
    mail_from, rcpts, content = handler.messages[0]
    assert mail_from == "alice@example.test"
    assert sorted(rcpts) == ["bob@remote.test", "carol@remote.test"]
    text = content.decode()
    assert "Received: from " in text and "Subject: routed" in text
    assert not text.startswith("Return-Path:"), "Return-Path is added by the final delivery only"
    assert "\r\n.dot line\r\n" in text, "dot-stuffing undone by the peer: the line arrives intact"
    wait_for(lambda: "petrel.delivery: delivered" in relay_server.log() and "relay=127.0.0.1" in relay_server.log(),
             what="the delivered log lines")
    wait_for(lambda: "queue is empty" in relay_server.cli("queue", "list").stdout, what="an empty queue")
    # The metrics moved: two recipients delivered, nothing left in the queue.
    wait_for(lambda: metric(get(relay_server.admin_port, "/metrics")[2],
                            'petrel_delivery_attempts_total{result="delivered"}') == 2, what="the delivered counter")
    wait_for(lambda: metric(get(relay_server.admin_port, "/metrics")[2], 'petrel_queue_entries{state="new"}') == 0,
             what="the queue gauge")


def test_temporary_failure_is_retried_then_delivered(relay_server, peer):
    handler, _ = peer
    handler.default_reply = "451 4.3.0 try again later"
    submit(relay_server, ["bob@remote.test"], subject="retry")
    wait_for(lambda: "delivery deferred" in relay_server.log(), what="a deferral")
    listing = relay_server.cli("queue", "list").stdout
    assert "bob@remote.test" in listing and "451" in listing
    _, _, text = get(relay_server.admin_port, "/metrics")
    assert metric(text, 'petrel_delivery_attempts_total{result="deferred"}') >= 1
    handler.default_reply = None
    wait_for(lambda: handler.messages, what="delivery after the retry")
    time.sleep(1.5)
    assert len(handler.messages) == 1
    assert reports(relay_server) == [], "no report for a message that was delivered"


def test_permanent_failure_returns_a_report(relay_server, peer):
    handler, _ = peer
    handler.rules["nobody@remote.test"] = "550 5.1.1 <nobody@remote.test>: Recipient address rejected"
    handler.rules["gone@remote.test"] = "550 5.1.1 <gone@remote.test>: mailbox gone"
    submit(relay_server, ["nobody@remote.test", "gone@remote.test", "bob@remote.test"], subject="bounce")
    wait_for(lambda: reports(relay_server), what="the non-delivery report")
    found = reports(relay_server)
    assert len(found) == 1, "two failed recipients of one message share one report"
    report = found[0]
    assert report["From"].addresses[0].username.upper() == "MAILER-DAEMON"
    assert report.get_param("report-type") == "delivery-status"
    assert report["Auto-Submitted"] == "auto-replied"
    fields, recipients = delivery_status(report)
    assert fields["Reporting-MTA"] == "dns; mx.petrel.test"
    assert fields["Arrival-Date"]
    finals = sorted(r["Final-Recipient"] for r in recipients)
    assert finals == ["rfc822; gone@remote.test", "rfc822; nobody@remote.test"] or \
        finals == ["rfc822;gone@remote.test", "rfc822;nobody@remote.test"]
    for r in recipients:
        assert r["Action"] == "failed" and r["Status"] == "5.1.1"
        assert "550" in r["Diagnostic-Code"] and r["Diagnostic-Code"].startswith("smtp;")
        assert "127.0.0.1" in r["Remote-MTA"]
    original = [p for p in report.walk() if p.get_content_type() in ("message/rfc822", "text/rfc822-headers")]
    assert original and "Subject: bounce" in original[0].as_string()
    # The report's envelope sender is <> (the stored Return-Path).
    raw = raw_message(relay_server, "alice@example.test", mailbox_ids(relay_server, "alice@example.test")[-1])
    assert raw.startswith(b"Return-Path: <>\r\n")
    # bob was delivered.
    assert [m[1] for m in handler.messages] == [["bob@remote.test"]]


def test_null_mx_and_mx_routing(relay_server, peer):
    handler, _ = peer
    submit(relay_server, ["dave@mx.test"], subject="via-mx")
    wait_for(lambda: handler.messages, what="delivery through the MX record")
    assert handler.messages[0][1] == ["dave@mx.test"]
    submit(relay_server, ["erin@nullmx.test"], subject="nullmx")
    wait_for(lambda: reports(relay_server), what="the null MX report")
    _, recipients = delivery_status(reports(relay_server)[0])
    assert recipients[0]["Status"] == "5.1.10"


def test_hop_limit_refuses_a_loop_at_submission(relay_server, peer):
    """A looping message is refused at the end of DATA (554 5.4.6): nothing queued, nothing bounced."""
    handler, _ = peer
    loop = "".join(f"Received: from hop{i}.test by hop{i + 1}.test; Sun, 29 Nov 2026 08:00:00 +0000\r\n" for i in range(31))
    with pytest.raises(smtplib.SMTPDataError) as refused:
        submit(relay_server, ["bob@remote.test"], subject="looping", extra_headers=loop)
    assert refused.value.smtp_code == 554 and refused.value.smtp_error.startswith(b"5.4.6")
    submit(relay_server, ["bob@remote.test"], subject="after-the-loop")
    wait_for(lambda: handler.messages, what="the next message")
    assert [m[2].split(b"Subject: ")[1].split(b"\r\n")[0] for m in handler.messages] == [b"after-the-loop"]
    assert reports(relay_server) == []
    assert "queue is empty" in relay_server.cli("queue", "list").stdout


def test_hop_limit_returns_5_4_6_from_the_queue(data_dir, peer, dns, tmp_path):
    """A message that enters without SMTP (the pickup directory) meets the same rule in the queue."""
    handler, controller = peer
    pickup = tmp_path / "pickup"
    pickup.mkdir()
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    srv = PetrelServer(data_dir, extra_config=delivery_config(controller.port, dns.port, pickup_dir=f'"{pickup}"')).start()
    try:
        loop = "".join(f"Received: from hop{i}.test by hop{i + 1}.test; Sun, 29 Nov 2026 08:00:00 +0000\n" for i in range(31))
        temp = pickup / ".incoming"
        temp.write_bytes((f"From: alice@example.test\nTo: bob@remote.test\n{loop}Subject: looping\n\nbody\n").encode())
        temp.rename(pickup / "loop.eml")
        wait_for(lambda: reports(srv), what="the hop-limit report")
        _, recipients = delivery_status(reports(srv)[0])
        assert recipients[0]["Status"] == "5.4.6"
        assert handler.messages == []
    finally:
        srv.stop()
        srv.kill()


def test_undeliverable_report_goes_to_badmail(relay_server, peer):
    handler, _ = peer
    handler.default_reply = "451 4.3.0 later"
    submit(relay_server, ["bob@remote.test"], subject="orphan")
    wait_for(lambda: "delivery deferred" in relay_server.log(), what="a deferral")
    # The sender's mailbox disappears while the message waits; then the peer refuses it for good.
    relay_server.cli("mailbox", "remove", "alice@example.test", "--force", check=False)
    if "alice@example.test" in relay_server.cli("mailbox", "list").stdout:
        relay_server.cli("mailbox", "remove", "alice@example.test")
    handler.default_reply = "550 5.7.1 rejected"
    wait_for(lambda: "stored in badmail" in relay_server.log(), what="the badmail entry")
    listing = relay_server.cli("badmail", "list").stdout
    assert "could not be addressed" in listing or "no such mailbox" in listing or len(listing.splitlines()) >= 2
    assert handler.messages == [], "nothing was delivered and no report went out"


def test_restart_in_the_middle_of_the_queue_loses_and_doubles_nothing(relay_server, peer):
    handler, _ = peer
    handler.default_reply = "451 4.3.0 later"
    for i in range(3):
        submit(relay_server, ["bob@remote.test"], subject=f"restart{i}")
    wait_for(lambda: relay_server.log().count("delivery deferred") >= 3, what="three deferrals")
    relay_server.kill()  # kill -9
    handler.default_reply = None
    relay_server.start()
    wait_for(lambda: len(handler.messages) >= 3, what="the three messages after the restart")
    time.sleep(2)
    subjects = sorted(m[2].decode().split("Subject: ")[1].split("\r\n")[0] for m in handler.messages)
    assert subjects == ["restart0", "restart1", "restart2"]
    wait_for(lambda: "queue is empty" in relay_server.cli("queue", "list").stdout, what="an empty queue")


def test_kill_9_in_the_middle_of_a_transfer_restarts_it_at_once(relay_server, peer):
    """kill -9 while a transfer runs leaves its entry leased by this node. The node id is kept in
    data_dir/node-id, so the restarted server is the same owner and hands that lease back at start: the
    message goes out within seconds, not when the 300 s lease runs out."""
    handler, _ = peer
    handler.stall = 60
    submit(relay_server, ["bob@remote.test"], subject="inflight")
    wait_for(lambda: handler.rcpt_attempts, what="the transfer to start")
    node_id = (relay_server.data_dir / "node-id").read_text().strip()
    assert f"node={node_id}" in relay_server.log()
    relay_server.kill()  # kill -9
    handler.stall = 0
    relay_server.start()
    wait_for(lambda: len(handler.messages) >= 1, what="the message after the restart")
    assert "queue leases of an earlier run of this node released" in relay_server.log()
    assert (relay_server.data_dir / "node-id").read_text().strip() == node_id
    wait_for(lambda: "queue is empty" in relay_server.cli("queue", "list").stdout, what="an empty queue")


def test_a_second_serve_on_the_same_data_dir_is_refused(relay_server):
    second = PetrelServer(relay_server.data_dir)
    second.config_path = relay_server.data_dir.parent / "second.toml"
    with pytest.raises(AssertionError) as refused:
        second.start(timeout=15)
    assert "another petrel serve (pid %d) is running on the data directory" % relay_server.proc.pid in str(refused.value)
    # The first one is unharmed.
    submit(relay_server, ["alice@example.test"], subject="still here")


def queue_entry_ids(srv):
    ids = []
    for line in srv.cli("queue", "list").stdout.splitlines()[1:]:
        first = line.split()[0] if line.split() else ""
        if first.isdigit():
            ids.append(first)
    return ids


def test_queue_list_shows_a_damaged_row_and_the_rest(relay_server, peer):
    """One queue row the store cannot read (here: an unknown state) does not fail `petrel queue list`:
    the other rows are listed and the damaged one shows its id and "damaged"."""
    handler, _ = peer
    handler.default_reply = "451 4.3.0 later"
    submit(relay_server, ["bob@remote.test", "carol@remote.test"], subject="damaged")
    wait_for(lambda: relay_server.log().count("delivery deferred") >= 2, what="two deferrals")
    bob, carol = queue_entry_ids(relay_server)
    assert relay_server.stop() == 0
    with sqlite3.connect(relay_server.data_dir / "petrel.sqlite") as db:
        db.execute("UPDATE queue SET state = 'bogus' WHERE id = ?", (int(bob),))
    listing = relay_server.cli("queue", "list")
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[0]: line for line in listing.stdout.splitlines()[1:] if line.split()}
    assert set(rows) == {bob, carol}, listing.stdout
    assert "damaged" in rows[bob] and "unknown state" in rows[bob], rows[bob]
    assert "carol@remote.test" in rows[carol] and "deferred" in rows[carol], rows[carol]
    assert "could not be read" in listing.stderr


def test_queue_commands_hold_release_retry_delete(relay_server, peer):
    handler, _ = peer
    handler.default_reply = "451 4.3.0 later"
    submit(relay_server, ["bob@remote.test", "carol@remote.test"], subject="managed")
    wait_for(lambda: relay_server.log().count("delivery deferred") >= 2, what="two deferrals")
    bob, carol = queue_entry_ids(relay_server)
    shown = relay_server.cli("queue", "show", bob).stdout
    assert "bob@remote.test" in shown and "451 4.3.0" in shown and "deferred" in shown
    # Hold bob: it is never tried while held, even when the peer accepts again.
    relay_server.cli("queue", "hold", bob)
    assert "held" in relay_server.cli("queue", "list", "--held").stdout
    handler.default_reply = None
    relay_server.cli("queue", "retry", "--all")
    wait_for(lambda: any("carol@remote.test" in m[1] for m in handler.messages), what="carol's delivery")
    time.sleep(2.5)
    assert all("bob@remote.test" not in m[1] for m in handler.messages), "a held entry was delivered"
    # Release: delivered at the next scan.
    relay_server.cli("queue", "release", bob)
    wait_for(lambda: any("bob@remote.test" in m[1] for m in handler.messages), what="bob's delivery after release")
    # Delete: an entry that is deleted is never sent and produces no report.
    handler.default_reply = "451 4.3.0 later"
    submit(relay_server, ["dave@remote.test"], subject="dropped")
    wait_for(lambda: len(queue_entry_ids(relay_server)) == 1 and
             "dave@remote.test" in relay_server.cli("queue", "list").stdout, what="dave queued")
    (dave,) = queue_entry_ids(relay_server)
    relay_server.cli("queue", "delete", dave)
    assert "queue is empty" in relay_server.cli("queue", "list").stdout
    bad = relay_server.cli("queue", "show", "999999", check=False)
    assert bad.returncode != 0 and "999999" in (bad.stderr + bad.stdout)


@pytest.fixture
def tls_files(tmp_path):
    key, cert = tmp_path / "peer.key", tmp_path / "peer.pem"
    import subprocess
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    return cert, key


@pytest.mark.peer("openssl")             # tls_files makes the peer's certificate with openssl req
def test_smarthost_with_starttls_and_auth(data_dir, dns, tls_files):
    import ssl
    from aiosmtpd.smtp import AuthResult
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((mechanism, auth_data.login, auth_data.password, session.ssl is not None))
        ok = auth_data.login == b"relay-user" and auth_data.password == b"relay-secret"
        return AuthResult(success=ok)

    handler = PeerHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True,
                            authenticator=authenticator, auth_required=True, auth_require_tls=True)
    controller.start()
    try:
        run_cli(data_dir, "domain", "add", "example.test")
        run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
        extra = delivery_config(1, dns.port, smarthost=f'"127.0.0.1:{controller.port}"',
                                smarthost_username='"relay-user"', smarthost_password='"relay-secret"',
                                smarthost_tls='"required"', smarthost_tls_verify="false")
        srv = PetrelServer(data_dir, extra_config=extra).start()
        try:
            submit(srv, ["zoe@anywhere.test"], subject="via-smarthost")
            wait_for(lambda: handler.messages, what="delivery through the smarthost")
            assert handler.messages[0][1] == ["zoe@anywhere.test"]
            assert logins and logins[0][1] == b"relay-user" and logins[0][3], "AUTH happened, over TLS"
            assert "relay-secret" not in srv.log()
        finally:
            srv.stop()
            srv.kill()
    finally:
        controller.stop()


def test_pickup_directory_queues_dropped_files(data_dir, peer, dns, tmp_path):
    handler, controller = peer
    pickup = tmp_path / "pickup"
    pickup.mkdir()
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    srv = PetrelServer(data_dir, extra_config=delivery_config(controller.port, dns.port, pickup_dir=f'"{pickup}"')).start()
    try:
        # Written under a dot-name, then renamed into place: the documented safe way.
        temp = pickup / ".incoming"
        temp.write_bytes(b"From: alice@example.test\nTo: alice@example.test, bob@remote.test\nBcc: carol@remote.test\n"
                         b"Subject: dropped\n\nfrom the pickup directory\n")
        temp.rename(pickup / "one.eml")
        wait_for(lambda: len(handler.messages) == 1 and mailbox_ids(srv, "alice@example.test"), what="pickup delivery")
        assert sorted(handler.messages[0][1]) == ["bob@remote.test", "carol@remote.test"]
        assert b"Bcc:" not in handler.messages[0][2] and b"Subject: dropped" in handler.messages[0][2]
        local = raw_message(srv, "alice@example.test", mailbox_ids(srv, "alice@example.test")[0])
        assert local.startswith(b"Return-Path: <alice@example.test>\r\nReceived: from pickup directory")
        assert not (pickup / "one.eml").exists()
        # A file that is not a message is set aside with the reason.
        (pickup / "junk.txt").write_bytes(b"not a message\n")
        wait_for(lambda: (pickup / "rejected" / "junk.txt.reason").exists(), what="the rejected file")
        # The log line follows the file moves; the log is read from the server's stderr asynchronously.
        wait_for(lambda: "pickup message queued" in srv.log() and "pickup file rejected" in srv.log(),
                 what="the pickup log lines")
    finally:
        srv.stop()
        srv.kill()
