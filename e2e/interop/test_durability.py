"""Durability: every message that got a 250 survives `kill -9` exactly once; a SIGTERM stops cleanly."""
import os
import random
import smtplib
import threading
import time

from conftest import PetrelServer, mailbox_ids, raw_message, run_cli

CYCLES = int(os.environ.get("PETREL_CRASH_CYCLES", "3"))
FILLER = (b"x" * 78 + b"\r\n") * 50            # 4000 octets in 80-octet lines


def sender_thread(port, tag, acked, stop, errors):
    n = 0
    while not stop.is_set() and n < 2000:
        n += 1
        subject = f"{tag}-{n}"
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=5) as s:
                s.ehlo("load.test")
                body = f"Subject: {subject}\r\nMessage-ID: <{subject}@load.test>\r\n\r\n".encode() + FILLER
                s.sendmail("load@remote.test", ["alice@example.test"], body)
                acked.append(subject)        # only after the 250
        except (OSError, smtplib.SMTPException):
            errors.append(subject)
            time.sleep(0.01)


def test_kill_9_loses_no_acknowledged_message(data_dir):
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--no-password")
    acked = []
    for cycle in range(CYCLES):
        srv = PetrelServer(data_dir).start()
        stop = threading.Event()
        errors = []
        threads = [threading.Thread(target=sender_thread, args=(srv.smtp_port, f"c{cycle}t{i}", acked, stop, errors))
                   for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(random.uniform(0.5, 1.5))
        srv.kill()                            # SIGKILL in the middle of the load
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert len(acked) > 0
    srv = PetrelServer(data_dir).start()      # restart: the store must open cleanly after the crashes
    srv.stop()
    seen = {}
    for delivery in mailbox_ids(srv, "alice@example.test"):
        raw = raw_message(srv, "alice@example.test", delivery)
        assert raw.endswith(FILLER), "partial message visible"
        subject = raw.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
        seen[subject] = seen.get(subject, 0) + 1
    lost = [s for s in acked if s not in seen]
    duplicates = [s for s, n in seen.items() if n > 1]
    assert lost == [], f"lost {len(lost)} acknowledged messages"
    assert duplicates == [], f"duplicated: {duplicates}"


def test_sigterm_finishes_and_exits_zero(server):
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.ehlo("c.test")
        s.sendmail("x@remote.test", ["alice@example.test"], b"Subject: before stop\r\n\r\nhi\r\n")
    idle = smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10)
    idle.ehlo("idle.test")
    started = time.time()
    assert server.stop() == 0
    assert time.time() - started < 20
    assert "stopped" in server.log()
    assert len(mailbox_ids(server, "alice@example.test")) == 1
