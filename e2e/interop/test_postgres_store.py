"""`petrel serve` on the PostgreSQL store ([store] backend = "postgresql"), against a real PostgreSQL
started for the run (pg_cluster.py): the CLI creates the domain and mailbox in the database, smtplib
sends a message, poplib reads it back byte for byte and deletes it, and the rows are in PostgreSQL, not
in a SQLite file."""
import poplib
import smtplib

import pytest

from conftest import PetrelServer, config_cli as cli


@pytest.mark.peer("postgresql")
def test_serve_on_postgresql_smtp_to_pop3(cluster, data_dir):
    srv = PetrelServer(data_dir, extra_config=cluster.store_section())
    srv.write_config()
    cli(srv.config_path, "domain", "add", "example.test")
    cli(srv.config_path, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    assert "alice@example.test" in cli(srv.config_path, "mailbox", "list")
    srv.start()
    try:
        body = (b"Subject: on postgres\r\nMessage-ID: <pg1@remote.test>\r\n\r\nline one\r\n.leading dot\r\n"
                + (b"x" * 70 + b"\r\n") * 5000 + b"end\r\n")
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as s:
            s.ehlo("c.test")
            assert s.sendmail("carol@remote.test", ["alice@example.test"], body) == {}
        # The message is in PostgreSQL: one delivery, its body in parts, and no SQLite file was made.
        assert cluster.psql("SELECT count(*) FROM deliveries").strip() == "1"
        assert int(cluster.psql("SELECT count(*) FROM message_parts").strip()) >= 2
        assert not (data_dir / "petrel.sqlite").exists()
        p = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=30)
        p.user("alice@example.test")
        p.pass_("alice-password")
        count, size = p.stat()
        assert count == 1
        resp, lines, octets = p.retr(1)
        fetched = b"\r\n".join(lines) + b"\r\n"
        assert fetched.endswith(body)
        assert fetched.startswith(b"Return-Path: <carol@remote.test>") or b"Received:" in fetched
        assert len(fetched) == size
        p.dele(1)
        p.quit()
        assert cluster.psql("SELECT count(*) FROM deliveries").strip() == "0"
        assert cluster.psql("SELECT count(*) FROM messages").strip() == "0"
    finally:
        assert srv.stop() == 0
        srv.kill()
    # The store's PostgresClient runs as a service of serve's ServiceGroup: running before the first
    # query (postgres-nio warns otherwise), and the group stops it with the rest (exit code 0 above).
    assert "hasn't been called yet" not in srv.log(), srv.log()[-3000:]


@pytest.mark.peer("postgresql")
def test_wrong_password_file_stops_the_start(cluster, data_dir, tmp_path):
    bad = tmp_path / "bad-password"
    bad.write_text("not-the-password\n")
    section = cluster.store_section().replace(str(cluster.password_file), str(bad))
    srv = PetrelServer(data_dir, extra_config=section)
    with pytest.raises(AssertionError, match="petrel exited at start"):
        srv.start(timeout=30)
    # The reason is named: PostgreSQL's SQLSTATE for a failed password authentication.
    assert "28P01" in srv.log()
