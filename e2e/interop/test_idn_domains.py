"""Internationalised local domains (docs/DOMAINS.md) through the real binary and clients this project did
not write: a domain added in its Unicode form receives mail addressed to either spelling (smtplib, with
SMTPUTF8 for the Unicode one), a POP3 login in either spelling opens the same mailbox (poplib), and an
invalid A-label is refused at RCPT with 553 5.1.3 and by the CLI."""
import poplib
import smtplib

from conftest import PetrelServer, run_cli

UNICODE = "bücher.example"
ALABEL = "xn--bcher-kva.example"


def test_both_spellings_reach_one_mailbox(data_dir):
    out = run_cli(data_dir, "domain", "add", UNICODE).stdout
    assert f"{ALABEL} ({UNICODE})" in out
    run_cli(data_dir, "mailbox", "add", f"anna@{UNICODE}", "--password-stdin", input_text="anna-password\n")
    # The second spelling of the same domain is the same domain.
    again = run_cli(data_dir, "domain", "add", ALABEL, check=False)
    assert again.returncode != 0 and "already exists" in (again.stderr + again.stdout)
    assert f"{ALABEL} ({UNICODE})\t1 mailbox(es)" in run_cli(data_dir, "domain", "list").stdout

    srv = PetrelServer(data_dir).start()
    try:
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as s:
            s.ehlo("client.remote.test")
            assert s.sendmail("carol@remote.test", [f"anna@{ALABEL}"],
                              b"Subject: ascii spelling\r\n\r\nbody\r\n") == {}
            assert s.sendmail("carol@remote.test", [f"anna@{UNICODE}"],
                              "Subject: unicode spelling\r\n\r\nbody\r\n".encode(),
                              mail_options=["SMTPUTF8", "BODY=8BITMIME"]) == {}
            # Both spellings in one transaction are one recipient: stored once.
            assert s.sendmail("carol@remote.test", [f"anna@{ALABEL}", f"Anna@{UNICODE}"],
                              "Subject: both\r\n\r\nbody\r\n".encode(), mail_options=["SMTPUTF8"]) == {}
            # An A-label that is not valid Punycode names nothing: 553 5.1.3 before any lookup.
            s.mail("carol@remote.test")
            code, msg = s.rcpt("anna@xn--zz.example")
            assert code == 553 and msg.startswith(b"5.1.3"), (code, msg)
            s.rset()

        subjects = []
        for login in (f"anna@{ALABEL}", f"anna@{UNICODE}"):
            p = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=10)
            try:
                p.user(login)   # poplib sends commands as UTF-8
                p.pass_("anna-password")
                count, _ = p.stat()
                got = []
                for n in range(1, count + 1):
                    _, lines, _ = p.retr(n)
                    got += [line.decode() for line in lines if line.startswith(b"Subject:")]
                subjects.append(sorted(got))
                p.quit()
            finally:
                p.close()
        assert subjects[0] == subjects[1] == ["Subject: ascii spelling", "Subject: both", "Subject: unicode spelling"]
    finally:
        srv.stop()


def test_cli_refuses_an_invalid_a_label(data_dir):
    proc = run_cli(data_dir, "domain", "add", "xn--zz.example", check=False)
    assert proc.returncode != 0
    assert "not a valid internationalised domain name" in proc.stderr
    assert "Traceback" not in proc.stderr and "Fatal error" not in proc.stderr
