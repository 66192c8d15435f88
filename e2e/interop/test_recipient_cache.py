"""`[store] recipient_cache`: how long a running server reuses RCPT's "this mailbox exists" after a change the
CLI (another process) made under it — seen from smtplib. While the kept answer lasts, a removed mailbox is
still accepted at RCPT but its mail is refused with 451 at the end of DATA (the delivery fails in the
store): nothing is taken for a mailbox that is gone, and the client sends again. A mailbox added is found
at once (unknown users are never kept); `0` turns the cache off."""
import smtplib

from conftest import PetrelServer, mailbox_ids, run_cli

MESSAGE = b"From: x@remote.test\r\nSubject: cache\r\n\r\nhello\r\n"


def start(data_dir, ttl):
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--no-password")
    run_cli(data_dir, "mailbox", "add", "bob@example.test", "--no-password")
    return PetrelServer(data_dir, extra_config=f'\n[store]\nrecipient_cache = "{ttl}"\n').start()


def test_a_removed_mailbox_is_never_delivered_to_while_the_answer_is_kept(data_dir):
    srv = start(data_dir, "1h")
    try:
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as s:
            assert s.sendmail("x@remote.test", ["alice@example.test"], MESSAGE) == {}
            # Unknown users are not kept: carol, added below, is found at once.
            assert s.mail("x@remote.test")[0] == 250
            assert s.rcpt("carol@example.test")[0] == 550
            s.rset()
        run_cli(data_dir, "mailbox", "add", "carol@example.test", "--no-password")
        run_cli(data_dir, "mailbox", "remove", "alice@example.test")
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as s:
            s.ehlo("c.test")
            assert s.mail("x@remote.test")[0] == 250
            assert s.rcpt("carol@example.test")[0] == 250
            s.rset()
            # alice: the kept answer says she exists, so RCPT takes her; the store refuses the delivery.
            assert s.mail("x@remote.test")[0] == 250
            assert s.rcpt("alice@example.test")[0] == 250
            code, text = s.data(MESSAGE)
            assert (code, text) == (451, b"4.3.0 Error: a recipient's mailbox was just removed, try again later")
            # The session goes on; bob's mail is taken as usual.
            assert s.sendmail("x@remote.test", ["bob@example.test"], MESSAGE) == {}
        assert len(mailbox_ids(srv, "bob@example.test")) == 1
        assert "alice@example.test" not in run_cli(data_dir, "mailbox", "list").stdout
        assert "message refused: a recipient's mailbox was removed after RCPT" in srv.log()
    finally:
        assert srv.stop() == 0
        srv.kill()


def test_zero_asks_the_store_every_time(data_dir):
    srv = start(data_dir, "0s")
    try:
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as s:
            assert s.sendmail("x@remote.test", ["alice@example.test", "bob@example.test"], MESSAGE) == {}
        run_cli(data_dir, "mailbox", "remove", "alice@example.test")
        run_cli(data_dir, "mailbox", "quota", "bob@example.test", "none", "--messages", "1")
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as s:
            s.ehlo("c.test")
            assert s.mail("x@remote.test")[0] == 250
            code, text = s.rcpt("alice@example.test")
            assert code == 550 and text.startswith(b"5.1.1")
            code, text = s.rcpt("bob@example.test")
            assert code == 452 and text.startswith(b"4.2.2")
    finally:
        assert srv.stop() == 0
        srv.kill()
