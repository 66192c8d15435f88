"""What the tests need from the system (not from e2e/requirements.txt): the one table of it.

A *test* peer is a program a test drives (a client this project did not write, or later a server such
as PostgreSQL or slapd). A test that needs one is marked `@pytest.mark.peer("NAME")`
(e2e/interop/conftest.py): when the peer is missing the test is skipped, or fails under CI=true.
A *build* need is something without which nothing runs (it is never skipped).

scripts/test.sh reads this table: as root on Debian it installs what is missing with apt-get, and at the
end it names what was skipped with the apt-get command that installs it. To add a peer, add one row
here and mark its tests; nothing else changes.

Standard library only: scripts/test.sh runs it with the system python3 before the test venv exists.
    python3 e2e/peers.py missing [build|test]   names of the entries that are missing (one line)
    python3 e2e/peers.py apt NAME...             the Debian packages that install those entries
    python3 e2e/peers.py hint NAME...            the apt-get command that installs them
"""
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Peer:
    kind: str          # "test": tests that need it are skipped when it is missing; "build": never skipped
    apt: tuple         # the Debian packages that install it
    probe: tuple       # commands (argv tuples) that all exit 0 when it is there
    what: str          # what it is for


PEERS = {
    # --- build: needed before any test runs ---
    "sqlite3-headers": Peer("build", ("libsqlite3-dev",), (("sh", "-c", '[ "$(uname)" = Darwin ] || test -e /usr/include/sqlite3.h'),),
                            "SQLite's headers: GRDB builds against the system SQLite"),
    "python3-venv": Peer("build", ("python3-venv",), ((sys.executable, "-c", "import ensurepip, venv"),),
                         "python3 -m venv: scripts/test.sh makes .venv-test/ from e2e/requirements.txt"),
    "ldap-headers": Peer("build", ("libldap-dev",), (("sh", "-c", '[ "$(uname)" = Darwin ] || test -e /usr/include/ldap.h'),),
                         "OpenLDAP's libldap headers: the ldap account backend (MailAccounts) links it"),
    "pam-headers": Peer("build", ("libpam0g-dev",), (("sh", "-c", '[ "$(uname)" = Darwin ] || test -e /usr/include/security/pam_appl.h'),),
                        "Linux-PAM's headers: the system account backend (MailAccounts) links libpam"),
    "zlib-headers": Peer("build", ("zlib1g-dev",), (("sh", "-c", '[ "$(uname)" = Darwin ] || test -e /usr/include/zlib.h'),),
                         "zlib's headers: IMAP COMPRESS=DEFLATE (compress-nio's CCompressZlib includes zlib.h, links libz)"),
    # --- test peers: the tests that need one are skipped (or fail under CI=true) when it is missing ---
    "swaks": Peer("test", ("swaks", "libnet-ssleay-perl"),
                  (("swaks", "--version"), ("perl", "-MNet::SSLeay", "-e", "1")),
                  "SMTP client (swaks --tls needs Net::SSLeay)"),
    "mpop": Peer("test", ("mpop",), (("mpop", "--version"),), "POP3 client"),
    "openssl": Peer("test", ("openssl",), (("openssl", "version"),),
                    "openssl s_client, and certificates for the TLS peers of the tests"),
    "slapd": Peer("test", ("slapd", "ldap-utils"),
                  (("sh", "-c", "command -v slapd >/dev/null || test -x /usr/sbin/slapd"),
                   ("sh", "-c", "command -v slapadd >/dev/null || test -x /usr/sbin/slapadd"),
                   ("sh", "-c", "test -e /usr/lib/ldap/back_mdb.so")),
                  "OpenLDAP's server: the directory of the ldap account backend's tests"),
    "postgresql": Peer("test", ("postgresql",),
                       (("sh", "-c", "command -v initdb >/dev/null && command -v pg_ctl >/dev/null "
                                     "|| ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1"),),
                       "PostgreSQL's server (initdb, pg_ctl): the PostgreSQL store's Swift and interop tests "
                       "start their own cluster"),
    "pam_wrapper": Peer("test", ("libpam-wrapper",),
                        (("sh", "-c", "test -e /usr/lib/$(uname -m)-linux-gnu/libpam_wrapper.so && "
                                      "test -e /usr/lib/$(uname -m)-linux-gnu/pam_wrapper/pam_matrix.so"),),
                        "PAM without machine accounts (pam_wrapper + pam_matrix): the system backend's tests"),
    "mbsync": Peer("test", ("isync",), (("mbsync", "--version"),),
                   "IMAP <-> Maildir synchroniser (isync): the IMAP client tests"),
    "offlineimap": Peer("test", ("offlineimap3",), (("offlineimap", "--version"),),
                        "IMAP <-> Maildir synchroniser (offlineimap3): the IMAP client tests"),
    "neomutt": Peer("test", ("neomutt", "tmux"), (("neomutt", "-v"), ("tmux", "-V")),
                    "terminal mail reader, driven in tmux: the IMAP client tests"),
    "fetchmail": Peer("test", ("fetchmail",), (("fetchmail", "--version"),),
                      "POP3/IMAP mail retriever: the IMAP client tests"),
    "dovecot": Peer("test", ("dovecot-imapd",), (("sh", "-c", "test -x /usr/lib/dovecot/imap"),),
                    "Dovecot's IMAP server (its imap binary, run on stdin/stdout): the differential IMAP tests"),
}


def available(name):
    """True when every probe command of PEERS[name] runs and exits 0."""
    for argv in PEERS[name].probe:
        if shutil.which(argv[0]) is None:
            return False
        try:
            ok = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if not ok:
            return False
    return True


def missing(kind=None):
    return [name for name, peer in PEERS.items() if (kind is None or peer.kind == kind) and not available(name)]


def apt_packages(names):
    packages = []
    for name in names:
        packages += [p for p in PEERS[name].apt if p not in packages]
    return packages


def install_hint(names):
    """The command that installs `names` on Debian (with sudo unless we are root)."""
    sudo = "" if hasattr(os, "geteuid") and os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get install {' '.join(apt_packages(names))}"


def main(argv):
    if len(argv) >= 1 and argv[0] == "missing" and len(argv) <= 2 and (len(argv) == 1 or argv[1] in ("build", "test")):
        print(" ".join(missing(argv[1] if len(argv) == 2 else None)))
        return 0
    if len(argv) >= 1 and argv[0] == "apt" and all(name in PEERS for name in argv[1:]):
        print(" ".join(apt_packages(argv[1:])))
        return 0
    if len(argv) >= 1 and argv[0] == "hint" and all(name in PEERS for name in argv[1:]):
        print(install_hint(argv[1:]))
        return 0
    print(__doc__.split("\n\n")[-1].rstrip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
