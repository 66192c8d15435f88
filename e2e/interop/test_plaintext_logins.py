"""Plaintext logins per listener and per client network (issue 13 item 9), through real sockets with
poplib and smtplib: with `[auth] allow_plaintext = false`, a `plaintext_auth_listen` POP3 listener takes
USER/PASS without STLS while the normal POP3 port refuses it, and 587-style submission still refuses AUTH
before STARTTLS (and offers it after). `[auth] plaintext_networks` opens every listener for clients in
those networks only.
"""
import base64
import poplib
import smtplib
import ssl

import pytest

from conftest import PetrelServer, run_cli


def tls_context():
    # The server's certificate is self-signed (generated in the data directory): encryption, no trust.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def start(data_dir, **settings):
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    return PetrelServer(data_dir, allow_plaintext="false", **settings).start()


def pop3_plain_login(port):
    """USER/PASS without STLS; returns the STAT answer, or raises poplib.error_proto with the -ERR."""
    p = poplib.POP3("127.0.0.1", port, timeout=10)
    try:
        p.user("alice@example.test")
        p.pass_("alice-password")
        return p.stat()
    finally:
        try:
            p.quit()
        except (poplib.error_proto, OSError):
            p.close()


def submission_before_tls(port):
    """(AUTH offered before STARTTLS?, reply code of a raw AUTH PLAIN before STARTTLS)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("client.test")
        offered = "auth" in s.esmtp_features
        token = base64.b64encode(b"\0alice@example.test\0alice-password").decode()
        code, _ = s.docmd("AUTH", "PLAIN " + token)
        return offered, code


@pytest.fixture
def listener_server(data_dir):
    srv = start(data_dir, pop3_extra='plaintext_auth_listen = ["127.0.0.1:0"]',
                submission_extra='plaintext_auth_listen = ["127.0.0.1:0"]')
    yield srv
    srv.stop()
    srv.kill()


def test_one_pop3_listener_allows_user_pass_the_others_need_tls(listener_server):
    srv = listener_server
    assert "pop3_plaintext" in srv.ports and srv.ports["pop3_plaintext"] != srv.ports["pop3"]
    assert "plaintext_auth=allowed" in srv.log()
    # The plaintext listener: USER/PASS work without STLS (and STLS is still offered there).
    assert pop3_plain_login(srv.ports["pop3_plaintext"]) == (0, 0)
    p = poplib.POP3("127.0.0.1", srv.ports["pop3_plaintext"], timeout=10)
    try:
        capa = p.capa()
        assert "STLS" in capa and "USER" in capa
    finally:
        p.quit()
    # The normal POP3 port refuses the same login before STLS ...
    with pytest.raises(poplib.error_proto) as refused:
        pop3_plain_login(srv.pop3_port)
    assert refused.value.args[0].startswith(b"-ERR")
    # ... and accepts it after STLS.
    p = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=10)
    try:
        p.stls(context=tls_context())
        p.user("alice@example.test")
        p.pass_("alice-password")
        assert p.stat() == (0, 0)
    finally:
        p.quit()


def test_submission_still_refuses_auth_before_starttls(listener_server):
    srv = listener_server
    offered, code = submission_before_tls(srv.ports["submission"])
    assert not offered and code == 538, "587-style submission: AUTH only after STARTTLS"
    with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=10) as s:
        s.ehlo("client.test")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            s.login("alice@example.test", "alice-password")
        s.starttls(context=tls_context())
        s.ehlo("client.test")
        assert "auth" in s.esmtp_features
        assert s.login("alice@example.test", "alice-password")[0] == 235
    # Port 25 offers no AUTH before STARTTLS either.
    offered, code = submission_before_tls(srv.smtp_port)
    assert not offered and code == 538


def test_submission_plaintext_listener_takes_auth_and_still_requires_it(listener_server):
    srv = listener_server
    port = srv.ports["submission_plaintext"]
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("client.test")
        assert "auth" in s.esmtp_features and "starttls" in s.esmtp_features
        code, _ = s.docmd("MAIL FROM:<alice@example.test>")
        assert code == 530, "submission rules still apply: AUTH first"
        assert s.login("alice@example.test", "alice-password")[0] == 235
        assert s.sendmail("alice@example.test", ["alice@example.test"], b"Subject: lan\r\n\r\nhi\r\n") == {}


@pytest.mark.parametrize("networks,open_", [('["127.0.0.0/8"]', True), ('["10.0.0.0/8", "::1/128"]', False)])
def test_plaintext_networks_open_every_listener_for_those_clients_only(data_dir, networks, open_):
    srv = start(data_dir, auth_extra=f"plaintext_networks = {networks}")
    try:
        offered, code = submission_before_tls(srv.ports["submission"])
        if open_:
            assert offered and code == 235
            assert pop3_plain_login(srv.pop3_port) == (0, 0)
        else:
            assert not offered and code == 538
            with pytest.raises(poplib.error_proto):
                pop3_plain_login(srv.pop3_port)
    finally:
        srv.stop()
        srv.kill()
