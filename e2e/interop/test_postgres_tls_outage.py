"""`petrel serve` on PostgreSQL over TLS, and PostgreSQL going away under a running node.

TLS: a cluster of its own offers TLS with a certificate from a CA made for the run (pg_cluster.py).
`tls = "require"` with `ca_file` connects encrypted (seen in PostgreSQL's pg_stat_ssl); without the CA the
certificate check fails and the start stops with the reason; `prefer` encrypts without checking.

Outage: PostgreSQL stops while Petrel serves. SMTP answers with a 4xx (the client keeps the message and
retries; nothing is acknowledged that was not committed), the node stays up, and once PostgreSQL is
back, mail is accepted again and read over POP3 without restarting Petrel."""
import poplib
import smtplib
import time

import pytest

from conftest import PetrelServer, config_cli as cli

pytestmark = pytest.mark.peer("postgresql")


@pytest.fixture(scope="module")
def tls_cluster():
    from pg_cluster import PostgresCluster
    c = PostgresCluster().start(tls=True)
    yield c
    c.stop()


def petrel_on(cluster, data_dir, **store):
    srv = PetrelServer(data_dir, extra_config=cluster.store_section(**store))
    srv.write_config()
    return srv


def add_alice(srv):
    cli(srv.config_path, "domain", "add", "example.test", check=False)
    cli(srv.config_path, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n",
        check=False)
    assert "alice@example.test" in cli(srv.config_path, "mailbox", "list")


def send(srv, subject):
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as s:
        s.ehlo("c.test")
        return s.sendmail("carol@remote.test", ["alice@example.test"],
                          f"Subject: {subject}\r\nMessage-ID: <{subject}@remote.test>\r\n\r\nbody\r\n".encode())


def petrel_connections_use_tls(cluster):
    """(all of Petrel's connections encrypted, how many) from PostgreSQL's own view."""
    row = cluster.psql("SELECT coalesce(bool_and(s.ssl), false), count(*) FROM pg_stat_ssl s "
                       "JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'petrel'").strip()
    flag, count = row.split("|")
    return flag == "t", int(count)


@pytest.mark.peer("openssl")
def test_require_with_the_ca_file_connects_encrypted(tls_cluster, data_dir):
    srv = petrel_on(tls_cluster, data_dir, tls="require", ca_file=tls_cluster.ca_file)
    add_alice(srv)
    srv.start()
    try:
        assert send(srv, "over-tls") == {}
        encrypted, count = petrel_connections_use_tls(tls_cluster)
        assert count >= 1 and encrypted, (encrypted, count)
        assert tls_cluster.psql("SELECT count(*) FROM deliveries").strip() != "0"
    finally:
        assert srv.stop() == 0


@pytest.mark.peer("openssl")
def test_require_without_the_ca_stops_the_start_with_the_reason(tls_cluster, data_dir):
    srv = petrel_on(tls_cluster, data_dir, tls="require")
    with pytest.raises(AssertionError, match="petrel exited at start"):
        srv.start(timeout=30)
    log = srv.log().lower()
    assert "certificate" in log, srv.log()[-2000:]


@pytest.mark.peer("openssl")
def test_an_unreadable_ca_file_stops_the_start(tls_cluster, data_dir, tmp_path):
    srv = petrel_on(tls_cluster, data_dir, tls="require", ca_file=tmp_path / "missing-ca.pem")
    with pytest.raises(AssertionError, match="petrel exited at start"):
        srv.start(timeout=30)
    assert "missing-ca.pem" in srv.log() and "ca_file" in srv.log()


@pytest.mark.peer("openssl")
def test_prefer_encrypts_without_checking_the_certificate(tls_cluster, data_dir):
    srv = petrel_on(tls_cluster, data_dir, tls="prefer")
    add_alice(srv)
    srv.start()
    try:
        assert send(srv, "prefer") == {}
        encrypted, count = petrel_connections_use_tls(tls_cluster)
        assert count >= 1 and encrypted, (encrypted, count)
    finally:
        assert srv.stop() == 0


def test_postgresql_going_away_gets_4xx_and_mail_flows_again_when_it_is_back(cluster, data_dir):
    srv = petrel_on(cluster, data_dir)
    add_alice(srv)
    srv.start()
    try:
        assert send(srv, "before") == {}
        cluster.stop_server()
        # A pooled connection that PostgreSQL's shutdown has closed, or a connection attempt made while it
        # was shutting down, fails at once (57P01 / 57P03). Once it is gone, the store waits 10 s for a
        # connection. Both answer 451 with the reason in the log; the wait path shows within a few tries.
        waited = "no connection within 10 s (is the database reachable?)"
        for attempt in range(4):
            refused = None
            try:
                send(srv, f"during-{attempt}")
            except smtplib.SMTPResponseException as e:  # SMTPDataError
                refused = e.smtp_code
            except smtplib.SMTPRecipientsRefused as e:
                refused = next(iter(e.recipients.values()))[0]
            assert refused == 451, refused
            # At RCPT ("recipient lookup failed") or at DATA ("message store failed"), with the store's reason.
            failures = [l for l in srv.log().splitlines()
                        if "petrel.smtp" in l and 'error="storage error: PostgreSQL' in l]
            assert len(failures) == attempt + 1, srv.log()[-3000:]
            if waited in failures[-1]:
                break
        assert waited in srv.log(), srv.log()[-3000:]
        assert srv.proc.poll() is None, "petrel is still running"
        cluster.start_server()
        deadline = time.time() + 60
        while True:
            try:
                assert send(srv, "after") == {}
                break
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException):
                if time.time() > deadline:
                    raise
                time.sleep(1)
        p = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=30)
        p.user("alice@example.test")
        p.pass_("alice-password")
        subjects = []
        for i in range(1, p.stat()[0] + 1):
            subjects += [l for l in p.top(i, 0)[1] if l.startswith(b"Subject: ")]
        p.quit()
        assert sorted(subjects) == [b"Subject: after", b"Subject: before"]
    finally:
        assert srv.stop() == 0
