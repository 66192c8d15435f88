"""Hostile clients for the limit tests: a flood without CRLF, a drip feed of one byte at a time, and a
connection whose reader thread keeps everything the server says until it closes.

Plain connections are sockets; implicit-TLS ones (465, 995) go through `openssl s_client` (a real TLS
client nobody here wrote), its stdin and stdout being the connection. Loopback only.
"""
import os
import socket
import subprocess
import threading
import time


class Conn:
    def __init__(self, port, tls=False, timeout=20):
        self.tls = tls
        self.sock = None
        self.proc = None
        if tls:
            self.proc = subprocess.Popen(
                ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-quiet", "-verify_quiet"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._lock = threading.Lock()
        self._data = b""
        self.closed = threading.Event()
        self.closed_at = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                if self.sock is not None:
                    chunk = self.sock.recv(65536)
                else:
                    chunk = os.read(self.proc.stdout.fileno(), 65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            with self._lock:
                self._data += chunk
        self.closed_at = time.monotonic()
        self.closed.set()

    @property
    def data(self):
        with self._lock:
            return self._data

    def text(self):
        return self.data.decode("utf-8", "replace")

    def send(self, data):
        """Sends bytes; False once the connection is gone (or the server stopped reading for 20 s)."""
        try:
            if self.sock is not None:
                self.sock.sendall(data)
            else:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            return True
        except (OSError, ValueError):
            return False

    def wait_for(self, needle, timeout=20.0):
        """True once the server sent `needle` (bytes or str)."""
        if isinstance(needle, str):
            needle = needle.encode()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.data:
                return True
            if self.closed.is_set():
                return needle in self.data
            time.sleep(0.02)
        return False

    def wait_closed(self, timeout=20.0):
        return self.closed.wait(timeout)

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        if self.proc is not None:
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except (OSError, ValueError):
                    pass
            try:
                self.proc.kill()
            except OSError:
                pass
            self.proc.wait(timeout=10)


def flood(conn, total, chunk=64 * 1024, byte=b"A", deadline_s=120.0):
    """Sends up to `total` bytes without any line end, in `chunk`s, until the server closes. Returns the
    bytes handed to the connection."""
    block = byte * chunk
    sent = 0
    end = time.monotonic() + deadline_s
    while sent < total and not conn.closed.is_set() and time.monotonic() < end:
        if not conn.send(block):
            break
        sent += len(block)
    return sent


def drip(conn, interval, limit_s, byte=b"x"):
    """Sends one byte every `interval` seconds until the connection closes or `limit_s` passed: the bytes
    of `byte` in turn (one byte, or a text to trickle). Returns (time of the first byte, bytes sent)."""
    first = time.monotonic()
    sent = 0
    while not conn.closed.is_set() and time.monotonic() - first < limit_s:
        if not conn.send(byte[sent % len(byte):sent % len(byte) + 1]):
            # The write failed because the server closed: give the reader (openssl s_client for TLS) the
            # moment it needs to see the end of the stream too.
            conn.closed.wait(10)
            break
        sent += 1
        conn.closed.wait(interval)
    return first, sent


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss(pid):
    """Resets the process's peak RSS (VmHWM) to its current RSS (Linux: clear_refs 5)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def peak_rss_growth_kib(pid, action):
    """Runs action() and returns (its result, how far VmHWM rose above VmRSS before it, in KiB)."""
    reset_peak_rss(pid)
    before = status_kib(pid, "VmRSS")
    result = action()
    return result, status_kib(pid, "VmHWM") - before
