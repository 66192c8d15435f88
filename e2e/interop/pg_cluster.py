"""A real PostgreSQL for interop tests: its own cluster in a temporary directory (initdb + pg_ctl from
Debian's packages) on 127.0.0.1 and a free port, stopped at the end. As root the cluster belongs to
`nobody` (initdb refuses root; PETREL_PG_TEST_USER picks another user). Clients log in over TCP with
SCRAM-SHA-256 as `petrel` with a random password (written to a password file for petrel's [store])."""
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def bin_directory():
    """The directory of initdb and pg_ctl (through a symbolic link to the installation's own), or None."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return str(Path(initdb).resolve().parent)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return str(Path(found[-1]).parent) if found else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    def __init__(self):
        self.bin = bin_directory()
        if self.bin is None:
            raise RuntimeError("PostgreSQL (initdb, pg_ctl) not found")
        self.run_as = (os.environ.get("PETREL_PG_TEST_USER") or "nobody") if os.geteuid() == 0 else None
        self.dir = Path(tempfile.mkdtemp(prefix="petrel-pg-"))
        self.password = secrets.token_urlsafe(18)
        self.user = "petrel"
        self.host = "127.0.0.1"
        self.port = None
        self.password_file = self.dir / "pwfile"
        self.ca_file = None
        self._tls_options = ""
        self._server_env = None
        self.password_file.write_text(self.password + "\n")
        os.chmod(self.password_file, 0o600)
        if self.run_as:
            shutil.chown(self.dir, self.run_as)
            shutil.chown(self.password_file, self.run_as)

    def _run(self, *argv, check=True, capture=True, env=None):
        cmd = (["runuser", "-u", self.run_as, "--"] if self.run_as else []) + list(argv)
        # Output to a file, not a pipe: the server pg_ctl starts would inherit a pipe and hold it open.
        # In the cluster's own directory: as another user the caller's working directory may be closed to
        # it (a clone under root's pytest temp dir), and psql would put "could not change directory" into
        # the output a test compares.
        with tempfile.TemporaryFile() as out:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out if capture else subprocess.DEVNULL,
                                  stderr=subprocess.STDOUT if capture else subprocess.DEVNULL, timeout=180,
                                  cwd=self.dir, env={**os.environ, **env} if env else None)
            out.seek(0)
            text = out.read().decode(errors="replace")
        if check and proc.returncode != 0:
            raise RuntimeError(f"{cmd} failed ({proc.returncode}): {text[-2000:]}")
        return text

    def start(self, tls=False, server_env=None):
        """initdb and start. `tls`: the server offers TLS with a certificate for 127.0.0.1 and localhost
        signed by a CA made for the run (`self.ca_file`; needs the openssl command). `server_env`: extra
        environment for the server's processes (bench.py's slow-disk shim, LD_PRELOAD)."""
        self._server_env = server_env
        data = self.dir / "data"
        self._run(f"{self.bin}/initdb", "-D", str(data), "-U", self.user, f"--pwfile={self.password_file}",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
        self._tls_options = self._make_certificates() if tls else ""
        last = None
        for _ in range(3):
            port = free_port()
            try:
                self._pg_ctl_start(port)
                self.port = port
                break
            except RuntimeError as e:
                last = e
        if self.port is None:
            raise last
        self.psql("CREATE DATABASE petrel", database="postgres")
        return self

    def _pg_ctl_start(self, port):
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={self.dir}" + self._tls_options
        self._run(f"{self.bin}/pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "server.log"), "-o", opts,
                  "-w", "-t", "120", "start", capture=False, env=self._server_env)

    def _make_certificates(self):
        """A CA and a server certificate (subjectAltName IP:127.0.0.1, DNS:localhost) in the cluster's
        directory; returns the server options that turn TLS on."""
        d = self.dir
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        (d / "san.cnf").write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
        for argv in (["openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                      "-subj", "/CN=Petrel test CA"],
                     ["openssl", "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
                     ["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                      "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.cnf"]):
            subprocess.run(argv, cwd=d, check=True, capture_output=True, timeout=60)
        os.chmod(d / "server.key", 0o600)
        if self.run_as:
            for name in ("server.key", "server.crt", "ca.pem"):
                shutil.chown(d / name, self.run_as)
        self.ca_file = d / "ca.pem"
        return f" -c ssl=on -c ssl_cert_file={d / 'server.crt'} -c ssl_key_file={d / 'server.key'}"

    def stop_server(self):
        """Stops PostgreSQL (fast shutdown: open sessions are ended) and keeps the cluster for `start_server`."""
        self._run(f"{self.bin}/pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def start_server(self):
        """Starts the stopped server again on the same port."""
        self._pg_ctl_start(self.port)

    def psql(self, sql, database="petrel"):
        psql = f"{self.bin}/psql" if os.path.exists(f"{self.bin}/psql") else (shutil.which("psql") or "psql")
        return self._run(psql, "-h", str(self.dir), "-p", str(self.port), "-U", self.user, "-d", database,
                         "-At", "-v", "ON_ERROR_STOP=1", "-c", sql)

    def run_tool(self, tool, *args):
        """A client program of the installation (pgbench, ...) against this cluster; returns its output."""
        return self._run(f"{self.bin}/{tool}", "-h", str(self.dir), "-p", str(self.port), "-U", self.user, *args)

    def postmaster_pid(self):
        """The server's main process (first line of postmaster.pid)."""
        return int((self.dir / "data" / "postmaster.pid").read_text().split()[0])

    def stop(self):
        if self.port is not None:
            self._run(f"{self.bin}/pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop", check=False)
            self.port = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def store_section(self, database="petrel", tls="disable", ca_file=None, host=None):
        return (f'\n[store]\nbackend = "postgresql"\nhost = "{host or self.host}"\nport = {self.port}\n'
                f'database = "{database}"\nuser = "{self.user}"\npassword_file = "{self.password_file}"\n'
                f'tls = "{tls}"\npool_size = 4\n' + (f'ca_file = "{ca_file}"\n' if ca_file else ""))
