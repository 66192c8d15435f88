"""Several Petrel nodes on one PostgreSQL (issue 16), POP3 side: two `petrel serve` processes with their own
data directories share one database (pg_cluster.py). Mail accepted over SMTP (smtplib) by node A is read
over POP3 (poplib) on node B byte for byte; the maildrop lock is a lease row in the database, so a session
open on A makes B answer `-ERR [IN-USE]` (RFC 2449), and after `kill -9` of A, B can log in once the lease
(`[pop3] lock_lease`, 3 s here) has run out. A 50 MB message is retrieved on SQLite and on PostgreSQL while
the serving process's peak memory (VmHWM, reset through /proc/PID/clear_refs) stays far below its size."""
import hashlib
import poplib
import re
import smtplib
import time

import pytest

from conftest import PetrelServer, config_cli as cli

LEASE = 3
BIG = 50 * 1024 * 1024


def make_node(tmp_path, name, store_section, **settings):
    data = tmp_path / name
    data.mkdir()
    return PetrelServer(data, extra_config=store_section, pop3_extra=f"lock_lease = {LEASE}", **settings)


@pytest.fixture
def nodes(cluster, tmp_path):
    """Nodes A and B on one fresh database, with mailbox alice@example.test (created through A's CLI)."""
    database = "n" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:12]
    cluster.psql(f"CREATE DATABASE {database}")
    section = cluster.store_section(database=database)
    a = make_node(tmp_path, "a", section, max_message_size=BIG + 1024 * 1024)
    b = make_node(tmp_path, "b", section, max_message_size=BIG + 1024 * 1024)
    a.write_config()
    cli(a.config_path, "domain", "add", "example.test")
    cli(a.config_path, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    a.start()
    b.start()
    yield a, b
    for n in (a, b):
        n.stop()
        n.kill()


def send(node, body):
    with smtplib.SMTP("127.0.0.1", node.smtp_port, timeout=120) as s:
        s.ehlo("c.test")
        assert s.sendmail("carol@remote.test", ["alice@example.test"], body) == {}


def login(node, user="alice@example.test", password="alice-password"):
    p = poplib.POP3("127.0.0.1", node.pop3_port, timeout=60)
    p.user(user)
    p.pass_(password)
    return p


def login_when_free(node, timeout):
    """Logs in, retrying while the maildrop answers [IN-USE]; returns (session, seconds waited)."""
    start = time.time()
    while True:
        try:
            return login(node), time.time() - start
        except poplib.error_proto as e:
            if b"[IN-USE]" not in e.args[0] or time.time() - start > timeout:
                raise
            time.sleep(0.1)


def peak_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["VmHWM"].split()[0]), int(fields["VmRSS"].split()[0])


def reset_peak(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")   # resets VmHWM to the current RSS (proc(5))


def big_body():
    """About 50 MB in 1000-octet lines, every 97th starting with a dot (dot-stuffing on the way)."""
    lines = [b"Subject: big\r\n\r\n"]
    line_no = 0
    size = len(lines[0])
    while size < BIG:
        text = (b"." if line_no % 97 == 0 else b"L") + (b"%09d" % line_no) * 99 + b"\r\n"
        lines.append(text)
        size += len(text)
        line_no += 1
    return b"".join(lines)


def retrieve_measured(node, body):
    """RETRs the one message on `node` while watching its peak memory; returns the growth in KiB."""
    p = login(node)
    count, size = p.stat()
    assert count == 1
    _, baseline = peak_kib(node.proc.pid)
    reset_peak(node.proc.pid)
    resp, lines, octets = p.retr(1)
    peak, _ = peak_kib(node.proc.pid)
    fetched = b"\r\n".join(lines) + b"\r\n"
    assert len(fetched) == size
    assert fetched.endswith(body)
    assert hashlib.sha256(fetched[len(fetched) - len(body):]).digest() == hashlib.sha256(body).digest()
    p.quit()
    return peak - baseline


@pytest.mark.peer("postgresql")
def test_mail_from_node_a_is_read_on_node_b_byte_identical(nodes):
    a, b = nodes
    body = b"Subject: across nodes\r\nMessage-ID: <x1@remote.test>\r\n\r\n.leading dot\r\n" + b"y" * 300 + b"\r\nend\r\n"
    send(a, body)
    p = login(b)
    count, size = p.stat()
    assert count == 1
    resp, lines, octets = p.retr(1)
    fetched = b"\r\n".join(lines) + b"\r\n"
    assert fetched.endswith(body) and len(fetched) == size
    assert b"mx.petrel.test" in fetched.split(b"\r\n\r\n")[0]   # node A's trace header came along
    uidl = p.uidl(1).split()[2]               # INBOX's UIDVALIDITY and UID 1, as on SQLite
    assert re.fullmatch(rb"[0-9a-f]{8}00000001", uidl), uidl
    p.dele(1)
    p.quit()
    q = login(a)
    assert q.stat() == (0, 0)
    q.quit()


@pytest.mark.peer("postgresql")
def test_session_on_node_a_makes_node_b_answer_in_use_until_quit(nodes, cluster):
    a, b = nodes
    send(a, b"Subject: lock\r\n\r\nbody\r\n")
    held = login(a)
    for node in (b, a):          # B, and a second session on A itself: the same answer
        with pytest.raises(poplib.error_proto) as e:
            login(node)
        assert e.value.args[0].startswith(b"-ERR [IN-USE]")
    held.quit()
    # QUIT gives the lease back before its answer: B gets the maildrop at once.
    p = login(b)
    assert p.stat()[0] == 1
    p.quit()


@pytest.mark.peer("postgresql")
def test_kill_9_of_node_a_frees_the_maildrop_after_the_lease(nodes):
    a, b = nodes
    send(a, b"Subject: crash\r\n\r\nbody\r\n")
    held = login(a)
    time.sleep(LEASE)           # A renews its lease meanwhile (every LEASE/3 s): B is still refused
    with pytest.raises(poplib.error_proto) as e:
        login(b)
    assert b"[IN-USE]" in e.value.args[0]
    killed_at = time.time()
    a.proc.kill()               # SIGKILL: no QUIT, no release; the lease row stays until it expires
    a.proc.wait()
    p, waited = login_when_free(b, timeout=LEASE * 4)
    assert time.time() - killed_at <= LEASE + 2
    assert p.stat()[0] == 1
    p.quit()
    held.sock.close()


@pytest.mark.peer("postgresql")
def test_50_mb_retr_on_postgresql_streams_in_bounded_memory(nodes):
    a, b = nodes
    body = big_body()
    send(a, body)
    growth = retrieve_measured(b, body)
    assert growth < 24 * 1024, f"node B's peak memory grew by {growth} KiB for a {len(body)} octet RETR"


def test_50_mb_retr_on_sqlite_streams_in_bounded_memory(data_dir):
    srv = PetrelServer(data_dir, max_message_size=BIG + 1024 * 1024)
    srv.cli("domain", "add", "example.test")
    srv.cli("mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    srv.start()
    try:
        body = big_body()
        send(srv, body)
        growth = retrieve_measured(srv, body)
        assert growth < 24 * 1024, f"the server's peak memory grew by {growth} KiB for a {len(body)} octet RETR"
    finally:
        srv.stop()
        srv.kill()
