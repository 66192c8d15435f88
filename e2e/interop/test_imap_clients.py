"""IMAP clients from Debian that nobody here wrote, against `petrel serve` on loopback (issue 17):

- mbsync (isync): Petrel's folders to a local Maildir and back: messages come down, a flag set locally goes
  up, a message moved locally from INBOX to Archive is moved on the server, a new local message is
  APPENDed. isync 1.4 uses COMPRESS=DEFLATE (RFC 4978) when offered: all of it goes over DEFLATE under TLS.
- offlineimap3: the same both-way sync: flags, a move, a deletion; with `usecompression` (COMPRESS=DEFLATE,
  RFC 4978, under TLS).
- neomutt, driven in tmux: opens the IMAP INBOX, sees mail delivered meanwhile, shows a message, deletes it,
  saves another to Archive and syncs. (Not over COMPRESS: Debian 12's neomutt 20220429 is built without
  zlib, it has no `imap_deflate`.)
- fetchmail over IMAP: the messages go to an MDA (a shell command writing files), byte for byte; in its
  `idle` mode a delivery wakes it.

Every outcome is checked on the server with imaplib (the flags and Message-IDs of each folder), not by trusting
the client's exit code. Each test runs on the SQLite store and on the PostgreSQL store (a cluster of its
own for the module, a fresh database per test: pg_cluster.py). The clients use TLS the way README and
docs/CLIENTS.md set them up, trusting the development certificate Petrel made at its first start (it names
127.0.0.1 and localhost): mbsync with STARTTLS, offlineimap, neomutt and fetchmail over implicit TLS; the
server's log shows the handshake. (offlineimap is given `localhost`: its own host name check ignores IP
addresses in certificates; with STARTTLS it would check no certificate at all.) Nothing leaves 127.0.0.1.

Found this way: a FETCH answer over 64 KiB (fetchmail, a 100 KB message) arrived without its tagged OK
(IMAPListenerTests.fetchLargerThanTheHighWatermarkIsCompleted).
"""
import contextlib
import email
import hashlib
import imaplib
import os
import re
import shutil
import smtplib
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import PetrelServer, config_cli, require_peer

USER = "alice@example.test"
PASSWORD = "alice-password"


def message(subject, message_id, body="Hello from the interop tests.\r\n"):
    return (f"From: bob@example.test\r\nTo: {USER}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{message_id}>\r\nDate: Fri, 04 Dec 2026 09:00:00 +0000\r\n\r\n{body}").encode()


@pytest.fixture(params=["sqlite", "postgresql"])
def imap_server(request, tmp_path):
    """`petrel serve` with mailbox alice@example.test on the store named by the parameter; skips when the
    store does not serve IMAP (the server's 'imap not started' line) or PostgreSQL is not installed."""
    data = tmp_path / "data"
    data.mkdir()
    extra = ""
    if request.param == "postgresql":
        require_peer("postgresql")
        cluster = request.getfixturevalue("cluster")
        database = "c" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:12]
        cluster.psql(f"CREATE DATABASE {database}")
        extra = cluster.store_section(database=database)
    srv = PetrelServer(data, extra_config=extra)
    srv.write_config()
    config_cli(srv.config_path, "domain", "add", "example.test")
    config_cli(srv.config_path, "mailbox", "add", USER, "--password-stdin", input_text=PASSWORD + "\n")
    srv.start()
    try:
        ports, reason = srv.imap_ports()
        if ports is None:
            pytest.skip(f"IMAP is not started by this server: {reason}")
        srv.imap_port, srv.imaps_port = ports
        # The development certificate made at the first start (names 127.0.0.1): the clients that use TLS trust it.
        srv.certificate = data / "tls" / "cert.pem"
        yield srv
    finally:
        if getattr(srv, "checker", None) is not None:
            try:
                srv.checker.logout()
            except (imaplib.IMAP4.error, OSError):
                pass
        srv.stop()
        srv.kill()


def deliver(srv, subject, message_id):
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as smtp:
        assert smtp.sendmail("bob@example.test", [USER], message(subject, message_id)) == {}


def wait_for_messages(srv, folder, count, timeout=10):
    """Waits until the queue has delivered `count` messages into `folder`."""
    deadline = time.time() + timeout
    while True:
        n = int(checker(srv).select(folder, readonly=True)[1][0])
        if n >= count or time.time() > deadline:
            assert n == count, f"{folder}: {n} messages, expected {count}"
            return
        time.sleep(0.1)


@contextlib.contextmanager
def login(srv):
    """An imaplib session as alice, logged out at the end of the `with` block."""
    imap = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=10)
    imap.login(USER, PASSWORD)
    try:
        yield imap
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def checker(srv):
    """The test's own imaplib session, logged in once (a login costs a slow password hash) and kept open beside
    the client's sessions; closed by the fixture."""
    if getattr(srv, "checker", None) is None:
        srv.checker = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=10)
        srv.checker.login(USER, PASSWORD)
    return srv.checker


def server_view(srv, folder):
    """{Message-ID: set of flags} of the messages in `folder` on the server (deleted-flagged ones included),
    through a fresh EXAMINE."""
    imap = checker(srv)
    typ, data = imap.select(folder, readonly=True)
    assert typ == "OK", (folder, data)
    if int(data[0]) == 0:
        return {}
    # UID FETCH: a message another session expunges meanwhile is left out (a FETCH by sequence number would
    # get NO [EXPUNGEISSUED], RFC 9051 §7.1, which Petrel answers while clients expunge beside this check).
    typ, data = imap.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    assert typ == "OK", data
    view = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        flags = set(re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split())
        message_id = email.message_from_bytes(item[1])["Message-ID"].strip("<>")
        view[message_id] = flags
    return view


def maildir_messages(folder):
    """{Message-ID: path} of the messages in a local Maildir folder (new/ and cur/)."""
    found = {}
    for sub in ("new", "cur"):
        directory = Path(folder) / sub
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            found[email.message_from_bytes(path.read_bytes())["Message-ID"].strip("<>")] = path
    return found


def set_maildir_flags(path, flags):
    """Renames a Maildir message to carry `flags` (Maildir info ':2,' letters), into cur/."""
    base = path.name.split(":2,")[0]
    target = path.parent.parent / "cur" / f"{base}:2,{''.join(sorted(flags))}"
    path.rename(target)
    return target


def new_maildir_message(folder, data, name):
    path = Path(folder) / "new" / name
    path.write_bytes(data.replace(b"\r\n", b"\n"))
    return path


def fetchmail_command(rc, tmp_path):
    """fetchmail with its run control file and a lock file of its own (as root it would take
    /var/run/fetchmail.pid, shared by the tests running in parallel), in the foreground."""
    return ["fetchmail", "-f", str(rc), "--pidfile", str(tmp_path / "fetchmail.pid"), "--nodetach"]


def tls_sessions(srv):
    """How many IMAP connections completed a TLS handshake (implicit TLS or STARTTLS): the server's log."""
    return srv.log().count("imap tls established")


def compressed_sessions(srv):
    """How many IMAP connections started COMPRESS=DEFLATE (RFC 4978): the server's log."""
    return srv.log().count("imap compression started")


def run(argv, timeout=25, **kwargs):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)
    assert proc.returncode == 0, f"{argv[0]} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


# --- mbsync (isync) ------------------------------------------------------------------------------------

@pytest.mark.peer("mbsync")
def test_mbsync_two_way_sync(imap_server, tmp_path):
    srv = imap_server
    deliver(srv, "first for mbsync", "mbsync-1@example.test")
    deliver(srv, "second for mbsync", "mbsync-2@example.test")
    wait_for_messages(srv, "INBOX", 2)
    maildir = tmp_path / "mail"
    maildir.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(f"""IMAPAccount petrel
Host 127.0.0.1
Port {srv.imap_port}
User {USER}
Pass {PASSWORD}
SSLType STARTTLS
CertificateFile {srv.certificate}

IMAPStore remote
Account petrel

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel petrel
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""")
    sync = ["mbsync", "-c", str(rc), "petrel"]

    # Down: both messages arrive in the local INBOX, with their bytes (after STARTTLS).
    run(sync)
    assert tls_sessions(srv) >= 1
    assert compressed_sessions(srv) >= 1            # isync 1.4 uses COMPRESS=DEFLATE when offered
    local = maildir_messages(maildir / "INBOX")
    assert set(local) == {"mbsync-1@example.test", "mbsync-2@example.test"}
    assert b"Subject: first for mbsync" in local["mbsync-1@example.test"].read_bytes()
    assert maildir_messages(maildir / "Archive") == {}

    # Up: a flag set locally, a message moved locally to Archive, a new local message.
    set_maildir_flags(local["mbsync-1@example.test"], "FS")
    moved = local["mbsync-2@example.test"]
    # isync's manual: a message moved between Maildir folders loses its ",U=" (the UID in the old folder).
    moved.rename(maildir / "Archive" / "cur" / re.sub(r",U=\d+", "", moved.name))
    new_maildir_message(maildir / "INBOX", message("written locally", "mbsync-3@example.test"), "1.local.host")
    run(sync)

    inbox = server_view(srv, "INBOX")
    assert set(inbox) == {"mbsync-1@example.test", "mbsync-3@example.test"}, inbox
    assert {"\\Flagged", "\\Seen"} <= inbox["mbsync-1@example.test"]
    archive = server_view(srv, "Archive")
    assert set(archive) == {"mbsync-2@example.test"}, archive
    # Nothing is left flagged \Deleted in INBOX (Expunge Both).
    assert not any("\\Deleted" in flags for flags in inbox.values())
    with login(srv) as imap:
        imap.select("Archive", readonly=True)
        typ, data = imap.fetch("1", "(BODY.PEEK[])")
        assert b"Subject: second for mbsync" in data[0][1]

    # And down again: a flag changed on the server shows up locally; a second sync changes nothing else.
    with login(srv) as imap:
        imap.select("INBOX")
        typ, data = imap.search(None, "HEADER", "Message-ID", "mbsync-3@example.test")
        assert typ == "OK" and len(data[0].split()) == 1
        imap.store(data[0].split()[0].decode(), "+FLAGS", "(\\Answered)")
    run(sync)
    local = maildir_messages(maildir / "INBOX")
    assert set(local) == {"mbsync-1@example.test", "mbsync-3@example.test"}
    assert "R" in local["mbsync-3@example.test"].name.split(":2,")[1]
    assert server_view(srv, "INBOX") == {"mbsync-1@example.test": inbox["mbsync-1@example.test"],
                                         "mbsync-3@example.test": inbox["mbsync-3@example.test"] | {"\\Answered"}}


# --- offlineimap3 --------------------------------------------------------------------------------------

@pytest.mark.peer("offlineimap")
def test_offlineimap_two_way_sync(imap_server, tmp_path):
    srv = imap_server
    for i in (1, 2, 3):
        deliver(srv, f"offlineimap {i}", f"oi-{i}@example.test")
    wait_for_messages(srv, "INBOX", 3)
    maildir = tmp_path / "mail"
    rc = tmp_path / "offlineimaprc"
    rc.write_text(f"""[general]
accounts = petrel
metadata = {tmp_path}/offlineimap-meta

[Account petrel]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {maildir}

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {srv.imaps_port}
remoteuser = {USER}
remotepass = {PASSWORD}
ssl = yes
sslcacertfile = {srv.certificate}
usecompression = yes
folderfilter = lambda name: name in ["INBOX", "Archive"]
""")
    sync = ["offlineimap", "-c", str(rc), "-o", "-u", "basic"]

    run(sync)
    assert tls_sessions(srv) >= 1
    assert compressed_sessions(srv) >= 1            # usecompression: COMPRESS=DEFLATE under TLS
    local = maildir_messages(maildir / "INBOX")
    assert set(local) == {"oi-1@example.test", "oi-2@example.test", "oi-3@example.test"}
    assert b"Subject: offlineimap 2" in local["oi-2@example.test"].read_bytes()

    set_maildir_flags(local["oi-1@example.test"], "FS")      # flag
    moved = local["oi-2@example.test"]                       # move INBOX -> Archive
    (maildir / "Archive" / "cur").mkdir(parents=True, exist_ok=True)
    moved.rename(maildir / "Archive" / "cur" / re.sub(r",U=\d+", "", moved.name))
    local["oi-3@example.test"].unlink()                      # delete
    run(sync)

    inbox = server_view(srv, "INBOX")
    assert set(inbox) == {"oi-1@example.test"}, inbox
    assert {"\\Flagged", "\\Seen"} <= inbox["oi-1@example.test"]
    assert set(server_view(srv, "Archive")) == {"oi-2@example.test"}


# --- neomutt in tmux -----------------------------------------------------------------------------------

class Tmux:
    def __init__(self, socket_path):
        self.base = ["tmux", "-S", str(socket_path)]
        self.session = "petrel-neomutt"

    def start(self, command, env):
        subprocess.run(self.base + ["new-session", "-d", "-s", self.session, "-x", "160", "-y", "40", command],
                       check=True, env=env, timeout=10)

    def keys(self, *keys):
        subprocess.run(self.base + ["send-keys", "-t", self.session, *keys], check=True, timeout=10)

    def screen(self):
        return subprocess.run(self.base + ["capture-pane", "-p", "-t", self.session], capture_output=True,
                              text=True, timeout=10).stdout

    def wait_for(self, pattern, timeout=10):
        deadline = time.time() + timeout
        while True:
            screen = self.screen()
            if re.search(pattern, screen):
                return screen
            if time.time() > deadline:
                raise AssertionError(f"{pattern!r} not on the screen:\n{screen}")
            time.sleep(0.1)

    def alive(self):
        return subprocess.run(self.base + ["has-session", "-t", self.session], capture_output=True,
                              timeout=10).returncode == 0

    def kill(self):
        subprocess.run(self.base + ["kill-server"], capture_output=True, timeout=10)


@pytest.mark.peer("neomutt")
def test_neomutt_reads_saves_and_deletes(imap_server, tmp_path):
    srv = imap_server
    deliver(srv, "kept for neomutt", "nm-1@example.test")
    deliver(srv, "delete me neomutt", "nm-2@example.test")
    wait_for_messages(srv, "INBOX", 2)
    home = tmp_path / "home"
    (home / "Mail").mkdir(parents=True)
    muttrc = tmp_path / "muttrc"
    certificates = tmp_path / "certificates"       # neomutt trusts the certificates of this file
    shutil.copy(srv.certificate, certificates)
    muttrc.write_text(f"""set folder = "imaps://alice%40example.test@127.0.0.1:{srv.imaps_port}/"
set spoolfile = "+INBOX"
set imap_pass = "{PASSWORD}"
set certificate_file = "{certificates}"
set ssl_force_tls = yes
set imap_passive = no
set header_cache = ""
set message_cachedir = ""
set sort = date-sent
set delete = yes
set quit = yes
set move = no
set mark_old = no
set wait_key = no
set timeout = 1
set pager_stop = yes
set imap_idle = yes
set mail_check = 1
set confirmappend = no
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TMUX", "MUTT", "NEOMUTT"))}
    env.update(HOME=str(home), TERM="xterm-256color", LANG="C.UTF-8")
    tmux = Tmux(tmp_path / "tmux.sock")
    tmux.start(f"{shutil.which('neomutt')} -n -F {muttrc}", env)
    try:
        tmux.wait_for(r"delete me neomutt")
        tmux.wait_for(r"kept for neomutt")
        # Mail delivered while the INBOX is open shows up (IDLE, or neomutt's NOOP every mail_check).
        deliver(srv, "arrived while open", "nm-3@example.test")
        tmux.wait_for(r"arrived while open", timeout=15)
        # Open one message by searching for its subject; the pager shows its header and body.
        tmux.keys("/", "delete me", "Enter")
        tmux.keys("Enter")
        screen = tmux.wait_for(r"Subject: delete me neomutt")
        assert "Hello from the interop tests." in screen
        tmux.keys("q")
        tmux.wait_for(r"kept for neomutt")
        tmux.keys("d")                                       # delete the one just read
        tmux.keys("/", "arrived while", "Enter")
        tmux.keys("s")                                       # save (copy, then delete) to Archive
        tmux.wait_for(r"Save to mailbox")
        tmux.keys("C-u", "=Archive", "Enter")
        tmux.wait_for(r"Del:2")
        tmux.keys("$")          # sync: with delete=yes the \Deleted messages are expunged
        deadline = time.time() + 10
        while len(server_view(srv, "INBOX")) > 1 and time.time() < deadline:
            time.sleep(0.2)
        tmux.keys("q")
        deadline = time.time() + 10
        while tmux.alive() and time.time() < deadline:
            time.sleep(0.1)
        assert not tmux.alive(), tmux.screen()
    finally:
        tmux.kill()
    assert tls_sessions(srv) >= 1
    inbox = server_view(srv, "INBOX")
    assert set(inbox) == {"nm-1@example.test"}, inbox
    assert "\\Seen" not in inbox["nm-1@example.test"]        # never opened
    assert set(server_view(srv, "Archive")) == {"nm-3@example.test"}


# --- fetchmail over IMAP -------------------------------------------------------------------------------

@pytest.mark.peer("fetchmail")
def test_fetchmail_over_imap_to_an_mda(imap_server, tmp_path):
    srv = imap_server
    big = "".join(f"line {i:05d} of a longer message\r\n" for i in range(3000))
    bodies = {"fm-1@example.test": message("fetchmail one", "fm-1@example.test"),
              "fm-2@example.test": message("fetchmail two", "fm-2@example.test", body=big)}
    for data in bodies.values():
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as smtp:
            smtp.sendmail("bob@example.test", [USER], data)
    wait_for_messages(srv, "INBOX", 2)
    with login(srv) as imap:     # what the server holds (Return-Path and Received added at delivery)
        imap.select("INBOX", readonly=True)
        stored = {}
        for n in (1, 2):
            data = imap.fetch(str(n), "(BODY.PEEK[])")[1][0][1]
            stored[email.message_from_bytes(data)["Message-ID"].strip("<>")] = data
    out = tmp_path / "out"
    out.mkdir()
    rc = tmp_path / "fetchmailrc"
    rc.write_text(f"""set no syslog
poll 127.0.0.1 service {srv.imaps_port} protocol IMAP auth password timeout 10:
    user "{USER}" there with password "{PASSWORD}" is "{os.environ.get('USER', 'root')}" here
    ssl sslcertck sslcertfile "{srv.certificate}" sslcommonname "localhost" no rewrite keep
    mda "/bin/sh -c 'cat > {out}/$$.eml'"
""")
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp_path), FETCHMAILHOME=str(tmp_path))
    proc = subprocess.run([*fetchmail_command(rc, tmp_path), "-v", "--invisible"], capture_output=True,
                          text=True, timeout=25, stdin=subprocess.DEVNULL, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = list(out.iterdir())
    assert len(files) == 2, proc.stderr[-3000:]
    assert tls_sessions(srv) >= 1
    got = {}
    for path in files:
        data = path.read_bytes()
        got[email.message_from_bytes(data)["Message-ID"].strip("<>")] = data
    assert set(got) == set(bodies)
    for message_id, data in got.items():
        # fetchmail hands the MDA Unix line ends; with --invisible it adds no Received line of its own.
        assert data.replace(b"\n", b"\r\n") == stored[message_id], message_id
    # `keep`: both still there, now \Seen; a second run fetches nothing new (only unseen mail).
    inbox = server_view(srv, "INBOX")
    assert set(inbox) == set(bodies) and all("\\Seen" in f for f in inbox.values()), inbox
    proc = subprocess.run([*fetchmail_command(rc, tmp_path), "--invisible"], capture_output=True,
                          text=True, timeout=25, stdin=subprocess.DEVNULL, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr          # 1: no new mail
    assert len(list(out.iterdir())) == 2
    # --nokeep --all: fetched again and deleted on the server.
    for path in out.iterdir():
        path.unlink()
    run([*fetchmail_command(rc, tmp_path), "--invisible", "--nokeep", "--all"], env=env)
    assert len(list(out.iterdir())) == 2
    assert server_view(srv, "INBOX") == {}


@pytest.mark.peer("fetchmail")
def test_fetchmail_idle_is_woken_by_a_delivery(imap_server, tmp_path):
    """fetchmail's `idle` mode: it fetches what is there, waits in IDLE, and a message delivered over SMTP
    meanwhile wakes it (`* n EXISTS`), is fetched and deleted on the server (no `keep`)."""
    srv = imap_server
    deliver(srv, "before idle", "fi-1@example.test")
    wait_for_messages(srv, "INBOX", 1)
    out = tmp_path / "out"
    out.mkdir()
    rc = tmp_path / "fetchmailrc"
    rc.write_text(f"""set no syslog
poll 127.0.0.1 service {srv.imaps_port} protocol IMAP auth password timeout 10:
    user "{USER}" there with password "{PASSWORD}" is "{os.environ.get('USER', 'root')}" here
    ssl sslcertck sslcertfile "{srv.certificate}" sslcommonname "localhost" no rewrite idle
    mda "/bin/sh -c 'cat > {out}/$$.eml'"
""")
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp_path), FETCHMAILHOME=str(tmp_path))
    proc = subprocess.Popen([*fetchmail_command(rc, tmp_path), "-v", "--invisible"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    try:
        def wait(condition, what, timeout=15):
            deadline = time.time() + timeout
            while not condition():
                assert proc.poll() is None, f"fetchmail exited ({proc.returncode}):\n" + "".join(lines[-40:])
                assert time.time() < deadline, f"{what}:\n" + "".join(lines[-40:])
                time.sleep(0.05)

        wait(lambda: len(list(out.iterdir())) == 1, "the first message was not fetched")
        wait(lambda: any(line.startswith("fetchmail: IMAP< + ") for line in lines[-3:])
             and any(re.search(r"IMAP> \w+ IDLE$", line) for line in lines), "fetchmail did not enter IDLE")
        deliver(srv, "during idle", "fi-2@example.test")
        wait(lambda: len(list(out.iterdir())) == 2, "the message delivered during IDLE was not fetched")
        assert any(re.match(r"fetchmail: IMAP< \* \d+ EXISTS", line) for line in lines)
        wait(lambda: server_view(srv, "INBOX") == {}, "the fetched messages are still on the server")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    subjects = {email.message_from_bytes(p.read_bytes())["Subject"] for p in out.iterdir()}
    assert subjects == {"before idle", "during idle"}
