"""The `system` account backend through real Linux-PAM, with Debian's libpam-wrapper: pam_wrapper
(LD_PRELOAD) points PAM at a private service directory, and pam_matrix checks passwords against a
private file, so no account of the machine is touched. Logins through poplib and smtplib.
"""
import poplib
import smtplib
from pathlib import Path

import pytest

from conftest import PetrelServer, run_cli

LIBDIR = Path("/usr/lib/x86_64-linux-gnu")
WRAPPER = LIBDIR / "libpam_wrapper.so"
MATRIX = LIBDIR / "pam_wrapper" / "pam_matrix.so"

pytestmark = pytest.mark.peer("pam_wrapper")


@pytest.fixture
def petrel(data_dir, tmp_path, monkeypatch):
    run_cli(data_dir, "domain", "add", "staff.test")
    run_cli(data_dir, "mailbox", "add", "ann@staff.test", "--no-password")
    passdb = tmp_path / "passdb"
    # pam_matrix: user:password:service
    passdb.write_text("ann:ann-unix-pw:petrel\nbob:bob-unix-pw:petrel\n")
    services = tmp_path / "pam.d"
    services.mkdir()
    (services / "petrel").write_text(f"auth required {MATRIX} passdb={passdb}\n"
                                     f"account required {MATRIX} passdb={passdb}\n")
    monkeypatch.setenv("LD_PRELOAD", str(WRAPPER))
    monkeypatch.setenv("PAM_WRAPPER", "1")
    monkeypatch.setenv("PAM_WRAPPER_SERVICE_DIR", str(services))
    srv = PetrelServer(data_dir, extra_config='\n[accounts]\ndefault = "system"\n').start()
    yield srv
    srv.stop()
    srv.kill()


def pop3(srv, user, password):
    p = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=30)
    try:
        p.user(user)
        return p.pass_(password).decode()
    except poplib.error_proto as e:
        return e.args[0].decode()
    finally:
        try:
            p.quit()
        except (poplib.error_proto, OSError):
            pass


def test_pam_logins(petrel):
    assert pop3(petrel, "ann@staff.test", "ann-unix-pw").startswith("+OK")
    assert pop3(petrel, "ann@staff.test", "wrong").startswith("-ERR [AUTH]")
    # bob is a PAM user but has no mailbox: he does not exist for mail.
    assert pop3(petrel, "bob@staff.test", "bob-unix-pw").startswith("-ERR [AUTH]")
    with smtplib.SMTP("127.0.0.1", petrel.ports["submission"], timeout=30) as s:
        s.ehlo("client.test")
        assert s.login("ann@staff.test", "ann-unix-pw")[0] == 235
    with smtplib.SMTP("127.0.0.1", petrel.ports["submission"], timeout=30) as s:
        s.ehlo("client.test")
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login("ann@staff.test", "nope")
        assert e.value.smtp_code == 535
