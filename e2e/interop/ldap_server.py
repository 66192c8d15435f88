"""A real OpenLDAP slapd (Debian's `slapd` package) for the account-backend tests.

It runs as the current user from a temporary directory, listening on loopback only: ldap:// (StartTLS
offered) and ldaps://, with a test CA made by `openssl`. The tree holds inetOrgPerson users with the
Active Directory attributes `userPrincipalName` and `proxyAddresses` (a small schema below, with AD's
OIDs), a service account that may read the tree, and passwords that only bind can check.
Tests that need it skip cleanly when slapd or the OpenLDAP tools are not installed.
"""
import shutil
import socket
import subprocess
import time
from pathlib import Path

SLAPD = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None)
SLAPADD = shutil.which("slapadd") or ("/usr/sbin/slapadd" if Path("/usr/sbin/slapadd").exists() else None)
MODULE_DIR = "/usr/lib/ldap"
SCHEMA_DIR = "/etc/ldap/schema"

SUFFIX = "dc=petrel,dc=test"
SERVICE_DN = f"cn=reader,{SUFFIX}"
SERVICE_PASSWORD = "reader-secret"

AD_SCHEMA = """
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName'
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.2.210 NAME 'proxyAddresses'
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
objectclass ( 1.3.6.1.4.1.99999.7.1 NAME 'petrelADUser' SUP top AUXILIARY
    MAY ( userPrincipalName $ proxyAddresses ) )
"""

# (uid, password, mail, userPrincipalName, proxyAddresses)
USERS = [
    ("alice", "alice-ldap-pw", "alice@corp.test", "alice@corp.test", ["SMTP:alice@corp.test", "smtp:a.smith@corp.test"]),
    ("bob", "bob-ldap-pw", "bob@corp.test", "bob@corp.test", ["SMTP:bob@corp.test"]),
    ("carol", "carol-ldap-pw", "carol@corp.test", "carol.upn@corp.test", ["SMTP:carol@corp.test"]),
    ("dave", "dave-ldap-pw", "dave@corp.test", "dave@corp.test", []),
    # A directory entry whose mail value names a mailbox of the builtin domain example.test.
    ("eve", "eve-ldap-pw", "local@example.test", "eve@corp.test", []),
]


def available():
    return SLAPD is not None and SLAPADD is not None and Path(MODULE_DIR, "back_mdb.so").exists() \
        and shutil.which("openssl") is not None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_ca(directory, name):
    """A CA and a server certificate for 127.0.0.1 / localhost signed by it; returns (ca, cert, key)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = d / "ca.key", d / "ca.pem", d / "server.key", d / "server.csr", d / "server.pem"
    ext = d / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", f"/CN={name} test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=127.0.0.1")
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return ca, cert, key


class Slapd:
    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca, self.cert, self.key = make_ca(self.dir / "tls", "ldap")
        self.port = free_port()
        self.ldaps_port = free_port()
        self.proc = None
        (self.dir / "db").mkdir(exist_ok=True)
        (self.dir / "ad.schema").write_text(AD_SCHEMA)
        self.conf = self.dir / "slapd.conf"
        self.conf.write_text(f"""
include {SCHEMA_DIR}/core.schema
include {SCHEMA_DIR}/cosine.schema
include {SCHEMA_DIR}/inetorgperson.schema
include {self.dir}/ad.schema
pidfile {self.dir}/slapd.pid
modulepath {MODULE_DIR}
moduleload back_mdb
TLSCACertificateFile {self.ca}
TLSCertificateFile {self.cert}
TLSCertificateKeyFile {self.key}

database mdb
maxsize 10485760
suffix "{SUFFIX}"
rootdn "cn=admin,{SUFFIX}"
rootpw admin-secret
directory {self.dir}/db
index objectClass eq
index mail,userPrincipalName,proxyAddresses eq
access to attrs=userPassword
    by anonymous auth
    by * none
access to *
    by dn.exact="{SERVICE_DN}" read
    by self read
    by * none
""")
        self.load()

    def ldif(self):
        out = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: petrel\no: Petrel test\n",
               f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n",
               f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
               f"cn: reader\nuserPassword: {SERVICE_PASSWORD}\n"]
        for uid, password, mail, upn, proxies in USERS:
            entry = (f"dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nobjectClass: petrelADUser\n"
                     f"uid: {uid}\ncn: {uid.title()}\nsn: {uid.title()}\nmail: {mail}\nuserPassword: {password}\n"
                     f"userPrincipalName: {upn}\n")
            entry += "".join(f"proxyAddresses: {p}\n" for p in proxies)
            out.append(entry)
        return "\n".join(out)

    def load(self):
        path = self.dir / "data.ldif"
        path.write_text(self.ldif())
        subprocess.run([SLAPADD, "-f", str(self.conf), "-l", str(path)], check=True, capture_output=True)

    @property
    def uri(self):
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_uri(self):
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    def start(self, timeout=30):
        self.log = open(self.dir / "slapd.log", "ab")
        self.proc = subprocess.Popen(
            [SLAPD, "-f", str(self.conf), "-h", f"{self.uri}/ {self.ldaps_uri}/", "-d", "0"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("slapd exited: " + (self.dir / "slapd.log").read_text(errors="replace"))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1), \
                        socket.create_connection(("127.0.0.1", self.ldaps_port), timeout=1):
                    return self
            except OSError:
                if time.time() > deadline:
                    self.stop()
                    raise AssertionError("slapd did not start listening in time")
                time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def petrel_config(self, data_dir, transport="starttls", ca=None, extra=""):
        """The [accounts] and [ldap] sections for a petrel that serves corp.test from this directory."""
        password_file = Path(data_dir).parent / "ldap-bind-password"
        password_file.write_text(SERVICE_PASSWORD + "\n")
        uri = self.ldaps_uri if transport == "ldaps" else self.uri
        return f"""
[accounts]
default = "builtin"
domains = {{ "corp.test" = "ldap" }}

[ldap]
uri = "{uri}"
tls = "{transport}"
{"allow_plaintext = true" if transport == "none" else ""}
ca_file = "{ca or self.ca}"
bind_dn = "{SERVICE_DN}"
bind_password_file = "{password_file}"
base = "ou=people,{SUFFIX}"
flavor = "ad"
timeout = "3s"
{extra}
"""
