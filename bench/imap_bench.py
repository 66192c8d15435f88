#!/usr/bin/env python3
"""bench/imap_bench.py — Petrel's IMAP server beside Dovecot's in one run (issue 18). Loopback only.

Both servers get the same messages (generated here, same bytes): Petrel through SMTP (its normal way in;
it adds Return-Path/Received), Dovecot as Maildir files in an instance of its own (a dovecot.conf in
the work directory, IMAP on 127.0.0.1:20143; the system's /etc/dovecot is not used). Before anything is
timed, each mailbox is SELECTed once on each server (Dovecot builds its index then). Figures, each
alternating the order of the servers rep by rep, medians:

  select   SELECT of a folder of --big messages (1 KiB), a new session each rep (login not timed)
  flags    `UID FETCH 1:* (UID FLAGS)` of that folder
  search   `SEARCH TEXT "zebracorn"` over --search-count 4 KiB messages (1 in 100 match)
  fetch    every message's `BODY.PEEK[]`, 10 sessions at once, each on a mailbox of its own:
           --fetch-4k messages of 4 KiB and --fetch-64k of 64 KiB per mailbox, --fetch-rounds times
           in a row per session in each timed run (a run of 0.3 s, not 60 ms); msgs/s and MB/s; one
           untimed run on each server before the timed reps (steady state, caches warm on both; the
           warm-up's own figures are logged: the cold case)
  resync   after another session changed the flags of 100 messages spread over that folder: a new
           session's `SELECT INBOX (QRESYNC (uidvalidity modseq))`, and `UID FETCH 1:* (FLAGS)
           (CHANGEDSINCE modseq)` after a plain SELECT (what phones do on waking, RFC 7162)
  idle     memory per connection that has logged in, SELECTed and sent IDLE: Petrel's VmRSS growth of
           its one process / N; Dovecot's summed PSS growth of all its processes / N (one imap process
           per connection, and its login process); N in --idle (Dovecot up to --dovecot-idle)

Server CPU is measured around each timed phase (Petrel: its process; Dovecot: the master, its reaped
children and every live process of the instance) and reported per message or per command. The client is
a minimal raw-socket IMAP client (it scans for the tagged reply and counts bytes) so that it costs little
beside the servers on two shared cores; its CPU is reported too.

  python3 bench/imap_bench.py                       # defaults below (build: bench/run.sh's release build)
  python3 bench/imap_bench.py --quick               # small counts, a minute or two
  python3 bench/imap_bench.py --sqlite-mmap-mib 2048  # Petrel's store read through a memory map
Needs root (Dovecot's instance), dovecot-imapd, and the release build of petrel.
"""
import argparse
import json
import os
import pwd
import random
import re
import resource
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
sys.path.insert(0, str(HERE))
import bench as B  # noqa: E402  (process statistics, the Petrel server wrapper, constants)

PETREL_IMAP = 21143
DOVECOT_IMAP = 20143
NEEDLE = "zebracorn"
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu meeting budget report quarterly "
         "invoice schedule travel lunch project review draft").split()


# ------------------------------------------------------------------------------------------------ messages
def message(i, size, needle=False):
    rnd = random.Random(i * 7919 + size)
    head = (f"From: Sender {i % 50} <sender{i % 50}@example.test>\r\nTo: <user@{B.DOMAIN}>\r\n"
            f"Subject: message {i} about {rnd.choice(WORDS)}\r\nDate: Fri, 04 Dec 2026 10:{i % 60:02d}:00 +0000\r\n"
            f"Message-ID: <{i}.{size}@bench.example.test>\r\n\r\n")
    lines, total = [], len(head)
    while total < size:
        line = " ".join(rnd.choice(WORDS) for _ in range(10))
        if needle and not lines:
            line = f"this one mentions a {NEEDLE} " + line
        lines.append(line)
        total += len(line) + 2
    return (head + "\r\n".join(lines) + "\r\n").encode()


def mailbox_plan(args):
    """user -> (count, size, needle every n)."""
    plan = {"big": (args.big, 1024, 0), "search": (args.search_count, 4096, 100)}
    for s in range(1, args.sessions + 1):
        plan[f"f4k{s}"] = (args.fetch_4k, 4096, 0)
        plan[f"f64k{s}"] = (args.fetch_64k, 65536, 0)
    plan["idle"] = (1, 1024, 0)
    return plan


# ------------------------------------------------------------------------------------------------ servers
class PetrelIMAP(B.Petrel):
    sqlite_mmap_mib = 0   # [store] sqlite_mmap_mib (--sqlite-mmap-mib); 0 is Petrel's default

    def write_config(self):
        super().write_config()
        text = self.config.read_text().replace(
            "[auth]", f'[imap]\nlisten = ["{B.HOST}:{PETREL_IMAP}"]\ntls_listen = []\nmax_connections = 30000\n'
                      f'max_connections_per_ip = 30000\n\n[auth]', 1)
        if self.sqlite_mmap_mib:
            text += f"\n[store]\nsqlite_mmap_mib = {self.sqlite_mmap_mib}\n"
        self.config.write_text(text)

    def start(self):
        super().start()
        B.wait_port(PETREL_IMAP)

    def fill(self, plan, log):
        self.reset(users=0)
        for user in plan:
            self.cli("mailbox", "add", f"{user}@{B.DOMAIN}", "--password-stdin", stdin=B.PASS + "\n")
        self.start()
        jobs = [(user, i) for user, (count, _, _) in plan.items() for i in range(count)]
        lock = threading.Lock()
        errors = []

        def worker():
            s = smtplib.SMTP(B.HOST, B.PETREL_SMTP, timeout=120)
            sent = 0
            while True:
                with lock:
                    if not jobs:
                        break
                    user, i = jobs.pop()
                count, size, every = plan[user]
                try:
                    s.sendmail("sender@example.test", [f"{user}@{B.DOMAIN}"], message(i, size, every and i % every == 0))
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(e)
                    break
                sent += 1
                if sent % 900 == 0:          # under max_messages_per_connection
                    s.quit()
                    s = smtplib.SMTP(B.HOST, B.PETREL_SMTP, timeout=120)
            s.quit()

        t0 = time.time()
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError(f"filling Petrel: {errors[0]}")
        log(f"petrel filled in {time.time() - t0:.0f} s")

    def cpu(self):
        return sched_cpu_seconds(self.proc.pid) if self.proc else 0.0

    def memory_kib(self):
        return B.rss_kib(self.proc.pid)

    def restart(self):
        self.stop()
        self.start()


class DovecotIMAP:
    """A Dovecot instance of its own: config, run and state directories, Maildirs and log in `root`."""

    def __init__(self, root):
        self.root = Path(root)
        self.user = pwd.getpwnam("nobody")
        self.proc = None

    def write_config(self):
        r = self.root
        for d in ("run", "state", "mail"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "users").write_text("".join(f"{u}@{B.DOMAIN}:{{PLAIN}}{B.PASS}::::::\n" for u in self.users))
        uid, gid = self.user.pw_uid, self.user.pw_gid
        (r / "dovecot.conf").write_text(f"""
protocols = imap
listen = {B.HOST}
base_dir = {r}/run
state_dir = {r}/state
instance_name = petrelbench-imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {r}/dovecot.log
mail_location = maildir:{r}/mail/%n
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_max_userip_connections = 30000
default_process_limit = 12000
default_client_limit = 30000
default_vsz_limit = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {r}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={r}/mail/%n
}}
service imap-login {{
  inet_listener imap {{
    address = {B.HOST}
    port = {DOVECOT_IMAP}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")

    def fill(self, plan, log):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        self.users = list(plan)
        self.write_config()
        t0 = time.time()
        stamp = int(time.time())
        for user, (count, size, every) in plan.items():
            box = self.root / "mail" / user
            for d in ("cur", "new", "tmp"):
                (box / d).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                data = message(i, size, every and i % every == 0)
                (box / "cur" / f"{stamp}.M{i}P1.bench,S={len(data)}:2,").write_bytes(data)
        subprocess.run(["chown", "-R", f"{self.user.pw_uid}:{self.user.pw_gid}", str(self.root / "mail")], check=True)
        log(f"dovecot filled in {time.time() - t0:.0f} s")

    def start(self):
        subprocess.run(["dovecot", "-c", str(self.root / "dovecot.conf")], check=True, timeout=60)
        B.wait_port(DOVECOT_IMAP)

    def master_pid(self):
        return int((self.root / "run" / "master.pid").read_text().split()[0])

    def stop(self):
        conf = self.root / "dovecot.conf"
        if conf.exists() and (self.root / "run" / "master.pid").exists():
            pid = self.master_pid()
            subprocess.run(["doveadm", "-c", str(conf), "stop"], timeout=60, capture_output=True)
            deadline = time.time() + 30
            while Path(f"/proc/{pid}").exists() and time.time() < deadline:
                time.sleep(0.1)

    def cpu(self):
        """The master and every live process of the instance (the timed phases keep their connections,
        and so their imap processes, open until they are measured)."""
        pid = self.master_pid()
        return sched_cpu_seconds(pid) + sum(sched_cpu_seconds(p) for p in B.descendants(pid))

    def restart(self):
        self.stop()
        self.start()

    def memory_kib(self):
        pid = self.master_pid()
        return B.pss_kib(pid) + sum(B.pss_kib(p) for p in B.descendants(pid))


# ------------------------------------------------------------------------------------------------ client
class Raw:
    """A minimal IMAP client: sends a command and reads until its tagged reply, counting octets."""

    def __init__(self, port, user):
        self.sock = socket.create_connection((B.HOST, port), timeout=300)
        self.n = 0
        self.read_until(b"\r\n")
        self.command(f"LOGIN {user}@{B.DOMAIN} {B.PASS}")

    def read_until(self, end):
        data = bytearray()
        while not data.endswith(end):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed")
            data += chunk
        return bytes(data)

    def command(self, text):
        """Returns (seconds, octets, the tagged line)."""
        self.n += 1
        tag = b"PB%05d" % self.n
        t0 = time.perf_counter()
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        octets, tail = 0, b""
        while True:
            chunk = self.sock.recv(262144)
            if not chunk:
                raise RuntimeError(f"connection closed during {text}")
            octets += len(chunk)
            tail = (tail + chunk)[-4096:]
            at = tail.rfind(b"\r\n" + tag + b" ") if not tail.startswith(tag + b" ") else -2
            if at != -1 and tail.endswith(b"\r\n"):
                line = tail[at + 2:].split(b"\r\n", 1)[0]
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(f"{text}: {line!r}")
                return time.perf_counter() - t0, octets, line

    def command_text(self, text):
        """For short answers: (seconds, octets, every line of the answer)."""
        self.n += 1
        tag = b"PB%05d" % self.n
        t0 = time.perf_counter()
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        data = bytearray()
        while not (data.startswith(tag + b" ") or b"\r\n" + tag + b" " in data) or not data.endswith(b"\r\n"):
            chunk = self.sock.recv(262144)
            if not chunk:
                raise RuntimeError(f"connection closed during {text}")
            data += chunk
        lines = bytes(data).decode("utf-8", "replace").split("\r\n")[:-1]
        if not lines[-1].startswith(tag.decode() + " OK"):
            raise RuntimeError(f"{text}: {lines[-1]!r}")
        return time.perf_counter() - t0, len(data), lines

    def close(self):
        try:
            self.sock.sendall(b"Z LOGOUT\r\n")
            self.sock.close()
        except OSError:
            pass


def sched_cpu_seconds(pid):
    """CPU time of one live process, every thread, in nanosecond resolution (/proc/PID/task/*/schedstat),
    0 if it is gone: many short-lived Dovecot processes each under a 10 ms clock tick would count as 0
    in /proc/PID/stat. (Threads that ended are not counted: Petrel's run for the server's lifetime.)"""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def client_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ------------------------------------------------------------------------------------------------ figures
def phase(server, fn):
    """Runs fn() and returns (its result, server CPU seconds, client CPU seconds)."""
    c0, k0 = server.cpu(), client_cpu()
    result = fn()
    return result, server.cpu() - c0, client_cpu() - k0


def fig_select_flags(server, port, args):
    c = Raw(port, "big")
    try:
        (sel_s, _, line), sel_cpu, _ = phase(server, lambda: c.command("SELECT INBOX"))
        (fl_s, fl_bytes, _), fl_cpu, fl_client = phase(server, lambda: c.command("UID FETCH 1:* (UID FLAGS)"))
    finally:
        c.close()
    return {"select_s": sel_s, "select_cpu_ms": 1000 * sel_cpu, "flags_s": fl_s, "flags_cpu_ms": 1000 * fl_cpu,
            "flags_octets": fl_bytes, "flags_client_cpu_ms": 1000 * fl_client}


def timed_in_new_session(server, port, setup, command):
    """A new session of "big" runs `setup`, then `command` timed: (seconds, octets, server CPU seconds,
    untagged FETCH responses in the answer)."""
    c = Raw(port, "big")
    try:
        c.command_text(setup)
        (seconds, octets, lines), cpu, _ = phase(server, lambda: c.command_text(command))
    finally:
        c.close()
    return seconds, octets, cpu, sum(1 for line in lines if line.startswith("* ") and " FETCH " in line)


def fig_resync(server, port, args, reps={}):
    """A phone waking up: another session changed the flags of 100 messages spread over the --big folder
    (one UID STORE); a new session resynchronises with `SELECT INBOX (QRESYNC (uidvalidity modseq))` (RFC
    7162 §3.2.5) and another with SELECT then `UID FETCH 1:* (FLAGS) (CHANGEDSINCE modseq)` (§3.1.4). Both
    should cost what changed, not the folder's size."""
    reps[port] = reps.get(port, 0) + 1          # per server: each rep flips the flag that server's last one set
    first = Raw(port, "big")
    try:
        first.command_text("ENABLE QRESYNC")
        _, _, lines = first.command_text("SELECT INBOX (CONDSTORE)")
        text = "\n".join(lines)
        validity = int(re.search(r"UIDVALIDITY (\d+)", text).group(1))
        modseq = int(re.search(r"HIGHESTMODSEQ (\d+)", text).group(1))
        step = max(1, args.big // 100)
        uids = ",".join(str(1 + i * step) for i in range(100))
        first.command_text(f"UID STORE {uids} {'+' if reps[port] % 2 else '-'}FLAGS.SILENT (\\Flagged)")
    finally:
        first.close()
    q_s, q_octets, q_cpu, q_fetches = timed_in_new_session(
        server, port, "ENABLE QRESYNC", f"SELECT INBOX (QRESYNC ({validity} {modseq}))")
    c_s, c_octets, c_cpu, c_fetches = timed_in_new_session(
        server, port, "SELECT INBOX", f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq})")
    if q_fetches < 100 or c_fetches < 100:
        raise RuntimeError(f"resync reported {q_fetches} / {c_fetches} changed messages, expected 100")
    return {"qresync_s": q_s, "qresync_cpu_ms": 1000 * q_cpu, "qresync_octets": q_octets, "qresync_fetches": q_fetches,
            "changedsince_s": c_s, "changedsince_cpu_ms": 1000 * c_cpu, "changedsince_octets": c_octets,
            "changedsince_fetches": c_fetches}


def fig_search(server, port, args):
    c = Raw(port, "search")
    try:
        c.command("SELECT INBOX")
        (s, _, _), cpu, _ = phase(server, lambda: c.command(f'SEARCH TEXT "{NEEDLE}"'))
    finally:
        c.close()
    return {"search_s": s, "search_cpu_ms": 1000 * cpu}


def fig_fetch(server, port, args, size):
    prefix, count = ("f4k", args.fetch_4k) if size == 4096 else ("f64k", args.fetch_64k)
    clients = [Raw(port, f"{prefix}{s}") for s in range(1, args.sessions + 1)]
    for c in clients:
        c.command("SELECT INBOX")
    results = [None] * len(clients)

    def run(k):
        octets = 0
        for _ in range(args.fetch_rounds):
            octets += clients[k].command("FETCH 1:* BODY.PEEK[]")[1]
        results[k] = octets

    def all_sessions():
        threads = [threading.Thread(target=run, args=(k,)) for k in range(len(clients))]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - t0

    elapsed, cpu, client = phase(server, all_sessions)
    for c in clients:
        c.close()
    msgs = count * len(clients) * args.fetch_rounds
    octets = sum(results)
    return {"rate": msgs / elapsed, "mb_s": octets / elapsed / 1e6, "cpu_ms_per_msg": 1000 * cpu / msgs,
            "client_cpu_ms_per_msg": 1000 * client / msgs, "elapsed": elapsed, "msgs": msgs}


def fig_idle(server, port, n, settle):
    """On a freshly started server, after a few logins (so that one-time costs — a password hash's
    scratch memory, the first connection's buffers — are not charged to the IDLE connections)."""
    server.restart()
    for _ in range(3):
        c = Raw(port, "idle")
        c.command("SELECT INBOX")
        c.close()
    time.sleep(settle)
    before = server.memory_kib()
    conns = []
    lock = threading.Lock()

    def open_one(_):
        c = Raw(port, "idle")
        with lock:
            conns.append(c)
        c.command("SELECT INBOX")
        c.sock.sendall(b"I IDLE\r\n")
        c.read_until(b"\r\n")          # "+ idling"

    try:
        # Three logins at a time (the password hash is the cost; Petrel allows 4 in flight per account).
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(open_one, range(n)))
        time.sleep(settle)
        after = server.memory_kib()
    finally:
        for c in conns:
            try:
                c.sock.sendall(b"DONE\r\n")
            except OSError:
                pass
            c.close()
    return {"n": n, "kib_per_conn": (after - before) / n}


# ------------------------------------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--petrel", default=str(B.ROOT / ".build-release" / "release" / "petrel"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--big", type=int, default=100000, help="messages (1 KiB) in the SELECT / FLAGS folder")
    ap.add_argument("--search-count", type=int, default=10000)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--sqlite-mmap-mib", type=int, default=0,
                    help="Petrel's [store] sqlite_mmap_mib (0, the default: SQLite reads with pread)")
    ap.add_argument("--fetch-rounds", type=int, default=5,
                    help="FETCH 1:* BODY.PEEK[] per session per timed run (one after the other)")
    ap.add_argument("--fetch-4k", type=int, default=1000, help="4 KiB messages per fetch mailbox")
    ap.add_argument("--fetch-64k", type=int, default=150, help="64 KiB messages per fetch mailbox")
    ap.add_argument("--idle", default="1000", help="comma list of IDLE connection counts")
    ap.add_argument("--dovecot-idle", type=int, default=1000, help="largest IDLE count for Dovecot")
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--figures", default="select_flags,search,fetch_4k,fetch_64k,resync,idle",
                    help="comma list of the figures to run")
    ap.add_argument("--quick", action="store_true", help="small counts: 2,000 / 1,000 / 100 / 20 / 200 IDLE")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    if args.quick:
        args.big, args.search_count, args.fetch_4k, args.fetch_64k, args.idle = 2000, 1000, 100, 20, "200"
        args.reps = min(args.reps, 2)
    if os.geteuid() != 0 or not shutil.which("dovecot") or not Path("/usr/lib/dovecot/imap").exists():
        raise SystemExit("needs root and Dovecot's IMAP server (apt-get install dovecot-imapd)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    B.WORK.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    logf = open(out / f"imap-{stamp}.log", "w")

    def log(*a):
        line = " ".join(str(x) for x in a)
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    plan = mailbox_plan(args)
    petrel = PetrelIMAP(args.petrel, log_level="notice", max_conns=30000)
    petrel.sqlite_mmap_mib = args.sqlite_mmap_mib
    dovecot = DovecotIMAP(B.WORK / "dovecot-imap")
    results = {"args": vars(args), "machine": B.machine(), "runs": {}}
    try:
        petrel.fill(plan, log)
        dovecot.fill(plan, log)
        dovecot.start()
        servers = {"petrel": (petrel, PETREL_IMAP), "dovecot": (dovecot, DOVECOT_IMAP)}
        for who, (server, port) in servers.items():        # warm-up: every mailbox selected once
            for user in plan:
                c = Raw(port, user)
                c.command("SELECT INBOX")
                c.close()
        figures = [("select_flags", fig_select_flags), ("search", fig_search),
                   ("fetch_4k", lambda s, p, a: fig_fetch(s, p, a, 4096)),
                   ("fetch_64k", lambda s, p, a: fig_fetch(s, p, a, 65536)), ("resync", fig_resync)]
        wanted = set(args.figures.split(","))
        for name, fn in figures:
            if name not in wanted:
                continue
            runs = {"petrel": [], "dovecot": []}
            if name.startswith("fetch"):
                # One untimed run on each server first: the timed reps see both in their steady state (bodies in
                # the page cache and mapped, Dovecot's caches filled), not whichever happened to go first.
                for who, (server, port) in servers.items():
                    log(f"{name} warm-up {who}: {fn(server, port, args)}")
            for rep in range(args.reps):
                order = ("petrel", "dovecot") if rep % 2 == 0 else ("dovecot", "petrel")
                for who in order:
                    server, port = servers[who]
                    r = fn(server, port, args)
                    runs[who].append(r)
                    log(f"{name} rep{rep} {who}: {r}")
            results["runs"][name] = runs
        idle = {"petrel": [], "dovecot": []}
        for n in ([int(x) for x in args.idle.split(",")] if "idle" in wanted else []):
            for who in ("petrel", "dovecot"):
                if who == "dovecot" and n > args.dovecot_idle:
                    continue
                server, port = servers[who]
                r = fig_idle(server, port, n, args.settle)
                idle[who].append(r)
                log(f"idle {n} {who}: {r}")
        results["runs"]["idle"] = idle
    finally:
        petrel.stop()
        dovecot.stop()
        (out / f"imap-{stamp}.json").write_text(json.dumps(results, indent=1))
    text = report(results)
    (out / f"imap-{stamp}.txt").write_text(text)
    log(text)


def report(res):
    med = B.median
    lines = [f"Petrel vs Dovecot IMAP — {res['machine']}", f"{'':46} {'Petrel':>10} {'Dovecot':>10} {'ratio':>7}"]

    def row(name, p, d, target=None, higher_better=True):
        ratio = p / d if d else float("nan")
        ok = ""
        if target is not None:
            ok = ("PASS" if (ratio >= target if higher_better else ratio <= target) else "MISS") + \
                 f" ({'≥' if higher_better else '≤'}{target}×)"
        lines.append(f"{name:46} {p:10.3f} {d:10.3f} {ratio:7.2f}  {ok}")

    runs = res["runs"]
    a = res["args"]
    if "select_flags" in runs:
        p, d = runs["select_flags"]["petrel"], runs["select_flags"]["dovecot"]
        for key, label in (("select_s", f"SELECT of {a['big']:,} msgs, s"), ("select_cpu_ms", "  server CPU ms"),
                           ("flags_s", "UID FETCH 1:* (UID FLAGS), s"), ("flags_cpu_ms", "  server CPU ms")):
            row(label, med([x[key] for x in p]), med([x[key] for x in d]))
    if "search" in runs:
        p, d = runs["search"]["petrel"], runs["search"]["dovecot"]
        row(f"SEARCH TEXT over {a['search_count']:,} msgs, s", med([x["search_s"] for x in p]),
            med([x["search_s"] for x in d]))
        row("  server CPU ms", med([x["search_cpu_ms"] for x in p]), med([x["search_cpu_ms"] for x in d]))
    for key, label in (("fetch_4k", "4 KiB"), ("fetch_64k", "64 KiB")):
        if key in runs:
            p, d = runs[key]["petrel"], runs[key]["dovecot"]
            row(f"FETCH BODY.PEEK[] {label}, {a['sessions']} sessions, msgs/s", med([x["rate"] for x in p]),
                med([x["rate"] for x in d]), 1.5)
            row("  MB/s", med([x["mb_s"] for x in p]), med([x["mb_s"] for x in d]))
            row("  server CPU ms/msg", med([x["cpu_ms_per_msg"] for x in p]), med([x["cpu_ms_per_msg"] for x in d]),
                0.5, higher_better=False)
            row("  client CPU ms/msg", med([x["client_cpu_ms_per_msg"] for x in p]),
                med([x["client_cpu_ms_per_msg"] for x in d]))
    if "resync" in runs:
        p, d = runs["resync"]["petrel"], runs["resync"]["dovecot"]
        for key, label in (("qresync_s", "SELECT (QRESYNC) after 100 changes, s"), ("qresync_cpu_ms", "  server CPU ms"),
                           ("qresync_octets", "  octets"),
                           ("changedsince_s", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE), s"),
                           ("changedsince_cpu_ms", "  server CPU ms"), ("changedsince_octets", "  octets")):
            row(label, med([x[key] for x in p]), med([x[key] for x in d]))
    idle = runs.get("idle", {})
    for r in idle.get("petrel", []):
        d = next((x for x in idle.get("dovecot", []) if x["n"] == r["n"]), None)
        lines.append(f"{'IDLE memory KiB/conn at ' + str(r['n']):46} {r['kib_per_conn']:10.1f} "
                     f"{(d['kib_per_conn'] if d else float('nan')):10.1f}  "
                     f"{'PASS' if r['kib_per_conn'] <= 32 else 'MISS'} (Petrel ≤ 32 KiB)")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
