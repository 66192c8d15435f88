#!/usr/bin/env python3
"""Crash safety: `kill -9` Petrel at random moments under SMTP load, N times, then check through POP3.

Every message that got a 250 must be stored exactly once, and no partial message may be visible.
Losses (250 but not stored), duplicates (stored more than once) and partial/garbled messages are reported
separately; the exit status is non-zero if any of them is non-zero (or nothing was acknowledged).
Messages that were sent but not acknowledged (connection died before the 250) may or may not be stored:
either is correct, and their count is reported for information.

    bench/crash_test.py [--kills 20] [--senders 8] [--petrel PATH]

Loopback only; every loop is bounded in count and time. e2e/interop/test_durability.py is the short
version that runs in CI; this is the long one.
"""
import argparse
import os
import poplib
import random
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST = "127.0.0.1"
SMTP_PORT, POP3_PORT = 22025, 22110
PASS = "crashpass"
USERS = ["alice@crash.test", "bob@crash.test"]
FILLER = b"".join(b"%03d" % i + b"y" * 75 + b"\r\n" for i in range(50))      # 4,000 octets, numbered lines
TAIL = b"END-OF-MESSAGE\r\n"


def wait_port(port, proc, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"petrel exited with {proc.returncode} during start")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not open after {timeout}s")


class Server:
    def __init__(self, binary, work):
        self.binary, self.work = str(binary), Path(work)
        self.data = self.work / "data"
        self.config = self.work / "petrel.toml"
        self.proc = None

    def cli(self, *args, stdin=None):
        r = subprocess.run([self.binary, *args, "--data-dir", str(self.data)], input=stdin, text=True,
                           capture_output=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"petrel {' '.join(args)}: {r.stderr.strip()}")

    def setup(self):
        shutil.rmtree(self.work, ignore_errors=True)
        self.data.mkdir(parents=True)
        self.config.write_text(f"""
[server]
hostname = "mx.crash.test"
data_dir = "{self.data}"
shutdown_deadline = 5
[smtp]
listen = ["{HOST}:{SMTP_PORT}"]
max_connections_per_ip = 1000
max_messages_per_connection = 1000
[submission]
listen = []
tls_listen = []
[pop3]
listen = ["{HOST}:{POP3_PORT}"]
tls_listen = []
[auth]
allow_plaintext = true
[log]
level = "warning"
""")
        self.cli("domain", "add", "crash.test")
        for u in USERS:
            self.cli("mailbox", "add", u, "--password-stdin", stdin=PASS + "\n")

    def start(self):
        self.proc = subprocess.Popen([self.binary, "serve", "--config", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=open(self.work / "petrel.log", "ab"))
        wait_port(SMTP_PORT, self.proc)
        wait_port(POP3_PORT, self.proc)

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()


def message(tag, rcpts):
    head = (f"Subject: {tag}\r\nMessage-ID: <{tag}@load.crash.test>\r\nX-Rcpts: {','.join(rcpts)}\r\n\r\n").encode()
    return head + FILLER + TAIL


def sender(tag, acked, unacked, stop, deadline, max_msgs, big):
    """One SMTP client: sends until told to stop; records a tag as acked only after the 250."""
    n = 0
    rng = random.Random(tag)
    while not stop.is_set() and time.time() < deadline and n < max_msgs:
        try:
            with smtplib.SMTP(HOST, SMTP_PORT, timeout=10) as s:
                s.ehlo("load.crash.test")
                for _ in range(rng.randint(1, 20)):          # several messages per connection
                    if stop.is_set() or n >= max_msgs:
                        break
                    n += 1
                    t = f"{tag}-{n}"
                    rcpts = USERS if n % 3 == 0 else [USERS[n % 2]]
                    body = message(t, rcpts)
                    if big and n % 10 == 0:                 # some messages > 256 KiB (spooled to a file)
                        body = body[:-len(TAIL)] + FILLER * 80 + TAIL
                    unacked.add(t)
                    s.sendmail("load@remote.test", rcpts, body)
                    unacked.discard(t)
                    acked[t] = rcpts
        except (OSError, smtplib.SMTPException):
            time.sleep(0.02)                                # server is down: retry until stopped


def fetch_all(user):
    """(tag -> count, list of partial/garbled descriptions) for one mailbox, read via POP3."""
    seen, bad = {}, []
    p = poplib.POP3(HOST, POP3_PORT, timeout=60)
    try:
        p.user(user)
        p.pass_(PASS)
        count, _ = p.stat()
        for i in range(1, count + 1):
            _, lines, _ = p.retr(i)
            raw = b"\r\n".join(lines) + b"\r\n"
            m = re.search(rb"^Subject: (\S+)\r$", raw, re.M)
            tag = m.group(1).decode() if m else f"<no subject #{i}>"
            seen[tag] = seen.get(tag, 0) + 1
            body = raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b""
            if not (body.startswith(FILLER) and body.endswith(TAIL)):
                bad.append(f"{user} #{i} {tag}: {len(raw)} octets, body not intact")
        p.quit()
    finally:
        try:
            p.close()
        except OSError:
            pass
    return seen, bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20, help="number of kill -9 cycles (default 20)")
    ap.add_argument("--senders", type=int, default=8, help="concurrent SMTP clients")
    ap.add_argument("--min-up", type=float, default=0.3, help="shortest time under load before a kill, s")
    ap.add_argument("--max-up", type=float, default=2.5, help="longest time under load before a kill, s")
    ap.add_argument("--max-per-sender", type=int, default=5000, help="bound on messages per client per cycle")
    ap.add_argument("--no-big", action="store_true", help="no messages over 256 KiB")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--petrel", default=str(ROOT / ".build-release" / "release" / "petrel"))
    ap.add_argument("--work", default="/var/tmp/petrel-crash")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    print(f"crash test: {args.kills} kill -9 cycles, {args.senders} senders, seed {seed}", flush=True)

    srv = Server(args.petrel, args.work)
    srv.setup()
    acked, unacked_all = {}, set()
    t_start = time.time()
    for cycle in range(args.kills):
        srv.start()
        stop = threading.Event()
        unacked = set()
        deadline = time.time() + args.max_up + 60
        threads = [threading.Thread(target=sender, daemon=True,
                                    args=(f"k{cycle}s{i}", acked, unacked, stop, deadline, args.max_per_sender,
                                          not args.no_big))
                   for i in range(args.senders)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(args.min_up, args.max_up))
        srv.kill9()                                        # no warning, no flush: SIGKILL mid-load
        stop.set()
        for t in threads:
            t.join(timeout=30)
        unacked_all |= unacked
        print(f"cycle {cycle + 1}/{args.kills}: killed; {len(acked)} acknowledged so far", flush=True)

    srv.start()                                            # the store must open cleanly after all the kills
    try:
        seen = {u: {} for u in USERS}
        partial = []
        for u in USERS:
            seen[u], bad = fetch_all(u)
            partial += bad
    finally:
        srv.stop()

    lost, dup, unexpected = [], [], []
    for tag, rcpts in acked.items():
        for u in rcpts:
            c = seen[u].get(tag, 0)
            if c == 0:
                lost.append(f"{tag} -> {u}")
            elif c > 1:
                dup.append(f"{tag} -> {u} x{c}")
    for u in USERS:
        for tag, c in seen[u].items():
            if tag not in acked and tag not in unacked_all:
                unexpected.append(f"{u}: {tag}")
            elif tag in unacked_all and c > 1:
                dup.append(f"{tag} -> {u} x{c} (unacknowledged)")
    stored_unacked = sum(1 for u in USERS for t in seen[u] if t in unacked_all)
    total_deliveries = sum(len(r) for r in acked.values())
    print(f"\nacknowledged messages: {len(acked)} ({total_deliveries} deliveries) in {time.time() - t_start:.0f}s")
    print(f"in flight at a kill (no 250): {len(unacked_all)} (stored anyway: {stored_unacked} deliveries — allowed)")
    print(f"LOST (250 but not stored):  {len(lost)}")
    print(f"DUPLICATES:                 {len(dup)}")
    print(f"PARTIAL / garbled:          {len(partial)}")
    print(f"unknown messages:           {len(unexpected)}")
    for name, items in (("lost", lost), ("duplicate", dup), ("partial", partial), ("unknown", unexpected)):
        for x in items[:20]:
            print(f"  {name}: {x}")
    failed = bool(lost or dup or partial or unexpected) or not acked
    print("FAIL" if failed else "PASS")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
