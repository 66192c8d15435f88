"""Plays the SMTP and POP3 dialog transcripts in Tests/Fixtures/{smtp,pop3} against the real `petrel`
binary, reading replies with smtplib's and poplib's own framing (`SMTP.getreply`, `POP3._getline`).

The same files run against the pure sessions (MailTestSupport's SMTPTranscript/POP3Transcript) and
against the real listener from Swift; Tests/Fixtures/README.md describes the format.

Set PETREL_TRANSCRIPT_DERIVE=1 to print what the server answers instead of comparing (a help for writing
a new dialog: read every answer against the RFC before recording it).
"""
import os
import poplib
import re
import smtplib
import socket
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "Tests" / "Fixtures"
DERIVE = os.environ.get("PETREL_TRANSCRIPT_DERIVE") == "1"


def dialog_files(protocol):
    return sorted((FIXTURES / protocol).glob("*.txt"))


def parse(path):
    """Yields (line number, kind, text); kind is C, B, S, S~, S*, @."""
    for number, raw in enumerate(path.read_text().split("\n"), 1):
        line = raw.rstrip("\r")
        if not line or line.startswith("#") or line.startswith("M:"):  # M: lines belong to @message
            continue
        if line.startswith("@"):
            yield number, "@", line[1:]
            continue
        m = re.match(r"^(C|B|S|S~|S\*):( ?)(.*)$", line) or re.match(r"^(S~|S\*) (.*)$", line)
        if not m:
            raise AssertionError(f"{path.name}:{number}: cannot read {line!r}")
        if m.lastindex == 3:
            yield number, m.group(1), m.group(3)
        else:
            yield number, m.group(1), m.group(2)


def set_up(server, path):
    """The fixture state every runner builds the same way: the mailboxes of conftest's `server` (example.test,
    alice@example.test/alice-password, bob@example.test/bob-password) and the `@message USER` blocks, delivered
    by SMTP from sender@example.org before the dialog."""
    lines = path.read_text().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r")
        if line.startswith("@message "):
            rcpt = line.split()[1]
            body = []
            while i + 1 < len(lines) and lines[i + 1].startswith("M:"):
                i += 1
                m = lines[i].rstrip("\r")[2:]
                body.append(m[1:] if m.startswith(" ") else m)
            with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as smtp:
                smtp.sendmail("sender@example.org", [rcpt], ("\r\n".join(body) + "\r\n").encode())
        i += 1


class Expectations:
    """Compares server lines with S:/S~/S* lines (or prints them in derive mode)."""

    def __init__(self, name, read_line):
        self.name = name
        self.read_line = read_line
        self.peeked = None

    def next(self):
        if self.peeked is not None:
            line, self.peeked = self.peeked, None
            return line
        return self.read_line()

    def check(self, number, kind, text):
        where = f"{self.name}:{number}"
        if kind == "S*":
            while True:
                line = self.next()
                if not re.search(text, line):
                    self.peeked = line
                    return
                if DERIVE:
                    print(f"{where} S* {line}")
        line = self.next()
        if DERIVE:
            print(f"{where} S: {line}")
            return
        if kind == "S":
            assert line == text, f"{where}: expected\n  {text}\ngot\n  {line}"
        else:
            assert re.search(text, line), f"{where}: expected /{text}/, got\n  {line}"


def closed(sock, timeout=10):
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True  # closed with unread input: a reset is a close too
    except socket.timeout:
        return False


@pytest.mark.parametrize("path", dialog_files("smtp"), ids=lambda p: p.stem)
def test_smtp_dialog(server, path):
    set_up(server, path)
    smtp = smtplib.SMTP(timeout=30)
    smtp.sock = socket.create_connection(("127.0.0.1", server.smtp_port), timeout=30)
    smtp.file = None
    buffered = []

    def read_line():
        # smtplib reads one reply (all its lines); we hand them out one at a time, as the wire had them.
        if not buffered:
            code, message = smtp.getreply()
            texts = message.decode("utf-8", "replace").split("\n")
            buffered.extend(f"{code}{'-' if k < len(texts) - 1 else ' '}{t}" for k, t in enumerate(texts))
        return buffered.pop(0)

    expect = Expectations(path.name, read_line)
    group = []
    try:
        for number, kind, text in parse(path):
            if kind in ("C", "B"):
                assert not buffered, f"{path.name}:{number}: unread reply lines {buffered}"
                group.append(text + "\r\n")
                continue
            if group:
                # Consecutive client lines go out in one write: a pipelined group (RFC 2920).
                smtp.send("".join(group))
                group = []
            if kind.startswith("S"):
                expect.check(number, kind, text)
            elif text.split()[0] == "closed":
                assert closed(smtp.sock), f"{path.name}:{number}: the connection is still open"
            elif text.split()[0] == "message":
                pass
            else:
                raise AssertionError(f"{path.name}:{number}: unknown directive @{text}")
    finally:
        smtp.close()


@pytest.mark.parametrize("path", dialog_files("pop3"), ids=lambda p: p.stem)
def test_pop3_dialog(server, path):
    set_up(server, path)
    state = {}

    def connect():
        state["pop"] = poplib.POP3("127.0.0.1", server.pop3_port, timeout=30)
        # poplib has read the greeting already; the transcript expects it as its first S: line.
        state["greeting"] = [state["pop"].welcome.decode("utf-8", "replace")]

    def read_line():
        if state["greeting"]:
            return state["greeting"].pop()
        line, _ = state["pop"]._getline()
        return line.decode("utf-8", "replace")

    connect()
    expect = Expectations(path.name, read_line)
    group = []
    try:
        for number, kind, text in parse(path):
            if kind == "C":
                group.append(text.encode() + b"\r\n")
                continue
            if group:
                # Consecutive client lines go out in one write: a pipelined group (RFC 2449 §6.6).
                state["pop"].sock.sendall(b"".join(group))
                group = []
            if kind.startswith("S"):
                expect.check(number, kind, text)
            elif text.split()[0] == "closed":
                assert closed(state["pop"].sock), f"{path.name}:{number}: the connection is still open"
            elif text.split()[0] == "reconnect":
                state["pop"].close()
                connect()
            elif text.split()[0] == "message":
                pass
            else:
                raise AssertionError(f"{path.name}:{number}: unknown directive @{text}")
    finally:
        state["pop"].close()
