"""Several Petrel nodes on one PostgreSQL (issue 17), IMAP side: two `petrel serve` processes share one
database (the `nodes` fixture of test_two_nodes_pop3.py). A session IDLE on node B (imaplib; the IDLE
command by hand, Python 3.11's imaplib has none) sees `* n EXISTS` within seconds of mail accepted over
SMTP (smtplib) by node A, and flags stored and messages expunged through node A show on B's selected
session as `* n FETCH (FLAGS …)` and `* n EXPUNGE` — in IDLE, and after a NOOP; a session IDLE on node A
itself hears of the message once, although A wakes it twice (itself, and its own NOTIFY coming back). Node A announces each
change with `NOTIFY petrel_imap`, node B LISTENs and wakes its sessions (docs/SCALING.md)."""
import imaplib
import re
import time

import pytest

from test_two_nodes_pop3 import nodes, send  # noqa: F401 (the fixture is used by name)

WITHIN = 5   # seconds an untagged update may take to cross nodes


def login(node):
    port = node.imap_ports()[0][0]
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    imap.login("alice@example.test", "alice-password")
    return imap


def idle(imap):
    tag = imap._new_tag()
    imap.send(tag + b" IDLE\r\n")
    assert imap.readline().startswith(b"+")
    return tag


def read_untagged(imap, wanted, within=WITHIN):
    """Reads lines until one contains every octet string of `wanted`; returns it (fails after `within` s)."""
    deadline = time.time() + within
    seen = []
    while time.time() < deadline:
        imap.sock.settimeout(max(0.1, deadline - time.time()))
        try:
            line = imap.readline()
        except (TimeoutError, OSError):
            break
        seen.append(line)
        if all(w in line for w in wanted):
            return line
    raise AssertionError(f"no line with {wanted} within {within} s; got {seen}")


def done(imap, tag):
    """Ends IDLE; returns the untagged lines that came before the tagged answer."""
    imap.sock.settimeout(30)
    imap.send(b"DONE\r\n")
    untagged = []
    while True:
        line = imap.readline()
        if line.startswith(tag):
            assert b"OK" in line
            return untagged
        untagged.append(line)


@pytest.mark.peer("postgresql")
def test_idle_on_node_b_sees_mail_delivered_to_node_a(nodes):
    a, b = nodes
    imap = login(b)
    typ, data = imap.select("INBOX")
    assert typ == "OK" and int(data[0]) == 0
    tag = idle(imap)
    # A session IDLE on node A too: A wakes it itself and again when its own NOTIFY comes back; the
    # second wake-up finds nothing new, so the client hears of the message once.
    local = login(a)
    local.select("INBOX")
    local_tag = idle(local)
    started = time.time()
    send(a, b"Subject: across nodes\r\n\r\nbody\r\n")
    assert read_untagged(imap, [b"* 1 EXISTS"]).strip() == b"* 1 EXISTS"
    assert time.time() - started < WITHIN
    assert read_untagged(local, [b"* 1 EXISTS"]).strip() == b"* 1 EXISTS"
    time.sleep(1.5)                                 # a duplicate would arrive meanwhile…
    # …and be read before DONE's tagged answer (only the `* n RECENT` that follows the EXISTS may be there)
    assert [line for line in done(local, local_tag) if not line.endswith(b" RECENT\r\n")] == []
    local.logout()
    done(imap, tag)
    typ, data = imap.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK" and b"across nodes" in data[0][1]
    imap.logout()


@pytest.mark.peer("postgresql")
def test_flags_and_expunge_on_node_a_show_on_node_b(nodes):
    a, b = nodes
    send(a, b"Subject: one\r\n\r\nbody\r\n")
    send(a, b"Subject: two\r\n\r\nbody\r\n")
    on_b = login(b)
    typ, data = on_b.select("INBOX")
    assert int(data[0]) == 2
    on_a = login(a)
    on_a.select("INBOX")

    # In IDLE on B: A's STORE arrives as a FETCH of the flags.
    tag = idle(on_b)
    typ, _ = on_a.store("1", "+FLAGS", "(\\Flagged)")
    assert typ == "OK"
    line = read_untagged(on_b, [b"* 1 FETCH", b"\\Flagged"])
    assert b"FLAGS" in line
    done(on_b, tag)

    # Not in IDLE: the next NOOP on B reports it.
    typ, _ = on_a.store("2", "+FLAGS", "(\\Seen)")
    assert typ == "OK"
    time.sleep(0.5)
    typ, _ = on_b.noop()
    assert typ == "OK"
    fetches = [r for r in on_b.untagged_responses.get("FETCH", [])]
    assert any(r.startswith(b"2 (") and re.search(rb"FLAGS \(\\Seen( \\Recent)?\)", r) for r in fetches), fetches

    # An expunge on A: B's IDLE session hears `* 1 EXPUNGE` (message 1 had \Deleted set on A).
    tag = idle(on_b)
    on_a.store("1", "+FLAGS", "(\\Deleted)")
    on_a.expunge()
    read_untagged(on_b, [b"* 1 EXPUNGE"])
    done(on_b, tag)
    typ, data = on_b.search(None, "ALL")
    assert data[0].split() == [b"1"]
    on_a.logout()
    on_b.logout()
