"""SASL SCRAM-SHA-256 (RFC 7677) with Python's `scramp` as the client (nobody here wrote it), over real
sockets: SMTP AUTH on the submission port and POP3 AUTH, success (the server's signature checked by
scramp) and a wrong password; not offered unless [accounts] scram = true.
"""
import base64
import poplib
import smtplib

import pytest

from conftest import PetrelServer, run_cli

import scramp  # noqa: E402  (e2e/requirements.txt)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def unb64(text):
    return base64.b64decode(text).decode()


@pytest.fixture
def srv(data_dir):
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    s = PetrelServer(data_dir, extra_config="\n[accounts]\nscram = true\n").start()
    yield s
    s.stop()
    s.kill()


def smtp_scram(srv, user, password):
    client = scramp.ScramClient(["SCRAM-SHA-256"], user, password)
    with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30) as s:
        s.ehlo("client.test")
        assert "SCRAM-SHA-256" in s.esmtp_features["auth"].split()
        code, text = s.docmd("AUTH", "SCRAM-SHA-256 " + b64(client.get_client_first()))
        assert code == 334, text
        client.set_server_first(unb64(text.decode()))
        code, text = s.docmd(b64(client.get_client_final()))
        if code != 334:
            return code, text.decode(), client
        client.set_server_final(unb64(text.decode()))  # raises if the server's signature is wrong
        code, text = s.docmd("")
        return code, text.decode(), client


def test_smtp_scram_sha_256_success_and_wrong_password(srv):
    code, text, _ = smtp_scram(srv, "alice@example.test", "alice-password")
    assert code == 235, text
    code, text, _ = smtp_scram(srv, "alice@example.test", "not-the-password")
    assert (code, text.split()[0]) == (535, "5.7.8")
    # An unknown user gets the same kind of exchange and the same answer.
    code, _, _ = smtp_scram(srv, "ghost@example.test", "whatever")
    assert code == 535


def pop3_scram(srv, user, password):
    client = scramp.ScramClient(["SCRAM-SHA-256"], user, password)
    p = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=30)
    try:
        caps = p.capa()
        assert "SCRAM-SHA-256" in caps["SASL"]
        resp = p._shortcmd("AUTH SCRAM-SHA-256 " + b64(client.get_client_first())).decode()
        assert resp.startswith("+ ")
        client.set_server_first(unb64(resp[2:]))
        resp = p._shortcmd(b64(client.get_client_final())).decode()
        assert resp.startswith("+ ")
        client.set_server_final(unb64(resp[2:]))
        resp = p._shortcmd("").decode()
        count, _ = p.stat()
        return resp, count
    finally:
        try:
            p.quit()
        except (poplib.error_proto, OSError):
            pass


def test_pop3_scram_sha_256_success_and_wrong_password(srv):
    resp, count = pop3_scram(srv, "alice@example.test", "alice-password")
    assert resp.startswith("+OK") and count == 0
    with pytest.raises(poplib.error_proto) as e:
        pop3_scram(srv, "alice@example.test", "wrong")
    assert e.value.args[0].startswith(b"-ERR [AUTH]")


def test_scram_is_not_offered_by_default(data_dir):
    run_cli(data_dir, "domain", "add", "example.test")
    s = PetrelServer(data_dir).start()
    try:
        with smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=30) as c:
            c.ehlo("client.test")
            assert "SCRAM-SHA-256" not in c.esmtp_features["auth"]
            code, _ = c.docmd("AUTH", "SCRAM-SHA-256")
            assert code == 504
    finally:
        s.stop()
