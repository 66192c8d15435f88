"""Limits that protect the server: idle timeouts, connections per IP, and bounded memory for a large
message streamed through SMTP and back out through POP3."""
import os
import poplib
import smtplib
import socket
import threading
import time

from conftest import PetrelServer, mailbox_ids, run_cli
from smtp_client import RawClient


def setup_domain(data_dir):
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")


def rss_high_water_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def test_smtp_idle_timeout_gets_421(data_dir):
    setup_domain(data_dir)
    srv = PetrelServer(data_dir, command_timeout=1).start()
    try:
        c = RawClient(srv.smtp_port)
        assert c.reply()[0] == 220
        code, lines = c.reply()            # nothing sent: the server gives up after 1 s
        assert code == 421 and "4.4.2" in lines[0]
        assert c.closed()
    finally:
        srv.stop()


def test_pop3_idle_timeout_closes(data_dir):
    setup_domain(data_dir)
    srv = PetrelServer(data_dir, pop3_idle_timeout=1).start()
    try:
        c = RawClient(srv.pop3_port)
        assert c.line().startswith(b"+OK")
        started = time.time()
        assert c.closed(timeout=10)
        assert time.time() - started < 8
    finally:
        srv.stop()


def test_connections_per_ip_are_capped(data_dir):
    setup_domain(data_dir)
    srv = PetrelServer(data_dir, max_connections_per_ip=2).start()
    try:
        a, b = RawClient(srv.smtp_port), RawClient(srv.smtp_port)
        assert a.reply()[0] == 220 and b.reply()[0] == 220
        c = RawClient(srv.smtp_port)
        code, lines = c.reply()
        assert code == 421 and "too many connections" in lines[0]
        a.cmd("QUIT")
        a.close()
        deadline = time.time() + 5
        while True:                         # the slot frees once the server has seen the close
            d = RawClient(srv.smtp_port)
            code, _ = d.reply()
            if code == 220 or time.time() > deadline:
                break
            time.sleep(0.1)
        assert code == 220
        assert "connection refused" in srv.log() and "too many connections from this IP" in srv.log()
    finally:
        srv.stop()


def test_large_message_streams_with_bounded_memory(data_dir):
    setup_domain(data_dir)
    srv = PetrelServer(data_dir, max_message_size=64 * 1024 * 1024).start()
    try:
        line = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + b"\r\n"      # 74 octets
        body = b"Subject: big\r\n\r\n" + line * (40 * 1024 * 1024 // len(line))  # ~40 MB
        # Logins first: scrypt (N=2^15, r=8) needs a 32 MiB work area, which each auth thread keeps for
        # the next login (docs/OPERATIONS.md, "Memory for password checks"); that is not the message's.
        # As many logins at once as the server has auth threads (one per core, at least two), twice.
        def login():
            p = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=120)
            try:
                p.user("alice@example.test")
                p.pass_("alice-password")   # checked before the maildrop lock: every login runs scrypt
                p.quit()
            except poplib.error_proto:      # "-ERR [IN-USE]": another of these logins holds the maildrop
                p.close()
        for _ in range(2):
            logins = [threading.Thread(target=login) for _ in range(max(2, os.cpu_count() or 2))]
            for t in logins:
                t.start()
            for t in logins:
                t.join(timeout=120)
        before = rss_high_water_kib(srv.proc.pid)
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=120) as s:
            s.ehlo("c.test")
            assert s.sendmail("carol@remote.test", ["alice@example.test"], body) == {}
        p = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=120)
        p.user("alice@example.test")
        p.pass_("alice-password")
        _, lines, _ = p.retr(1)
        fetched = b"\r\n".join(lines) + b"\r\n"
        p.quit()
        assert fetched.endswith(body)
        grown = rss_high_water_kib(srv.proc.pid) - before
        # A 40 MB message must not be held in memory whole, neither arriving nor leaving.
        assert grown < 30 * 1024, f"peak RSS grew by {grown} KiB"
    finally:
        srv.stop()
