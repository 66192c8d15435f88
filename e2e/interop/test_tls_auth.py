"""TLS and authenticated submission against real clients: smtplib (starttls, login, SMTP_SSL), poplib
(stls, POP3_SSL), openssl s_client, swaks --tls --auth and mpop with TLS. Also the STARTTLS
pipelining-injection case (CVE-2011-0411 class) and certificate reload on SIGHUP."""
import base64
import os
import poplib
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import PetrelServer, mailbox_ids, raw_message, run_cli


def client_context():
    """Petrel's generated certificate is self-signed: tests check the chain by hand where it matters."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture
def strict(data_dir):
    """A server with the safe default: no passwords without TLS."""
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    run_cli(data_dir, "mailbox", "add", "bob@example.test", "--password-stdin", input_text="bob-password\n")
    srv = PetrelServer(data_dir, allow_plaintext="false").start()
    yield srv
    srv.stop()
    srv.kill()


def test_self_signed_certificate_generated_and_logged(strict):
    cert = strict.data_dir / "tls" / "cert.pem"
    key = strict.data_dir / "tls" / "key.pem"
    assert cert.exists() and key.exists()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert "generated a self-signed TLS certificate" in strict.log() and "sha256=" in strict.log()
    pem = ssl.get_server_certificate(("127.0.0.1", strict.ports["submissions"]))
    assert pem.strip() == cert.read_text().strip()


def test_no_auth_offered_without_tls_but_after_starttls(strict):
    with smtplib.SMTP("127.0.0.1", strict.ports["submission"], timeout=10) as s:
        s.ehlo("c.test")
        assert s.has_extn("starttls")
        assert not s.has_extn("auth")
        code, msg = s.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice@example.test\0alice-password").decode())
        assert code == 538
        s.starttls(context=client_context())
        s.ehlo("c.test")
        assert s.has_extn("auth") and not s.has_extn("starttls")
        assert "PLAIN" in s.esmtp_features["auth"] and "LOGIN" in s.esmtp_features["auth"]


def test_submission_requires_auth_then_delivers(strict):
    with smtplib.SMTP("127.0.0.1", strict.ports["submission"], timeout=10) as s:
        s.starttls(context=client_context())
        s.ehlo("c.test")
        code, msg = s.mail("alice@example.test")
        assert code == 530 and msg.startswith(b"5.7.0")
        s.rset()
        s.login("alice@example.test", "alice-password")
        assert s.sendmail("alice@example.test", ["bob@example.test"], b"Subject: submitted\r\n\r\nhello\r\n") == {}
    stored = raw_message(strict, "bob@example.test", mailbox_ids(strict, "bob@example.test")[0])
    received = stored.split(b"\r\n\r\n")[0]
    assert b"with ESMTPSA" in received and b"TLSv1." in received
    assert b"cipher TLS_" in received or b"cipher ECDHE" in received   # the negotiated cipher is named
    assert b"alice-password" not in stored
    assert "alice-password" not in strict.log()
    accepted = [l for l in strict.log().splitlines() if "smtp message accepted" in l]
    assert accepted and "auth=alice@example.test" in accepted[-1] and "tls=\"TLSv1." in accepted[-1]


def test_sender_must_match_the_login(strict):
    with smtplib.SMTP("127.0.0.1", strict.ports["submission"], timeout=10) as s:
        s.starttls(context=client_context())
        s.login("alice@example.test", "alice-password")
        code, _ = s.mail("bob@example.test")
        assert code == 553


def test_implicit_tls_submission_with_login_mechanism(strict):
    with smtplib.SMTP_SSL("127.0.0.1", strict.ports["submissions"], timeout=10, context=client_context()) as s:
        s.ehlo("c.test")
        assert not s.has_extn("starttls")
        s.user, s.password = "alice@example.test", "alice-password"
        code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        assert code == 235
        assert s.sendmail("alice@example.test", ["bob@example.test"], b"Subject: 465\r\n\r\nhi\r\n") == {}
    assert len(mailbox_ids(strict, "bob@example.test")) == 1


def test_auth_errors(strict):
    with smtplib.SMTP("127.0.0.1", strict.ports["submission"], timeout=30) as s:
        s.starttls(context=client_context())
        s.ehlo("c.test")
        assert s.docmd("AUTH", "PLAIN not*base64")[0] == 501
        assert s.docmd("AUTH", "PLAIN")[0] == 334
        assert s.docmd("*")[0] == 501
        assert s.docmd("AUTH", "CRAM-MD5")[0] == 504
        bad = base64.b64encode(b"\0alice@example.test\0wrong-password").decode()
        assert s.docmd("AUTH", "PLAIN " + bad)[0] == 535
        good = base64.b64encode(b"\0alice@example.test\0alice-password").decode()
        assert s.docmd("AUTH", "PLAIN " + good)[0] == 235
        assert s.docmd("AUTH", "PLAIN " + good)[0] == 503


def test_too_many_auth_failures_close_the_connection(strict):
    c = socket.create_connection(("127.0.0.1", strict.ports["submissions"]), timeout=30)
    tls = client_context().wrap_socket(c)
    f = tls.makefile("rb")
    assert f.readline().startswith(b"220")
    tls.sendall(b"EHLO c.test\r\n")
    while not f.readline().startswith(b"250 "):
        pass
    bad = base64.b64encode(b"\0alice@example.test\0nope-nope").decode()
    codes = []
    for _ in range(3):
        tls.sendall(f"AUTH PLAIN {bad}\r\n".encode())
        line = f.readline()
        codes.append(line[:3])
    assert codes[:2] == [b"535", b"535"]
    tail = codes[2] + f.read()
    assert b"421" in tail


def test_starttls_discards_pipelined_commands(strict):
    """Bytes pipelined after STARTTLS in the same packet must never run after the handshake."""
    raw = socket.create_connection(("127.0.0.1", strict.smtp_port), timeout=10)
    f = raw.makefile("rb")
    assert f.readline().startswith(b"220")
    raw.sendall(b"EHLO c.test\r\n")
    while not f.readline().startswith(b"250 "):
        pass
    raw.sendall(b"STARTTLS\r\nMAIL FROM:<evil@remote.test>\r\nRCPT TO:<alice@example.test>\r\n")
    assert f.readline().startswith(b"220 2.0.0")
    tls = client_context().wrap_socket(raw)
    tf = tls.makefile("rb")
    tls.sendall(b"RCPT TO:<alice@example.test>\r\n")
    # Had the injected MAIL run, this RCPT would be accepted; after a proper reset it needs EHLO/MAIL first.
    assert tf.readline().startswith(b"503")
    tls.sendall(b"EHLO c.test\r\n")
    first = tf.readline()
    assert first.startswith(b"250-"), first


@pytest.mark.peer("openssl")
@pytest.mark.parametrize("proto,port_key", [("smtp", "smtp"), ("pop3", "pop3")])
def test_openssl_s_client_starttls_and_no_session_tickets(strict, proto, port_key):
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{strict.ports[port_key]}", "-starttls", proto,
                          "-brief", "-no_ign_eof"], input=b"QUIT\r\n", capture_output=True, timeout=30)
    text = (out.stdout + out.stderr).decode(errors="replace")
    assert "Protocol version: TLSv1.3" in text or "Protocol version: TLSv1.2" in text, text
    assert "Ciphersuite:" in text
    full = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{strict.ports[port_key]}", "-starttls", proto,
                           "-no_ign_eof"], input=b"QUIT\r\n", capture_output=True, timeout=30)
    ftext = (full.stdout + full.stderr).decode(errors="replace")
    assert "New Session Ticket" not in ftext and "session ticket lifetime hint" not in ftext.lower(), ftext


def test_tls_1_1_is_refused(strict):
    ctx = client_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        with socket.create_connection(("127.0.0.1", strict.ports["submissions"]), timeout=10) as c:
            with ctx.wrap_socket(c) as t:
                t.recv(10)


def test_poplib_stls_and_pop3s(strict):
    with smtplib.SMTP_SSL("127.0.0.1", strict.ports["submissions"], timeout=10, context=client_context()) as s:
        s.login("bob@example.test", "bob-password")
        s.sendmail("bob@example.test", ["alice@example.test"], b"Subject: for pop\r\n\r\nbody\r\n")
    p = poplib.POP3("127.0.0.1", strict.pop3_port, timeout=10)
    caps = p.capa()
    assert "STLS" in caps and "USER" not in caps
    with pytest.raises(poplib.error_proto):
        p.user("alice@example.test")
    p.stls(context=client_context())
    caps = p.capa()
    assert "STLS" not in caps and "USER" in caps
    p.user("alice@example.test")
    p.pass_("alice-password")
    assert p.stat()[0] == 1
    p.quit()
    p = poplib.POP3_SSL("127.0.0.1", strict.ports["pop3s"], timeout=10, context=client_context())
    p.user("alice@example.test")
    p.pass_("alice-password")
    assert b"Subject: for pop" in b"\r\n".join(p.retr(1)[1])
    p.quit()


@pytest.mark.peer("swaks")
def test_swaks_tls_auth(strict):
    out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(strict.ports["submission"]), "--tls",
                          "--auth", "PLAIN", "--auth-user", "alice@example.test", "--auth-password", "alice-password",
                          "--from", "alice@example.test", "--to", "bob@example.test", "--header", "Subject: swaks tls"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "235 2.7.0" in out.stdout and "250 2.0.0 Ok: queued as" in out.stdout
    assert len(mailbox_ids(strict, "bob@example.test")) == 1


@pytest.mark.peer("mpop")
def test_mpop_with_starttls(strict, tmp_path):
    with smtplib.SMTP_SSL("127.0.0.1", strict.ports["submissions"], timeout=10, context=client_context()) as s:
        s.login("alice@example.test", "alice-password")
        s.sendmail("alice@example.test", ["bob@example.test"], b"Subject: mpop tls\r\n\r\nbody\r\n")
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    rc = tmp_path / "mpoprc"
    rc.write_text(f"""account petrel
host 127.0.0.1
port {strict.pop3_port}
tls on
tls_starttls on
tls_certcheck off
auth user
user bob@example.test
password bob-password
delivery maildir {maildir}
keep on
uidls_file {tmp_path}/uidls
""")
    rc.chmod(0o600)
    out = subprocess.run(["mpop", "--file", str(rc), "petrel"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(list((maildir / "new").iterdir())) == 1


@pytest.mark.peer("openssl")
def test_sighup_reloads_certificate_without_dropping_connections(strict, tmp_path):
    old_pem = ssl.get_server_certificate(("127.0.0.1", strict.ports["submissions"]))
    open_conn = smtplib.SMTP_SSL("127.0.0.1", strict.ports["submissions"], timeout=10, context=client_context())
    open_conn.ehlo("c.test")
    tls_dir = strict.data_dir / "tls"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=reloaded.test", "-days", "2", "-keyout", str(tmp_path / "k.pem"),
                    "-out", str(tmp_path / "c.pem")], check=True, capture_output=True)
    shutil.copy(tmp_path / "k.pem", tls_dir / "key.pem")
    shutil.copy(tmp_path / "c.pem", tls_dir / "cert.pem")
    strict.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while "TLS certificate reloaded" not in strict.log() and time.time() < deadline:
        time.sleep(0.05)
    new_pem = ssl.get_server_certificate(("127.0.0.1", strict.ports["submissions"]))
    assert new_pem != old_pem
    assert new_pem.strip() == (tls_dir / "cert.pem").read_text().strip()
    assert open_conn.noop()[0] == 250           # the connection opened before the reload still works
    open_conn.quit()
