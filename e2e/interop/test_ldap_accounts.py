"""The `ldap` account backend against a real OpenLDAP slapd (see ldap_server.py): POP3 and SMTP AUTH
logins through poplib/smtplib, recipients at RCPT (AD proxyAddresses aliases, userPrincipalName logins),
StartTLS and LDAPS with CA verification, and a directory that stops and comes back: temporary failures
(454 4.7.0, 451 4.3.0, -ERR [SYS/TEMP]) while it is down, never a permanent refusal; logins again after.
"""
import poplib
import smtplib
import time

import pytest

import ldap_server
from conftest import PetrelServer, run_cli

pytestmark = [pytest.mark.peer("slapd"), pytest.mark.peer("openssl")]


@pytest.fixture
def slapd(tmp_path):
    s = ldap_server.Slapd(tmp_path / "slapd").start()
    yield s
    s.stop()


def start_petrel(data_dir, slapd, **kwargs):
    run_cli(data_dir, "domain", "add", "corp.test")
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "local@example.test", "--password-stdin", input_text="local-password\n")
    # Short failure delays: these tests fail logins on purpose, many times from one IP.
    return PetrelServer(data_dir, failure_delay=10, extra_config=slapd.petrel_config(data_dir, **kwargs)).start()


@pytest.fixture
def petrel(data_dir, slapd):
    srv = start_petrel(data_dir, slapd)
    yield srv
    srv.stop()
    srv.kill()


def pop3_login(srv, user, password):
    p = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=30)
    try:
        p.user(user)
        return p.pass_(password).decode()
    finally:
        try:
            p.quit()
        except (poplib.error_proto, OSError):
            pass


def pop3_error(srv, user, password):
    with pytest.raises(poplib.error_proto) as e:
        pop3_login(srv, user, password)
    return e.value.args[0].decode()


def smtp_auth(srv, user, password):
    with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30) as s:
        s.ehlo("client.test")
        try:
            code, text = s.login(user, password)
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code, e.smtp_error.decode()
        except smtplib.SMTPResponseException as e:
            return e.smtp_code, e.smtp_error.decode()
        return code, text.decode()


def rcpt(srv, address):
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as s:
        s.ehlo("client.test")
        s.mail("sender@remote.test")
        return s.rcpt(address)


def test_pop3_and_smtp_logins_check_the_password_by_binding(petrel):
    assert pop3_login(petrel, "alice@corp.test", "alice-ldap-pw").startswith("+OK")
    assert pop3_error(petrel, "alice@corp.test", "wrong-password").startswith("-ERR [AUTH]")
    assert pop3_error(petrel, "nobody@corp.test", "whatever").startswith("-ERR [AUTH]")
    # An empty password would be an unauthenticated bind, which slapd accepts: never tried.
    assert smtp_auth(petrel, "bob@corp.test", "bob-ldap-pw")[0] == 235
    assert smtp_auth(petrel, "bob@corp.test", "nope")[0] == 535
    assert smtp_auth(petrel, "ghost@corp.test", "nope")[0] == 535
    listing = run_cli(petrel.data_dir, "domain", "list", "--config", str(petrel.config_path)).stdout
    lines = {line.split("\t")[0]: line for line in listing.splitlines()}
    assert lines["corp.test"].endswith("accounts: ldap") and lines["example.test"].endswith("accounts: builtin")
    # The builtin domain next to it still uses its own hashes.
    assert pop3_login(petrel, "local@example.test", "local-password").startswith("+OK")
    assert smtp_auth(petrel, "local@example.test", "alice-ldap-pw")[0] == 535


def test_ad_user_principal_name_logs_in_to_the_mail_mailbox(petrel):
    assert pop3_login(petrel, "carol.upn@corp.test", "carol-ldap-pw").startswith("+OK")
    listing = petrel.cli("mailbox", "list").stdout
    assert "carol@corp.test" in listing and "carol.upn@corp.test" not in listing


def test_a_directory_mail_value_never_opens_a_mailbox_of_another_backend(petrel):
    # eve's entry says mail: local@example.test, but example.test is a builtin domain.
    with smtplib.SMTP("127.0.0.1", petrel.smtp_port, timeout=30) as s:
        s.ehlo("client.test")
        s.sendmail("sender@remote.test", ["local@example.test"], b"Subject: builtin\r\n\r\nfor local only\r\n")
    p = poplib.POP3("127.0.0.1", petrel.pop3_port, timeout=30)
    p.user("eve@corp.test")
    assert p.pass_("eve-ldap-pw").startswith(b"+OK")
    assert p.stat()[0] == 0, "eve must not see local@example.test's mail"
    p.quit()
    listing = petrel.cli("mailbox", "list").stdout
    assert "eve@corp.test" in listing


def test_recipients_exist_as_the_directory_says_and_aliases_deliver_to_the_owner(petrel):
    assert rcpt(petrel, "alice@corp.test")[0] == 250
    assert rcpt(petrel, "nobody@corp.test")[0] == 550
    with smtplib.SMTP("127.0.0.1", petrel.smtp_port, timeout=30) as s:
        s.ehlo("client.test")
        s.sendmail("sender@remote.test", ["a.smith@corp.test"],
                   b"From: sender@remote.test\r\nTo: a.smith@corp.test\r\nSubject: alias\r\n\r\nvia proxyAddresses\r\n")
    p = poplib.POP3("127.0.0.1", petrel.pop3_port, timeout=30)
    p.user("alice@corp.test")
    p.pass_("alice-ldap-pw")
    count, _ = p.stat()
    assert count == 1
    body = b"\n".join(p.retr(1)[1])
    assert b"via proxyAddresses" in body
    p.quit()


def test_pickup_files_reach_directory_users_through_the_directory(data_dir, slapd, tmp_path):
    """A file in the pickup directory asks the domain's account backend who exists, as SMTP RCPT does: a
    directory user who never logged in or received mail (no mailbox yet) gets it, under an alias too; an
    address the directory does not know is skipped."""
    pickup = tmp_path / "pickup"
    pickup.mkdir()
    srv = start_petrel(data_dir, slapd, extra=f'[delivery]\npickup_dir = "{pickup}"\npoll_interval = "1s"\n')
    try:
        temp = pickup / ".incoming"
        temp.write_bytes(b"From: local@example.test\nTo: a.smith@corp.test, nobody@corp.test\n"
                         b"Subject: from pickup\n\nhello directory\n")
        temp.rename(pickup / "one.eml")
        # The file leaves the directory before its message is committed: wait for the mailbox itself.
        deadline = time.monotonic() + 30
        while True:
            p = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=30)
            p.user("alice@corp.test")
            p.pass_("alice-ldap-pw")
            count, _ = p.stat()
            if count or time.monotonic() > deadline:
                break
            p.quit()
            time.sleep(0.5)
        assert count == 1, srv.log()
        assert b"hello directory" in b"\n".join(p.retr(1)[1])
        p.quit()
        assert not (pickup / "one.eml").exists()
        assert "nobody@corp.test" in srv.log()
    finally:
        srv.stop()
        srv.kill()


@pytest.mark.parametrize("transport", ["ldaps", "none"])
def test_ldaps_and_explicitly_allowed_plain_transport(data_dir, slapd, transport):
    srv = start_petrel(data_dir, slapd, transport=transport)
    try:
        assert pop3_login(srv, "dave@corp.test", "dave-ldap-pw").startswith("+OK")
        assert pop3_error(srv, "dave@corp.test", "bad").startswith("-ERR [AUTH]")
    finally:
        srv.stop()


def test_untrusted_directory_certificate_is_a_temporary_failure(data_dir, slapd, tmp_path):
    other_ca, _, _ = ldap_server.make_ca(tmp_path / "other-ca", "other")
    srv = start_petrel(data_dir, slapd, ca=other_ca)
    try:
        code, text = smtp_auth(srv, "alice@corp.test", "alice-ldap-pw")
        assert (code, text.split()[0]) == (454, "4.7.0"), text
        code, text = rcpt(srv, "alice@corp.test")
        assert (code, text.decode().split()[0]) == (451, "4.3.0")
        assert "LDAP directory unavailable" in srv.log()
    finally:
        srv.stop()


def test_directory_down_is_temporary_and_recovers_after_restart(petrel, slapd):
    # A connection to the directory is open and reused before it goes away.
    assert pop3_login(petrel, "alice@corp.test", "alice-ldap-pw").startswith("+OK")
    assert rcpt(petrel, "dave@corp.test")[0] == 250  # now in the positive cache (60 s)
    slapd.stop()
    assert rcpt(petrel, "dave@corp.test")[0] == 250, "a cached recipient is accepted while the directory is down"
    code, text = smtp_auth(petrel, "alice@corp.test", "alice-ldap-pw")
    assert (code, text.split()[0]) == (454, "4.7.0"), text
    assert pop3_error(petrel, "bob@corp.test", "bob-ldap-pw").startswith("-ERR [SYS/TEMP]")
    code, text = rcpt(petrel, "bob@corp.test")  # never looked up before: nothing cached
    assert (code, text.decode().split()[0]) == (451, "4.3.0")
    code, text = rcpt(petrel, "nobody@corp.test")
    assert code == 451, "an unreachable directory must never say 'no such user'"
    assert "LDAP directory unavailable" in petrel.log()

    slapd.start()
    deadline = time.time() + 60
    while True:
        code, _ = smtp_auth(petrel, "alice@corp.test", "alice-ldap-pw")
        if code == 235 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert code == 235
    assert pop3_login(petrel, "bob@corp.test", "bob-ldap-pw").startswith("+OK")
    assert rcpt(petrel, "bob@corp.test")[0] == 250
    assert rcpt(petrel, "nobody@corp.test")[0] == 550


def test_a_directory_that_stops_answering_times_out_as_a_temporary_failure(petrel, slapd):
    import signal
    assert pop3_login(petrel, "alice@corp.test", "alice-ldap-pw").startswith("+OK")
    # SIGSTOP: connections are still accepted by the kernel, but nothing answers (ldap.timeout = 3s).
    slapd.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.time()
        code, text = smtp_auth(petrel, "alice@corp.test", "alice-ldap-pw")
        elapsed = time.time() - started
        assert (code, text.split()[0]) == (454, "4.7.0"), text
        # smtplib tries PLAIN then LOGIN: two lookups, each at most a reused and a new connection timing out.
        assert elapsed < 28, elapsed
        code, text = rcpt(petrel, "dave@corp.test")
        assert (code, text.decode().split()[0]) == (451, "4.3.0")
        # Logins hanging on the directory hold its own threads, not the ones builtin logins hash on.
        import threading
        hanging = [threading.Thread(target=smtp_auth, args=(petrel, "bob@corp.test", "bob-ldap-pw")) for _ in range(4)]
        for t in hanging:
            t.start()
        time.sleep(0.5)
        started = time.time()
        assert pop3_login(petrel, "local@example.test", "local-password").startswith("+OK")
        builtin_elapsed = time.time() - started
        print(f"builtin login while the directory hangs: {builtin_elapsed:.2f}s")
        assert builtin_elapsed < 5.5, builtin_elapsed
        for t in hanging:
            t.join(60)
    finally:
        slapd.proc.send_signal(signal.SIGCONT)
    deadline = time.time() + 60
    while smtp_auth(petrel, "alice@corp.test", "alice-ldap-pw")[0] != 235:
        assert time.time() < deadline, "no recovery after SIGCONT"
        time.sleep(0.2)
