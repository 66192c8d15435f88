"""Relay control and abuse resistance (issue 5) over real sockets: who may relay (AUTH, allowed network,
forward-confirmed client domain via a DNS server on loopback), connection allow/deny (config and the
`petrel access` CLI, picked up live), per-minute connection rate, invalid-recipient disconnect, a client
that talks before the greeting, anti-spoofing, and swaks runs of the relay cases.

Every server here asks a DNS server on 127.0.0.1 only (a dnslib server started by the test, or a dead
port): nothing leaves this machine.
"""
import base64
import subprocess
import time

import pytest
from dnslib import A, PTR, QTYPE, RR
from dnslib.server import BaseResolver, DNSServer

from conftest import PetrelServer, mailbox_ids, raw_message, run_cli
from smtp_client import RawClient

# A loopback port where nothing answers DNS: for servers that must not verify anybody.
DEAD_DNS = '[dns]\nnameserver = "127.0.0.1:9"\ntimeout = 1\n'


class LoopbackZone(BaseResolver):
    """PTR 1.0.0.127.in-addr.arpa -> ptr_name; A ptr_name -> a_address; everything else: empty answer."""

    def __init__(self, ptr_name, a_address):
        self.ptr_name = ptr_name
        self.a_address = a_address
        self.queries = []

    def resolve(self, request, handler):
        reply = request.reply()
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        self.queries.append((qname, qtype))
        if qtype == "PTR" and qname == "1.0.0.127.in-addr.arpa":
            reply.add_answer(RR(request.q.qname, QTYPE.PTR, rdata=PTR(self.ptr_name + "."), ttl=60))
        elif qtype == "A" and qname == self.ptr_name:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(self.a_address), ttl=60))
        return reply


@pytest.fixture
def dns_server():
    servers = []

    def start(ptr_name, a_address):
        zone = LoopbackZone(ptr_name, a_address)
        server = DNSServer(zone, port=0, address="127.0.0.1")
        server.start_thread()
        servers.append(server)
        port = server.server.server_address[1]
        return zone, port

    yield start
    for s in servers:
        s.stop()


def setup_domain(data_dir):
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")


def start(data_dir, smtp_extra="", extra_config=DEAD_DNS, **settings):
    setup_domain(data_dir)
    return PetrelServer(data_dir, smtp_extra=smtp_extra, extra_config="\n" + extra_config, **settings).start()


def greet(srv, port=None):
    c = RawClient(port or srv.smtp_port)
    code, lines = c.reply()
    assert code == 220, lines
    assert c.cmd("EHLO client.test")[0] == 250
    return c


def auth_plain(c, user, password):
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    return c.cmd(f"AUTH PLAIN {token}")


def send_relay(c, sender="someone@sender.test", rcpt="victim@elsewhere.test"):
    code, _ = c.cmd(f"MAIL FROM:<{sender}>")
    assert code == 250
    return c.cmd(f"RCPT TO:<{rcpt}>")


def queue_listing(srv):
    proc = run_cli(srv.data_dir, "queue", "list", check=False)
    return proc.stdout if proc.returncode == 0 else None


def wait_for(predicate, timeout=8.0):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


# --- who may relay -----------------------------------------------------------------------------------

def test_unauthenticated_relay_denied_and_nothing_queued(data_dir):
    srv = start(data_dir)
    try:
        c = greet(srv)
        code, lines = send_relay(c)
        assert code == 550 and "5.7.1" in lines[0] and "Relay access denied" in lines[0]
        code, _ = c.cmd("DATA")
        assert code in (503, 554)
        c.cmd("QUIT")
        listing = queue_listing(srv)
        if listing is not None:
            assert "elsewhere.test" not in listing
        assert wait_for(lambda: "smtp recipient refused" in srv.log() and "relay access denied" in srv.log())
    finally:
        srv.stop()


def test_authenticated_relay_accepted_and_queued(data_dir):
    srv = start(data_dir)
    try:
        c = greet(srv)
        assert auth_plain(c, "alice@example.test", "alice-password")[0] == 235
        code, lines = send_relay(c, sender="alice@example.test", rcpt="bob@elsewhere.test")
        assert code == 250, lines
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: relay\r\n\r\nhello\r\n.\r\n")
        code, lines = c.reply()
        assert code == 250, lines
        c.cmd("QUIT")
        listing = queue_listing(srv)
        if listing is not None:   # the queue CLI exists: the message waits for outbound delivery
            assert "bob@elsewhere.test" in listing
    finally:
        srv.stop()


def test_relay_by_configured_network(data_dir):
    srv = start(data_dir, extra_config=DEAD_DNS + '[relay]\nallow_networks = ["127.0.0.1/32"]\n')
    try:
        c = greet(srv)
        code, lines = send_relay(c)
        assert code == 250, lines
    finally:
        srv.stop()


def test_relay_authenticated_can_be_turned_off(data_dir):
    srv = start(data_dir, extra_config=DEAD_DNS + "[relay]\nallow_authenticated = false\n")
    try:
        c = greet(srv)
        assert auth_plain(c, "alice@example.test", "alice-password")[0] == 235
        code, lines = send_relay(c, sender="alice@example.test")
        assert code == 550 and "5.7.1" in lines[0]
    finally:
        srv.stop()


def test_relay_cli_changes_apply_without_restart(data_dir):
    srv = start(data_dir)
    try:
        c = greet(srv)
        assert send_relay(c)[0] == 550
        c.close()
        out = srv.cli("relay", "allow-ip", "127.0.0.0/8").stdout
        assert "127.0.0.0/8" in out
        assert "127.0.0.0/8" in srv.cli("relay", "list").stdout

        def relays():
            cl = greet(srv)
            ok = send_relay(cl)[0] == 250
            cl.close()
            return ok
        assert wait_for(relays), "relay allow-ip was not picked up within a few seconds"
        srv.cli("relay", "remove", "127.0.0.0/8")
        assert wait_for(lambda: not relays()), "relay remove was not picked up"
    finally:
        srv.stop()


def test_relay_cli_validates_input(data_dir):
    setup_domain(data_dir)
    bad = run_cli(data_dir, "relay", "allow-ip", "10.0.0.1/8", check=False)
    assert bad.returncode != 0 and "10.0.0.0/8" in bad.stderr
    bad = run_cli(data_dir, "relay", "allow-ip", "not-an-ip", check=False)
    assert bad.returncode != 0 and "not an IP address" in bad.stderr
    bad = run_cli(data_dir, "relay", "allow-domain", "bad..example", check=False)
    assert bad.returncode != 0 and "not a domain" in bad.stderr
    assert "partner.example" in run_cli(data_dir, "relay", "allow-domain", "*.Partner.Example").stdout
    assert "partner.example" in run_cli(data_dir, "relay", "list").stdout
    missing = run_cli(data_dir, "relay", "remove", "192.0.2.0/24", check=False)
    assert missing.returncode != 0 and "not in the relay list" in missing.stderr
    run_cli(data_dir, "relay", "remove", "partner.example")
    assert "partner.example" not in run_cli(data_dir, "relay", "list").stdout


def test_relay_by_verified_client_domain(data_dir, dns_server):
    zone, port = dns_server("mx.partner.test", "127.0.0.1")
    srv = start(data_dir, extra_config=f'[dns]\nnameserver = "127.0.0.1:{port}"\ntimeout = 2\n'
                                       '[relay]\nallow_client_domains = ["partner.test"]\n')
    try:
        c = greet(srv)
        code, lines = send_relay(c)
        assert code == 250, lines
        assert ("1.0.0.127.in-addr.arpa", "PTR") in zone.queries
        assert ("mx.partner.test", "A") in zone.queries
        # The verified name appears in the Received: header of a local delivery.
        assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: x\r\n\r\nbody\r\n.\r\n")
        assert c.reply()[0] == 250
        c.cmd("QUIT")
        ids = mailbox_ids(srv, "alice@example.test")
        assert b"mx.partner.test" in raw_message(srv, "alice@example.test", ids[-1])
    finally:
        srv.stop()


def test_relay_by_unverified_client_domain_denied(data_dir, dns_server):
    # PTR says mx.partner.test but its A record is another address: not forward-confirmed.
    zone, port = dns_server("mx.partner.test", "127.0.0.2")
    srv = start(data_dir, extra_config=f'[dns]\nnameserver = "127.0.0.1:{port}"\ntimeout = 2\n'
                                       '[relay]\nallow_client_domains = ["partner.test"]\n')
    try:
        c = greet(srv)
        code, lines = send_relay(c)
        assert code == 550 and "5.7.1" in lines[0]
        assert ("mx.partner.test", "A") in zone.queries
    finally:
        srv.stop()


def test_unreachable_dns_means_not_verified(data_dir):
    srv = start(data_dir, extra_config=DEAD_DNS + '[relay]\nallow_client_domains = ["partner.test"]\n')
    try:
        started = time.time()
        c = greet(srv)
        assert time.time() - started < 5          # bounded by [dns] timeout
        assert send_relay(c)[0] == 550
    finally:
        srv.stop()


# --- connection control and limits -------------------------------------------------------------------

def test_connection_deny_in_config(data_dir):
    srv = start(data_dir, smtp_extra='connection_deny = ["127.0.0.0/8"]')
    try:
        c = RawClient(srv.smtp_port)
        code, lines = c.reply()
        assert code == 554 and "5.7.1" in lines[0]
        assert c.closed()
        assert wait_for(lambda: "connection denied by access list" in srv.log())
    finally:
        srv.stop()


def test_connection_allow_list_excludes_others(data_dir):
    srv = start(data_dir, smtp_extra='connection_allow = ["192.0.2.0/24"]')
    try:
        c = RawClient(srv.smtp_port)
        code, lines = c.reply()
        assert code == 554 and "5.7.1" in lines[0]
    finally:
        srv.stop()


def test_access_cli_deny_applies_live(data_dir):
    srv = start(data_dir)
    try:
        greet(srv).cmd("QUIT")
        srv.cli("access", "deny", "127.0.0.1")
        assert "127.0.0.1/32" in srv.cli("access", "list").stdout

        def denied():
            c = RawClient(srv.smtp_port)
            code = c.reply()[0]
            c.close()
            return code == 554
        assert wait_for(denied)
        srv.cli("access", "remove", "127.0.0.1/32")
        assert wait_for(lambda: not denied())
    finally:
        srv.stop()


def test_connection_rate_per_minute(data_dir):
    srv = start(data_dir, smtp_extra="max_connection_rate_per_ip = 3")
    try:
        for _ in range(3):
            c = RawClient(srv.smtp_port)
            assert c.reply()[0] == 220
            c.cmd("QUIT")
        c = RawClient(srv.smtp_port)
        code, lines = c.reply()
        assert code == 421 and "4.7.0" in lines[0]
        assert c.closed()
        assert wait_for(lambda: "connection rate limit exceeded" in srv.log())
    finally:
        srv.stop()


def test_invalid_recipients_slow_down_then_disconnect(data_dir):
    srv = start(data_dir, smtp_extra="invalid_recipient_delay_after = 1\nmax_invalid_recipients = 3\n"
                                     "invalid_recipient_delay = 300")
    try:
        c = greet(srv)
        assert c.cmd("MAIL FROM:<x@sender.test>")[0] == 250
        t0 = time.time()
        assert c.cmd("RCPT TO:<nobody1@example.test>")[0] == 550
        assert time.time() - t0 < 0.25
        t1 = time.time()
        assert c.cmd("RCPT TO:<victim@elsewhere.test>")[0] == 550
        assert time.time() - t1 >= 0.25                        # delayed
        assert c.cmd("RCPT TO:<nobody3@example.test>")[0] == 550
        code, lines = c.reply()
        assert code == 421 and "4.7.0" in lines[0] and "invalid recipients" in lines[0]
        assert c.closed()
    finally:
        srv.stop()


def test_talking_before_greeting_is_refused(data_dir):
    srv = start(data_dir, smtp_extra="greeting_delay = 1")
    try:
        c = RawClient(srv.smtp_port)
        c.send(b"EHLO eager.test\r\n")
        code, lines = c.reply()
        assert code == 554 and "5.5.0" in lines[0]
        assert c.closed()
        assert wait_for(lambda: "client sent data before the greeting" in srv.log())
        # A client that waits gets the greeting after the delay.
        started = time.time()
        c = RawClient(srv.smtp_port)
        assert c.reply()[0] == 220
        assert time.time() - started >= 0.9
        # Submission is never delayed.
        started = time.time()
        s = RawClient(srv.ports["submission"])
        assert s.reply()[0] == 220
        assert time.time() - started < 0.9
    finally:
        srv.stop()


def test_anti_spoofing_of_local_sender(data_dir):
    srv = start(data_dir, smtp_extra="reject_unauthenticated_local_sender = true")
    try:
        c = greet(srv)
        code, lines = c.cmd("MAIL FROM:<alice@EXAMPLE.test>")
        assert code == 550 and "5.7.1" in lines[0]
        assert c.cmd("MAIL FROM:<someone@sender.test>")[0] == 250
        c.cmd("RSET")
        # After AUTH the local sender is fine.
        assert auth_plain(c, "alice@example.test", "alice-password")[0] == 235
        assert c.cmd("MAIL FROM:<alice@example.test>")[0] == 250
    finally:
        srv.stop()


# --- swaks -------------------------------------------------------------------------------------------

swaks = pytest.mark.peer("swaks")


def run_swaks(port, *args):
    return subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port), "--helo", "client.test",
                           "--from", "someone@sender.test", *args], capture_output=True, text=True, timeout=60)


@swaks
def test_swaks_relay_denied(data_dir):
    srv = start(data_dir)
    try:
        r = run_swaks(srv.smtp_port, "--to", "victim@elsewhere.test")
        assert r.returncode != 0
        assert "550 5.7.1" in r.stdout
    finally:
        srv.stop()


@swaks
def test_swaks_authenticated_relay(data_dir):
    srv = start(data_dir)
    try:
        r = run_swaks(srv.smtp_port, "--to", "victim@elsewhere.test", "--from", "alice@example.test",
                      "--auth", "PLAIN", "--auth-user", "alice@example.test", "--auth-password", "alice-password")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "250 2.0.0 Ok: queued" in r.stdout
    finally:
        srv.stop()


@swaks
def test_swaks_relay_by_network(data_dir):
    srv = start(data_dir, extra_config=DEAD_DNS + '[relay]\nallow_networks = ["127.0.0.1"]\n')
    try:
        r = run_swaks(srv.smtp_port, "--to", "victim@elsewhere.test")
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        srv.stop()
