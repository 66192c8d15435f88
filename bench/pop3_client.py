#!/usr/bin/env python3
"""One POP3 load client for bench.py: fetches every message of one mailbox with Python's `poplib`.

Run by bench.py as a separate process per mailbox, under CPython (`python3`) or PyPy (`pypy3`: the same
standard-library poplib, JIT-compiled, so the client's own CPU per message is much lower). Written for
Python ≥ 3.9 so both interpreters run it.

Protocol with the parent, in two timed phases: after start-up the client prints "ready" and waits for
a line on stdin (so interpreter start-up is outside the timed run); then USER/PASS and STAT (the login
phase), prints "in" and waits for a second line; then RETR 1..n and QUIT (the retrieval phase); finally
it prints one JSON line {"msgs", "octets", "login_cpu", "cpu"}: this process's CPU seconds in the login
phase and in the retrieval phase. With --no-wait it runs straight through.

Modes: "retr" — poplib's retr() (reads the answer line by line, as a poplib client does); "bulk" —
poplib's command and status-line calls (_putcmd/_getresp), the message read in 256 KiB blocks from
poplib's own socket file up to the terminating CRLF "." CRLF.
"""
import argparse
import json
import poplib
import sys
import time


def read_multiline_bulk(p):
    """The rest of a multi-line answer, read in large blocks up to CRLF "." CRLF (the answer is
    dot-stuffed, so that sequence cannot occur inside it); returns the message's octets (stuffing and
    terminator not counted)."""
    data = bytearray()
    while not data.endswith(b"\r\n.\r\n"):
        block = p.file.read1(262144)
        if not block:
            raise poplib.error_proto("connection closed inside a multi-line answer")
        data += block
    body = bytes(data[:-3])
    return len(body) - body.count(b"\r\n..") - (1 if body.startswith(b"..") else 0)


def login(host, port, user, password, expect):
    p = poplib.POP3(host, port, timeout=60)
    p.user(user)
    p.pass_(password)
    n, _ = p.stat()
    if n != expect:
        p.close()
        raise RuntimeError("%s: %d messages, expected %d" % (user, n, expect))
    return p, n


def retrieve(p, n, mode):
    try:
        octets = 0
        for i in range(1, n + 1):
            if mode == "bulk":
                p._putcmd("RETR %d" % i)
                p._getresp()
                octets += read_multiline_bulk(p)
            else:
                _, lines, size = p.retr(i)
                octets += size
        p.quit()
    finally:
        try:
            p.close()
        except OSError:
            pass
    return octets


def wait_for_parent(word, no_wait):
    if no_wait:
        return True
    print(word, flush=True)
    return bool(sys.stdin.readline())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--expect", type=int, required=True, help="messages the mailbox must hold")
    ap.add_argument("--mode", choices=("retr", "bulk"), default="retr")
    ap.add_argument("--no-wait", action="store_true", help="start at once instead of waiting for a line on stdin")
    a = ap.parse_args()
    if not wait_for_parent("ready", a.no_wait):
        return 1
    c0 = time.process_time()
    p, n = login(a.host, a.port, a.user, a.password, a.expect)
    c1 = time.process_time()
    if not wait_for_parent("in", a.no_wait):
        p.close()
        return 1
    c2 = time.process_time()
    octets = retrieve(p, n, a.mode)
    print(json.dumps({"msgs": n, "octets": octets, "login_cpu": c1 - c0, "cpu": time.process_time() - c2}),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
