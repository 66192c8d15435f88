"""Operability: the admin endpoint (/metrics, /status) and `petrel status`, SIGHUP reload of the
configuration, `petrel init` and `petrel doctor`. Everything runs on 127.0.0.1; doctor runs with
--no-dns so no resolver is ever asked."""
import json
import poplib
import re
import signal
import smtplib
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from conftest import PETREL, PetrelServer, run_cli


def metric(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split(" ")[1])
    return None


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def wait_for(predicate, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_metrics_move_when_mail_flows(server):
    status, ctype, before = get(server.admin_port, "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.sendmail("carol@remote.test", ["alice@example.test"], b"Subject: m\r\n\r\nbody\r\n")
        try:
            s.sendmail("carol@remote.test", ["nobody@example.test"], b"Subject: m\r\n\r\nbody\r\n")
        except smtplib.SMTPRecipientsRefused:
            pass
    p = poplib.POP3("127.0.0.1", server.pop3_port, timeout=10)
    try:
        p.user("alice@example.test")
        p.pass_("alice-password")
        p.retr(1)
    finally:
        p.quit()
    bad = poplib.POP3("127.0.0.1", server.pop3_port, timeout=10)
    bad.user("alice@example.test")
    try:
        bad.pass_("wrong-password")
    except poplib.error_proto:
        pass
    bad.close()

    def settled():
        text = get(server.admin_port, "/metrics")[2]
        return metric(text, 'petrel_connections_open{protocol="pop3"}') == 0 and \
            metric(text, 'petrel_connections_open{protocol="smtp"}') == 0
    assert wait_for(settled)
    text = get(server.admin_port, "/metrics")[2]
    assert metric(text, 'petrel_smtp_messages_accepted_total{protocol="smtp"}') == 1
    assert metric(text, 'petrel_connections_total{protocol="smtp"}') == 1
    assert metric(text, 'petrel_connections_total{protocol="pop3"}') == 2
    assert metric(text, 'petrel_pop3_logins_total{result="success"}') == 1
    assert metric(text, 'petrel_pop3_logins_total{result="failure"}') == 1
    assert metric(text, 'petrel_auth_failures_total{protocol="pop3"}') == 1
    assert metric(text, "petrel_pop3_retrievals_total") == 1
    assert metric(text, 'petrel_bytes_received_total{protocol="smtp"}') > 100
    assert metric(text, "petrel_store_commit_seconds_count") == 1
    assert "petrel_store_commit_seconds_bucket" in text
    # The password never reaches the log.
    assert "alice-password" not in server.log() and "wrong-password" not in server.log()


def test_status_endpoint_and_command(server):
    status, ctype, body = get(server.admin_port, "/status")
    report = json.loads(body)
    assert status == 200 and ctype == "application/json"
    assert report["hostname"] == "mx.petrel.test" and report["queue_size"] == 0
    assert report["queue"] == {"new": 0, "deferred": 0, "held": 0}
    assert {l["protocol"] for l in report["listeners"]} >= {"smtp", "submission", "submissions", "pop3", "pop3s", "admin"}
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.noop()
        out = subprocess.run([str(PETREL), "status", "--admin", f"127.0.0.1:{server.admin_port}"],
                             capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^petrel \d+\.\d+\.\d+ on mx\.petrel\.test$", out.stdout, re.M)
    assert re.search(r"^  smtp +1 / 1 / 0$", out.stdout, re.M), out.stdout
    assert "queue: 0 (new 0, deferred 0, held 0)" in out.stdout and "up " in out.stdout
    raw = subprocess.run([str(PETREL), "status", "--admin", f"127.0.0.1:{server.admin_port}", "--json"],
                         capture_output=True, text=True, timeout=30)
    assert json.loads(raw.stdout)["version"] == report["version"]
    assert get(server.admin_port, "/status")[2] and server.log().count("protocol=admin") == 1


def test_status_when_not_running(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    out = subprocess.run([str(PETREL), "status", "--admin", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "petrel is not running" in out.stderr
    config = tmp_path / "p.toml"
    config.write_text('[admin]\nlisten = ""\n')
    out = subprocess.run([str(PETREL), "status", "--config", str(config)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "disabled" in out.stderr


def test_sighup_applies_log_level_and_reports_restart_keys(server):
    text = server.config_path.read_text()
    changed = text.replace('level = "debug"', 'level = "info"').replace("max_recipients = 100", "max_recipients = 7")
    assert changed != text
    server.config_path.write_text(changed)
    server.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "smtp.max_recipients changed; restart to apply" in server.log()), server.log()
    assert wait_for(lambda: "log.level changed; applied" in server.log())
    assert wait_for(lambda: "TLS certificate reloaded" in server.log())
    # Debug lines ("smtp connection opened") stop once the level is info.
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.noop()
    time.sleep(0.3)
    assert server.log().split("log.level changed; applied")[1].count("smtp connection opened") == 0
    # A broken file changes nothing and the server keeps serving.
    server.config_path.write_text(changed + "\n[smtp]\nbogus = 1\n")
    server.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "configuration reload failed; keeping the running configuration" in server.log())
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        assert s.noop()[0] == 250


def test_init_writes_config_and_refuses_to_overwrite(tmp_path):
    config = tmp_path / "etc" / "petrel.toml"
    data = tmp_path / "data"
    args = ["init", "--domain", "Example.COM", "--hostname", "mail.example.com", "--config", str(config)]
    out = run_cli(data, *args)
    assert "domain example.com added" in out.stdout
    assert config.exists() and (config.stat().st_mode & 0o777) == 0o640
    check = subprocess.run([str(PETREL), "config", "check", "--config", str(config)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0 and "mail.example.com" in check.stdout and f"data in {data}" in check.stdout
    assert 'listen = ["0.0.0.0:25"]' in config.read_text() and 'listen = "127.0.0.1:8025"' in config.read_text()
    assert "example.com" in run_cli(data, "domain", "list").stdout
    again = run_cli(data, *args, check=False)
    assert again.returncode != 0 and "already exists" in again.stderr and "--force" in again.stderr
    assert run_cli(data, *args, "--force").returncode == 0
    no_tty = run_cli(tmp_path / "d2", "init", "--config", str(tmp_path / "x.toml"), input_text="", check=False)
    assert no_tty.returncode != 0 and "--domain" in no_tty.stderr


def test_doctor(server, tmp_path):
    ok = subprocess.run([str(PETREL), "doctor", "--config", str(server.config_path), "--no-dns"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK    config:" in ok.stdout and "OK    data_dir:" in ok.stdout
    assert "OK    tls: certificate covers mx.petrel.test" in ok.stdout
    assert "OK    store: local domains: example.test" in ok.stdout
    assert "SKIP  dns:" in ok.stdout and "0 failed" in ok.stdout

    # A port held by another program is a FAIL and exit status 1.
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        cfg = tmp_path / "doctor.toml"
        cfg.write_text(f'[server]\nhostname = "mx.petrel.test"\ndata_dir = "{tmp_path / "dd"}"\n'
                       f'[smtp]\nlisten = ["127.0.0.1:{port}"]\n[submission]\nlisten = []\ntls_listen = []\n'
                       '[pop3]\nlisten = []\ntls_listen = []\n[imap]\nlisten = []\ntls_listen = []\n[admin]\nlisten = ""\n')
        bad = subprocess.run([str(PETREL), "doctor", "--config", str(cfg), "--no-dns"], capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1
        assert f"FAIL  port: smtp 127.0.0.1:{port} is in use by another program" in bad.stdout
        assert "FAIL  data_dir:" in bad.stdout and "WARN  tls: no certificate yet" in bad.stdout
    finally:
        holder.close()
    bogus = tmp_path / "bogus.toml"
    bogus.write_text("[smtp]\nnope = 1\n")
    broken = subprocess.run([str(PETREL), "doctor", "--config", str(bogus), "--no-dns"], capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1 and "FAIL  config:" in broken.stdout


def store_file_mapped(pid, store_file):
    """Whether the process has the SQLite store file itself (not its -wal or -shm) mapped into memory."""
    with open(f"/proc/{pid}/maps") as maps:
        return any(line.split()[-1] == str(store_file) for line in maps if len(line.split()) >= 6)


def test_sqlite_mmap_setting_reaches_the_store(data_dir):
    """`[store] sqlite_mmap_mib`: off by default (no map of the store file after mail went in and out); set,
    the store file is read through a memory map, and the message read that way is the one delivered."""
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    store_file = (data_dir / "petrel.sqlite").resolve()
    body = b"Subject: mapped\r\n\r\n" + b"line of the mapped message\r\n" * 400
    for extra, mapped in (("", False), ("\n[store]\nsqlite_mmap_mib = 64\n", True)):
        srv = PetrelServer(data_dir, extra_config=extra).start()
        try:
            with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as s:
                s.sendmail("carol@remote.test", ["alice@example.test"], body)
            p = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=10)
            try:
                p.user("alice@example.test")
                p.pass_("alice-password")
                count = len(p.list()[1])
                lines = p.retr(count)[1]
            finally:
                p.quit()
            assert b"\r\n".join(lines).endswith(body.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n"))
            assert store_file_mapped(srv.proc.pid, store_file) == mapped, extra or "default"
        finally:
            srv.stop()


def event_loop_threads(pid):
    """The names of the process's event-loop threads (SwiftNIO names them NIO-ELT-<group>-#<n>)."""
    names = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        if name.startswith("NIO-ELT-"):
            names.append(name)
    return names


def test_event_loops_setting_reaches_the_server(data_dir):
    """`[server] event_loops`: by default half the cores the process may use (at least one); set, that many.
    The count is said in the start-up log and is the number of event-loop threads in /proc; mail goes in
    either way, over more connections at once than there are loops."""
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    for setting, configured in (("", None), ("event_loops = 3", 3)):
        srv = PetrelServer(data_dir, server_extra=setting).start()
        try:
            line = next(l for l in srv.log().splitlines() if " threads " in l)
            cores = int(re.search(r"\bcores=(\d+)", line).group(1))
            loops = int(re.search(r"\bevent_loops=(\d+)", line).group(1))
            expected = configured or max(1, cores // 2)
            assert loops == expected, line
            assert ("server.event_loops" if configured else "automatic (half the cores)") in line, line
            assert len(event_loop_threads(srv.proc.pid)) == expected, (line, event_loop_threads(srv.proc.pid))
            clients = [smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) for _ in range(expected + 3)]
            for s in clients:
                assert s.ehlo("client.test")[0] == 250
            for i, s in enumerate(clients):
                assert s.sendmail("carol@remote.test", ["alice@example.test"],
                                  f"Subject: loops {configured} {i}\r\n\r\nbody\r\n".encode()) == {}
                s.quit()
        finally:
            srv.stop()
