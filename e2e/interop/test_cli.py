"""The admin CLI: domains and mailboxes, bad input, config check; and that it works on the data of a
running server."""
import smtplib
import subprocess

from conftest import PETREL, PetrelServer, mailbox_ids, rcpt_until, run_cli


def test_domain_and_mailbox_lifecycle(data_dir):
    assert "domain example.test added" in run_cli(data_dir, "domain", "add", "Example.TEST").stdout
    assert "example.test" in run_cli(data_dir, "domain", "list").stdout
    dup = run_cli(data_dir, "domain", "add", "example.test", check=False)
    assert dup.returncode != 0 and "already exists" in dup.stderr
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    listing = run_cli(data_dir, "mailbox", "list").stdout
    assert "alice@example.test\t0 message(s)" in listing
    run_cli(data_dir, "mailbox", "lock", "alice@example.test")
    assert "locked" in run_cli(data_dir, "mailbox", "list", "example.test").stdout
    run_cli(data_dir, "mailbox", "unlock", "alice@example.test")
    assert "locked" not in run_cli(data_dir, "mailbox", "list").stdout
    run_cli(data_dir, "mailbox", "passwd", "alice@example.test", "--password-stdin", input_text="new-password\n")
    busy = run_cli(data_dir, "domain", "remove", "example.test", check=False)
    assert busy.returncode != 0 and "mailbox" in busy.stderr
    run_cli(data_dir, "mailbox", "remove", "alice@example.test")
    run_cli(data_dir, "domain", "remove", "example.test")
    assert "no domains" in run_cli(data_dir, "domain", "list").stdout


def test_password_is_stored_hashed(data_dir):
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="very-secret-pw\n")
    db = (data_dir / "petrel.sqlite").read_bytes()
    files = [f for f in data_dir.rglob("*") if f.is_file()]  # the database, and the DKIM keys under dkim/
    for f in files:
        assert b"very-secret-pw" not in f.read_bytes()
    assert b"$scrypt$" in db or any(b"$scrypt$" in f.read_bytes() for f in files)


def test_bad_input_gets_clear_errors(data_dir):
    cases = [
        (["domain", "add", "not a domain"], "not a valid domain"),
        (["domain", "add", "trailing.dot."], "not a valid domain"),
        (["mailbox", "add", "no-at-sign", "--no-password"], "not a valid mailbox"),
        (["mailbox", "add", "alice@unknown.test", "--no-password"], "not a local domain"),
        (["mailbox", "remove", "ghost@example.test"], "does not exist"),
        (["mailbox", "show", "ghost@example.test"], "does not exist"),
        (["domain", "remove", "unknown.test"], "does not exist"),
    ]
    run_cli(data_dir, "domain", "add", "example.test")
    for args, expected in cases:
        proc = run_cli(data_dir, *args, check=False)
        assert proc.returncode != 0, args
        assert expected in proc.stderr, (args, proc.stderr)
        assert "Fatal error" not in proc.stderr


def test_short_or_missing_password_is_refused(data_dir):
    run_cli(data_dir, "domain", "add", "example.test")
    short = run_cli(data_dir, "mailbox", "add", "a@example.test", "--password-stdin", input_text="short\n", check=False)
    assert short.returncode != 0 and "too short" in short.stderr
    empty = run_cli(data_dir, "mailbox", "add", "a@example.test", "--password-stdin", input_text="", check=False)
    assert empty.returncode != 0


def test_help_for_every_command():
    for args in (["--help"], ["serve", "--help"], ["domain", "add", "--help"], ["mailbox", "add", "--help"],
                 ["mailbox", "show", "--help"], ["config", "check", "--help"]):
        out = subprocess.run([str(PETREL), *args], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and "USAGE" in out.stdout.upper(), args
    assert "Example" in subprocess.run([str(PETREL), "mailbox", "add", "--help"], capture_output=True, text=True).stdout


def test_config_check_reports_line_and_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\nhostname = "mx.test"\n\n[smtp]\nmax_message_size = "huge"\nlisten = ["127.0.0.1:99999"]\nbogus_key = 1\n')
    out = subprocess.run([str(PETREL), "config", "check", "--config", str(bad)], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "line 5" in out.stderr and "smtp.max_message_size" in out.stderr
    assert "line 6" in out.stderr and "smtp.listen" in out.stderr
    assert "line 7" in out.stderr and "bogus_key" in out.stderr
    serve = subprocess.run([str(PETREL), "serve", "--config", str(bad)], capture_output=True, text=True, timeout=30)
    assert serve.returncode != 0 and "line 5" in serve.stderr


def test_cli_acts_on_a_running_server(server):
    server.cli("mailbox", "add", "carol@example.test", "--password-stdin", input_text="carol-password\n")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.ehlo("c.test")
        assert s.sendmail("x@remote.test", ["carol@example.test"], b"Subject: new box\r\n\r\nhi\r\n") == {}
    assert len(mailbox_ids(server, "carol@example.test")) == 1
    server.cli("domain", "add", "second.test")
    server.cli("mailbox", "add", "dan@second.test", "--no-password")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.ehlo("c.test")
        assert s.sendmail("x@remote.test", ["dan@second.test"], b"Subject: new domain\r\n\r\nhi\r\n") == {}
    # Removed under the running server: refused once its kept answer is over ([store] recipient_cache).
    server.cli("mailbox", "remove", "dan@second.test")
    assert rcpt_until(server.smtp_port, "dan@second.test", 550)[1].startswith(b"5.1.1")
