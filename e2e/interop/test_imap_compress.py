"""IMAP COMPRESS=DEFLATE (RFC 4978) through `petrel serve` on SQLite, with Python's zlib as the other end
(raw DEFLATE, wbits=-15, a sync flush after each command: what RFC 4978 clients do) over a plain socket:

- a session over DEFLATE: LOGIN, COMPRESS, then SELECT and FETCH of a message delivered by SMTP, a second
  COMPRESS refused with [COMPRESSIONACTIVE], LOGOUT; the server logs "imap compression started";
- `[imap] compress = false`: no COMPRESS=DEFLATE capability, COMPRESS is BAD;
- a compression bomb: a line without end that inflates to 256 MiB of 'a' (about 260 KB of DEFLATE). The server
  answers BAD as soon as the line passes 64 KiB, discards the rest slice by slice, and once 1 MiB more has
  been dropped says BYE and closes (it inflated about 1 MiB of the 256); it stays alive and serves another
  client, and its resident memory (VmRSS of `petrel serve`) grows by less than 64 MiB meanwhile.

mbsync and offlineimap3 (test_imap_clients.py) use COMPRESS against the same server as real clients.
"""
import imaplib
import smtplib
import socket
import threading
import time
import zlib

from conftest import PetrelServer, run_cli

MESSAGE = (b"From: bob@example.test\r\nTo: alice@example.test\r\nSubject: compressed\r\n"
           b"Message-ID: <compress-1@example.test>\r\n\r\nHello over DEFLATE.\r\n")


class DeflateIMAP:
    """A minimal IMAP client over a socket that switches to raw DEFLATE after COMPRESS."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.pending = b""
        self.deflater = None
        self.inflater = None

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, text):
        data = text.encode() if isinstance(text, str) else text
        if self.deflater is not None:
            data = self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed; unread: {self.pending[:200]!r}")
            self.pending += self.inflater.decompress(chunk) if self.inflater is not None else chunk
        line, self.pending = self.pending.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def through(self, prefix):
        lines = []
        while True:
            lines.append(self.line())
            if lines[-1].startswith(prefix):
                return lines

    def command(self, tag, text):
        self.send(f"{tag} {text}\r\n")
        return self.through(f"{tag} ")

    def compress(self, tag="c"):
        # The OK is the last plain line: nothing else is pending, the server sends no more until asked.
        reply = self.command(tag, "COMPRESS DEFLATE")
        assert reply[-1] == f"{tag} OK DEFLATE active", reply
        assert self.pending == b""
        self.deflater = zlib.compressobj(wbits=-15)
        self.inflater = zlib.decompressobj(wbits=-15)
        return reply

    def close(self):
        self.sock.close()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def logged_in(srv):
    client = DeflateIMAP(srv.ports["imap"])
    assert client.line().startswith("* OK")
    reply = client.command("l", "LOGIN alice@example.test alice-password")
    assert reply[-1].startswith("l OK"), reply
    return client


def wait_for_log(srv, text, timeout=10):
    deadline = time.time() + timeout
    while text not in srv.log():
        assert time.time() < deadline, f"{text!r} not in the server's log"
        time.sleep(0.05)


def test_session_over_deflate(server):
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        smtp.sendmail("bob@example.test", ["alice@example.test"], MESSAGE)
    client = logged_in(server)
    caps = client.command("a", "CAPABILITY")
    assert "COMPRESS=DEFLATE" in caps[0], caps
    client.compress("c")
    deadline = time.time() + 10
    while True:
        select = client.command(f"s{int(time.time() * 1000)}", "SELECT INBOX")
        if "* 1 EXISTS" in select or time.time() > deadline:
            break
        time.sleep(0.2)
    assert "* 1 EXISTS" in select, select
    fetch = client.command("f", "FETCH 1 BODY[]")
    assert "Hello over DEFLATE." in fetch, fetch
    assert fetch[-1].startswith("f OK"), fetch
    again = client.command("d", "COMPRESS DEFLATE")
    assert again[-1].startswith("d NO [COMPRESSIONACTIVE]"), again
    bye = client.command("z", "LOGOUT")
    assert bye[0].startswith("* BYE") and bye[-1].startswith("z OK"), bye
    client.close()
    wait_for_log(server, "imap compression started")


def test_compression_bomb_is_cut_and_memory_stays_bounded(server):
    pid = server.proc.pid
    client = logged_in(server)
    client.compress("c")
    time.sleep(0.5)
    before = rss_kib(pid)
    peak = [before]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], rss_kib(pid))
            except (OSError, AssertionError):
                return
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.time()
    chunk = b"a" * (1 << 20)
    sent = 0
    client.send("b NOOP ")
    replies = []

    def read_replies():
        try:
            while True:
                replies.append(client.line())
                if replies[-1].startswith("* BYE"):
                    return
        except (EOFError, OSError):
            return

    # Read while sending: BAD comes after the first 64 KiB, BYE once 1 MiB more was dropped, both long
    # before the last octet; the server then closes, so sending may fail.
    reader = threading.Thread(target=read_replies, daemon=True)
    reader.start()
    try:
        for _ in range(256):
            data = client.deflater.compress(chunk)
            if data:
                client.send_raw(data)
                sent += len(data)
        client.send_raw(client.deflater.flush(zlib.Z_SYNC_FLUSH))
    except OSError:
        pass
    reader.join(timeout=60)
    elapsed = time.time() - started
    stop.set()
    sampler.join(timeout=5)
    assert replies and replies[0].startswith("b BAD") and "too long" in replies[0].lower(), replies
    assert replies[-1] == "* BYE Command line too long", replies
    assert sent < 1 << 20, f"{sent} compressed octets"
    growth = peak[0] - before
    print(f"bomb: {sent} compressed octets sent of 256 MiB, BYE after {elapsed:.1f} s, VmRSS {before} KiB, "
          f"peak +{growth} KiB")
    assert growth < 64 * 1024, f"petrel serve grew by {growth} KiB"
    client.close()
    assert server.proc.poll() is None, "petrel serve died"
    wait_for_log(server, "imap compression ended")
    ended = [line for line in server.log().splitlines() if "imap compression ended" in line][-1]
    held = int(ended.split("max_held_input=")[1].split()[0])
    assert held <= 80 * 1024, ended
    inflated = int(ended.split("inflated=")[1].split()[0])
    assert (1 << 20) < inflated < (4 << 20), ended
    # Another client is served as before.
    imap = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=10)
    imap.login("alice@example.test", "alice-password")
    typ, _ = imap.select("INBOX")
    assert typ == "OK"
    imap.logout()


def test_compress_false_takes_the_capability_away(data_dir):
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    srv = PetrelServer(data_dir, imap_extra="compress = false").start()
    try:
        client = logged_in(srv)
        caps = client.command("a", "CAPABILITY")
        assert "COMPRESS=DEFLATE" not in caps[0], caps
        refused = client.command("c", "COMPRESS DEFLATE")
        assert refused[-1].startswith("c BAD"), refused
        assert client.command("n", "NOOP")[-1].startswith("n OK")      # still plain text
        client.close()
    finally:
        srv.stop()
        srv.kill()
