"""Fixtures for the interop tests: run the real `petrel` binary on loopback with ephemeral ports.

Every server here listens on 127.0.0.1 port 0 (the kernel picks a free port); the fixture reads the
chosen ports from the server's "listening" log lines. Nothing talks to any other host.

A test that drives a program from the system (swaks, mpop, openssl: a row of e2e/peers.py) is marked
`@pytest.mark.peer("NAME")`: skipped when NAME is missing, an error under CI=true. The run ends with one
line naming what was skipped and the apt-get command that installs it (written to $PETREL_PEER_REPORT
instead when scripts/test.sh sets it, which prints it as the last line of the whole run).
"""
import collections
import os
import re
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PETREL = Path(os.environ.get("PETREL_BIN", ROOT / ".build" / "debug" / "petrel"))

sys.path.insert(0, str(ROOT / "e2e"))
import peers as system_peers  # noqa: E402  (e2e/peers.py: the table of system peers)

SKIP_PREFIX = "missing peer "


def under_ci():
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def pytest_configure(config):
    config.addinivalue_line("markers", "peer(name): needs the system program NAME (a row of e2e/peers.py); "
                                       "skipped when it is missing, an error under CI=true")


_peer_available = {}


def require_peer(name):
    """Skips the running test when the system peer `name` is missing (fails instead under CI=true)."""
    peer = system_peers.PEERS.get(name)
    if peer is None or peer.kind != "test":
        pytest.fail(f"@pytest.mark.peer({name!r}): not a test peer of e2e/peers.py", pytrace=False)
    if name not in _peer_available:
        _peer_available[name] = system_peers.available(name)
    if _peer_available[name]:
        return
    reason = f"{SKIP_PREFIX}{name}: {peer.what} (install: {system_peers.install_hint([name])})"
    if under_ci():
        pytest.fail(f"{reason}; under CI=true a missing peer is an error, not a skip", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(config, items):
    """PETREL_PEERS_ONLY=a,b (used by e2e/fresh_clone to count): keep only the tests that need one of them."""
    only = {name for name in os.environ.get("PETREL_PEERS_ONLY", "").split(",") if name}
    if not only:
        return
    keep, drop = [], []
    for item in items:
        needs = {name for mark in item.iter_markers("peer") for name in mark.args}
        (keep if needs & only else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_runtest_setup(item):
    # Before the test's fixtures start anything.
    for mark in item.iter_markers("peer"):
        for name in mark.args:
            require_peer(name)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line naming the peers whose tests were skipped, and the command that installs them."""
    if hasattr(config, "workerinput"):      # a pytest-xdist worker: the controller reports
        return
    counts = collections.Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else ""
        match = re.match(r"(?:Skipped: )?" + re.escape(SKIP_PREFIX) + r"([\w.-]+):", str(reason))
        if match:
            counts[match.group(1)] += 1
    if not counts:
        return
    names = [name for name in system_peers.PEERS if name in counts]
    tests = sum(counts.values())
    line = (f"SKIPPED {tests} test{'s' if tests != 1 else ''} that need {', '.join(names)} (not installed here); "
            f"to run them: {system_peers.install_hint(names)}")
    report_file = os.environ.get("PETREL_PEER_REPORT")
    if report_file:
        Path(report_file).write_text(line + "\n")
    else:
        terminalreporter.write_line(line)

CONFIG_TEMPLATE = """
[server]
hostname = "mx.petrel.test"
data_dir = "{data_dir}"
{server_extra}

[smtp]
listen = ["127.0.0.1:0"]
max_message_size = {max_message_size}
max_recipients = {max_recipients}
max_errors = {max_errors}
command_timeout = {command_timeout}
max_connections_per_ip = {max_connections_per_ip}
{smtp_extra}

[submission]
listen = ["127.0.0.1:0"]
tls_listen = ["127.0.0.1:0"]
{submission_extra}

[pop3]
listen = ["127.0.0.1:0"]
tls_listen = ["127.0.0.1:0"]
idle_timeout = {pop3_idle_timeout}
{pop3_extra}

[imap]
listen = ["127.0.0.1:0"]
tls_listen = ["127.0.0.1:0"]
{imap_extra}

[auth]
allow_plaintext = {allow_plaintext}
failure_delay = {failure_delay}
max_failures = {max_failures}
{auth_extra}

[log]
level = "debug"
format = "text"

[admin]
listen = "127.0.0.1:0"
"""


# [store] recipient_cache's default: how long a running server may still answer RCPT (and MAIL FROM's
# "is this domain ours") as it did before a removal or a quota the CLI made under it.
RECIPIENT_CACHE_SECONDS = 2


def rcpt_until(port, recipient, code, sender="x@remote.test", size=None, within=RECIPIENT_CACHE_SECONDS + 5):
    """RCPT `recipient` (one session, RSET between tries, no DATA; MAIL FROM with SIZE=`size` if given)
    until the server answers `code`, as it must within [store] recipient_cache of a change the CLI made;
    returns the (code, text) reply."""
    deadline = time.monotonic() + within
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("c.test")
        while True:
            assert s.mail(sender, options=[f"SIZE={size}"] if size is not None else [])[0] == 250
            reply = s.rcpt(recipient)
            if reply[0] == code:
                return reply
            assert time.monotonic() < deadline, f"RCPT {recipient}: still {reply} after {within} s"
            s.rset()
            time.sleep(0.1)


def run_cli(data_dir, *args, input_text=None, check=True):
    """Runs `petrel <args> --data-dir data_dir` and returns the CompletedProcess."""
    cmd = [str(PETREL), *args, "--data-dir", str(data_dir)]
    proc = subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}): {proc.stderr}")
    return proc


def config_cli(config, *args, input_text=None, check=True):
    """Runs `petrel <args> --config config` (a store named in the file, e.g. PostgreSQL); returns stdout.
    `check=False`: a failure is not an error (e.g. adding what an earlier test of the module added)."""
    proc = subprocess.run([str(PETREL), *args, "--config", str(config)], input=input_text,
                          capture_output=True, text=True, timeout=60)
    assert not check or proc.returncode == 0, f"petrel {' '.join(args)} failed ({proc.returncode}): {proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def cluster():
    """A real PostgreSQL of its own (pg_cluster.py) for the tests of one module, stopped after them."""
    from pg_cluster import PostgresCluster
    c = PostgresCluster().start()
    yield c
    c.stop()


class PetrelServer:
    def __init__(self, data_dir, **settings):
        self.data_dir = Path(data_dir)
        self.settings = dict(max_message_size=10 * 1024 * 1024, max_recipients=100, max_errors=10,
                             command_timeout=300, pop3_idle_timeout=600, allow_plaintext="true",
                             failure_delay=200, max_failures=3, max_connections_per_ip=50,
                             # extra [server] and [smtp] keys (relay control tests); extra [submission], [pop3], [imap], [auth] keys
                             server_extra="", smtp_extra="", submission_extra="", pop3_extra="", imap_extra="", auth_extra="")
        self.settings.update(settings)
        self.config_path = self.data_dir.parent / (self.data_dir.name + ".toml")
        self.proc = None
        self.ports = {}
        self.log_lines = []
        self._log_lock = threading.Lock()

    def write_config(self):
        settings = dict(self.settings)
        extra = settings.pop("extra_config", "")
        if "[dns]" not in extra:
            # Never the system's resolver: a loopback port where nothing answers (lookups fail at once).
            extra = '\n[dns]\nnameserver = "127.0.0.1:9"\ntimeout = 1\n' + extra
        self.config_path.write_text(CONFIG_TEMPLATE.format(data_dir=self.data_dir, **settings) + "\n" + extra)

    def start(self, timeout=30):
        self.write_config()
        self.ports = {}
        expected = {"smtp", "submission", "submissions", "pop3", "pop3s"}
        if re.search(r'^\[admin\]\s*\nlisten = "[^"]+"', self.config_path.read_text(), re.M):
            expected.add("admin")
        self.proc = subprocess.Popen([str(PETREL), "serve", "--config", str(self.config_path)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ready = threading.Event()

        def pump(stream):
            for line in stream:
                with self._log_lock:
                    self.log_lines.append(line.rstrip("\n"))
                proto = re.search(r" listening .*protocol=(\w+)", line)
                addr = re.search(r" listening .*address=\S*:(\d+)", line)
                if proto and addr:
                    # A plaintext_auth_listen listener is keyed "<protocol>_plaintext" (e.g. "pop3_plaintext").
                    key = proto.group(1) + ("_plaintext" if "plaintext_auth=allowed" in line else "")
                    self.ports[key] = int(addr.group(1))
                    if expected <= set(self.ports):
                        ready.set()

        threading.Thread(target=pump, args=(self.proc.stderr,), daemon=True).start()
        deadline = time.time() + timeout
        while not ready.is_set():
            if self.proc.poll() is not None:
                raise AssertionError("petrel exited at start:\n" + "\n".join(self.log_lines))
            if time.time() > deadline:
                self.kill()
                raise AssertionError("petrel did not start in time:\n" + "\n".join(self.log_lines))
            ready.wait(0.05)
        return self

    @property
    def smtp_port(self):
        return self.ports["smtp"]

    @property
    def pop3_port(self):
        return self.ports["pop3"]

    def imap_ports(self, timeout=5):
        """The IMAP and IMAPS ports, or None with the reason the server gave for not starting IMAP (a store
        that does not serve IMAP logs "imap not started")."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if "imap" in self.ports and "imaps" in self.ports:
                return (self.ports["imap"], self.ports["imaps"]), None
            for line in self.log().splitlines():
                if "imap not started" in line:
                    return None, line
            time.sleep(0.05)
        return None, "no IMAP listener and no 'imap not started' line in the log"

    @property
    def admin_port(self):
        return self.ports["admin"]

    def log(self):
        with self._log_lock:
            return "\n".join(self.log_lines)

    def stop(self, timeout=30):
        """Graceful stop with SIGTERM; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cli(self, *args, **kwargs):
        return run_cli(self.data_dir, *args, **kwargs)


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def server(data_dir):
    """A running server with domain example.test and mailboxes alice and bob (password 'alice-password'/'bob-password')."""
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    run_cli(data_dir, "mailbox", "add", "bob@example.test", "--password-stdin", input_text="bob-password\n")
    srv = PetrelServer(data_dir).start()
    yield srv
    srv.stop()
    srv.kill()


def mailbox_ids(srv, address):
    """Delivery ids listed by `petrel mailbox show`."""
    out = srv.cli("mailbox", "show", address).stdout
    ids = []
    for line in out.splitlines()[2:]:
        parts = line.split("\t")
        if parts and parts[0].isdigit():
            ids.append(int(parts[0]))
    return ids


def raw_message(srv, address, delivery_id):
    cmd = [str(PETREL), "mailbox", "show", address, "--message", str(delivery_id), "--data-dir", str(srv.data_dir)]
    return subprocess.run(cmd, capture_output=True, timeout=60, check=True).stdout
