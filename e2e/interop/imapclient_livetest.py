#!/usr/bin/env python3
"""IMAPClient's own live test suite (`python -m imapclient.livetest`), run with its tests and assertions
unchanged, and three things set right that are about the client library or the network, never the server:

1. Python's imaplib has no `move()`, and IMAPClient 4.1's `move()` without UIDs calls it
   (`getattr(self._imap, "move")`), so TestWithoutUIDs.test_move fails on every server ("Unknown IMAP4
   command: 'move'"). imaplib gets a `move()` written as its own `copy()` is, so the server receives a
   real `MOVE <sequence set> <mailbox>` and the test checks what it did.
2. IMAPClient 4.1's test_fetch compares its `Envelope` with `assertSequenceEqual`, which needs `len()`,
   but `Envelope` became a dataclass in 3.0 ("First sequence has no length"). It gets `__len__` and
   `__getitem__` over its fields, so the assertion compares every field, as the test means to.
3. TestSocketTimeout assumes a network slower than loopback: that a 1 ms connect and a 10 µs read of a
   NOOP cannot complete. Its two tests get such a network, in this process: the read goes through a
   proxy that delays what the server sends by 20 ms; the connect goes to a listener whose accept queue
   is full, so the kernel drops the SYN as a far host's silence would. Where the read does time out,
   the test's tearDown logs out through `quiet_logout` ("ignoring errors (say because the connection is
   down)"), which catches only IMAPClientError, not the OSError ("cannot read from timed out object")
   that the timed-out socket raises, so the test errors on any network where its premise holds;
   `quiet_logout` here ignores OSError too.

Usage: imapclient_livetest.py LIVETEST.INI [unittest arguments]   (the INI as for imapclient.livetest)
"""
import copy
import dataclasses
import imaplib
import importlib.machinery
import importlib.util
import socket
import sys
import threading
import time
import unittest

import imapclient.livetest as livetest
from imapclient.response_types import Envelope


# 1. imaplib's missing move().
def _imaplib_move(self, message_set, new_mailbox):
    return self._simple_command("MOVE", message_set, new_mailbox)


imaplib.Commands.setdefault("MOVE", ("SELECTED",))
if not hasattr(imaplib.IMAP4, "move"):
    imaplib.IMAP4.move = _imaplib_move

# 2. Envelope as the sequence the test compares.
if not hasattr(Envelope, "__len__"):
    Envelope.__len__ = lambda self: len(dataclasses.fields(self))
    Envelope.__getitem__ = lambda self, i: getattr(self, dataclasses.fields(self)[i].name)


# 3. A slow network for TestSocketTimeout, and a quiet_logout that is quiet about a dead socket too.
_quiet_logout = livetest.quiet_logout


def _quiet_logout_also_oserror(client):
    try:
        _quiet_logout(client)
    except OSError:
        pass


livetest.quiet_logout = _quiet_logout_also_oserror


def _pipe(src, dst, delay):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if delay:
                time.sleep(delay)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def delaying_proxy(host, port, delay):
    """A loopback port that forwards to host:port, what comes back `delay` seconds late."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def accept():
        while True:
            client, _ = listener.accept()
            upstream = socket.create_connection((host, port), timeout=30)
            upstream.settimeout(None)
            threading.Thread(target=_pipe, args=(client, upstream, 0), daemon=True).start()
            threading.Thread(target=_pipe, args=(upstream, client, delay), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1]


def full_listener():
    """A loopback port whose accept queue is full: a new connection's SYN is dropped."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    plugs = []
    for _ in range(2):
        plug = socket.socket()
        plug.setblocking(False)
        plug.connect_ex(listener.getsockname())
        plugs.append(plug)
    time.sleep(0.05)
    return listener.getsockname()[1], (listener, plugs)


def main():
    host_config = livetest.parse_argv()
    host_config.namespace = livetest.probe_host(host_config)

    slow = copy.copy(host_config)
    slow.host = "127.0.0.1"
    slow.port = delaying_proxy(host_config.host, host_config.port, 0.02)
    full_port, keep = full_listener()
    connect_test = livetest.TestSocketTimeout.test_small_connection_timeout_fail

    def connection_timeout_against_silence(self):
        self.conf = copy.copy(self.conf)
        self.conf.port = full_port
        connect_test(self)

    livetest.TestSocketTimeout.test_small_connection_timeout_fail = connection_timeout_against_silence

    # As imapclient.livetest.main() builds its module of test classes.
    spec = importlib.machinery.ModuleSpec("livetests", None)
    module = importlib.util.module_from_spec(spec)
    sys.modules["livetests"] = module
    livetest.TestGeneral.conf = host_config
    livetest.TestSocketTimeout.conf = slow
    classes = [
        ("TestGeneral", livetest.TestGeneral),
        ("TestSocketTimeout", livetest.TestSocketTimeout),
        ("TestWithUIDs", livetest.createUidTestClass(host_config, use_uid=True)),
        ("TestWithoutUIDs", livetest.createUidTestClass(host_config, use_uid=False)),
    ]
    for name, klass in classes:
        klass.__name__ = name
        setattr(module, name, klass)
    try:
        unittest.main(module="livetests")
    finally:
        del keep


if __name__ == "__main__":
    main()
