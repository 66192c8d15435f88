"""Message authentication against implementations this project did not write: DKIM with dkimpy (signing
and verifying, Ed25519 and RSA), Authentication-Results parsed by `authres`, and SPF/DKIM/DMARC end to end
through smtplib with the loopback DNS server (one test per DMARC policy)."""
import base64
import os
import re
import smtplib
import stat
import subprocess

import authres
import dkim
import nacl.signing
import pytest

from conftest import PETREL, PetrelServer, mailbox_ids, raw_message, run_cli
from dns_server import LocalDNS

MESSAGE = (b"From: Bob <bob@sender.test>\r\nTo: alice@example.test\r\nSubject: dinner\r\n"
           b"Date: Thu, 03 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@sender.test>\r\n\r\n"
           b"Are you hungry yet?\r\n\r\n-- \r\nBob\r\n")


def dkim_keys(data_dir, domain):
    """{selector: TXT record} of a domain's keys, read from `petrel dkim list`."""
    out = run_cli(data_dir, "dkim", "list", domain).stdout
    return dict(re.findall(r'^\t(\S+)\._domainkey\.\S+ IN TXT "([^"]+)"', out, re.M))


def dnsfunc_for(records):
    def dnsfunc(name, timeout=5):
        return records.get(name.decode().rstrip("."), "").encode() or None
    return dnsfunc


def verify_all_with_dkimpy(message, records):
    """dkimpy's verdict on each signature; dkimpy raises on some failures (body hash), which count as False."""
    d = dkim.DKIM(message)
    count = len(re.findall(rb"^DKIM-Signature:", message, re.M | re.I))
    verdicts = []
    for i in range(count):
        try:
            verdicts.append(bool(d.verify(idx=i, dnsfunc=dnsfunc_for(records))))
        except dkim.DKIMException:
            verdicts.append(False)
    return verdicts


def test_petrel_signs_and_dkimpy_verifies_both_algorithms(data_dir):
    run_cli(data_dir, "domain", "add", "sender.test")
    records = {f"{sel}._domainkey.sender.test": txt for sel, txt in dkim_keys(data_dir, "sender.test").items()}
    assert len(records) == 2 and any("k=ed25519" in r for r in records.values()) and any("k=rsa" in r for r in records.values())
    signed = subprocess.run([str(PETREL), "dkim", "sign", "sender.test", "--data-dir", str(data_dir)],
                            input=MESSAGE, capture_output=True, timeout=60, check=True).stdout
    assert signed.endswith(MESSAGE)
    assert b"a=ed25519-sha256" in signed and b"a=rsa-sha256" in signed
    assert verify_all_with_dkimpy(signed, records) == [True, True]
    # A changed body or an added header fails in dkimpy too.
    assert verify_all_with_dkimpy(signed.replace(b"hungry", b"thirsty"), records) == [False, False]
    assert verify_all_with_dkimpy(signed.replace(b"Subject: dinner", b"Subject: lunch"), records) == [False, False]
    extra_from = signed.replace(b"To: alice", b"From: mallory@evil.test\r\nTo: alice")
    assert verify_all_with_dkimpy(extra_from, records) == [False, False]


def make_keys(tmp_path):
    """An RSA-2048 key (openssl) and an Ed25519 key (PyNaCl) in dkimpy's formats, with their DNS records."""
    rsa_path = tmp_path / "rsa.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(rsa_path), "2048"], check=True, capture_output=True)
    rsa_priv = rsa_path.read_bytes()
    der = subprocess.run(["openssl", "rsa", "-in", str(rsa_path), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    ed = nacl.signing.SigningKey.generate()
    ed_priv = base64.b64encode(bytes(ed))
    return {
        "rsa": (rsa_priv, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()),
        "ed": (ed_priv, "v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(ed.verify_key)).decode()),
    }


def cli_config(tmp_path, dns_port):
    path = tmp_path / "verify.toml"
    path.write_text(f'[server]\nhostname = "mx.petrel.test"\ndata_dir = "{tmp_path / "vdata"}"\n'
                    f'[dns]\nnameserver = "127.0.0.1:{dns_port}"\ntimeout = 2\n')
    return path


def petrel_verify(config, message):
    proc = subprocess.run([str(PETREL), "dkim", "verify", "--config", str(config)], input=message,
                          capture_output=True, timeout=60)
    return proc.returncode, proc.stdout.decode()


@pytest.mark.peer("openssl")
def test_dkimpy_signs_and_petrel_verifies(tmp_path):
    keys = make_keys(tmp_path)
    dns = LocalDNS([("rsa1._domainkey.sender.test", "TXT", keys["rsa"][1]),
                    ("ed1._domainkey.sender.test", "TXT", keys["ed"][1])]).start()
    try:
        config = cli_config(tmp_path, dns.port)
        for canon in [(b"relaxed", b"relaxed"), (b"simple", b"simple"), (b"relaxed", b"simple"), (b"simple", b"relaxed")]:
            sig_rsa = dkim.sign(MESSAGE, b"rsa1", b"sender.test", keys["rsa"][0], canonicalize=canon)
            sig_ed = dkim.sign(MESSAGE, b"ed1", b"sender.test", keys["ed"][0], canonicalize=canon,
                               signature_algorithm=b"ed25519-sha256")
            message = sig_ed + sig_rsa + MESSAGE
            code, out = petrel_verify(config, message)
            assert code == 0, (canon, out)
            lines = out.splitlines()
            assert len(lines) == 2 and all(l.startswith("pass d=sender.test") for l in lines), out
            assert "a=ed25519-sha256" in lines[0] and "a=rsa-sha256 bits=2048" in lines[1]
            # Changed body and changed header fail.
            code, out = petrel_verify(config, message.replace(b"hungry", b"thirsty"))
            assert code == 1 and out.count("fail") == 2 and "body hash did not verify" in out, out
            code, out = petrel_verify(config, message.replace(b"Subject: dinner", b"Subject: lunch"))
            assert code == 1 and out.count("signature did not verify") == 2, out
        # l= (dkimpy's length=True): verifies as long as nothing was appended; content appended after the
        # signed length makes Petrel answer "policy", not "pass".
        sig = dkim.sign(MESSAGE, b"ed1", b"sender.test", keys["ed"][0], length=True,
                        signature_algorithm=b"ed25519-sha256")
        code, out = petrel_verify(config, sig + MESSAGE)
        assert code == 0 and out.startswith("pass"), out
        code, out = petrel_verify(config, sig + MESSAGE + b"Click here: http://evil.test/\r\n")
        assert code == 1 and out.startswith("policy") and "unsigned" in out, out
    finally:
        dns.stop()


# ---- end to end through smtplib, port 25, with the loopback DNS server ----

def start_server(data_dir, dns_port):
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    run_cli(data_dir, "mailbox", "add", "bob@example.test", "--password-stdin", input_text="bob-password\n")
    return PetrelServer(data_dir, extra_config=f'\n[dns]\nnameserver = "127.0.0.1:{dns_port}"\ntimeout = 2\n').start()


def send(srv, message, sender="bob@sender.test", helo="mail.sender.test"):
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as s:
        s.ehlo(helo)
        return s.sendmail(sender, ["alice@example.test"], message)


def stored_messages(srv):
    return [raw_message(srv, "alice@example.test", i) for i in mailbox_ids(srv, "alice@example.test")]


def auth_results(stored):
    """The Authentication-Results fields of a stored message, parsed by authres."""
    header = stored.split(b"\r\n\r\n", 1)[0].decode()
    unfolded = re.sub(r"\r\n[ \t]+", " ", header)
    fields = [l for l in unfolded.split("\r\n") if l.lower().startswith("authentication-results:")]
    return [authres.AuthenticationResultsHeader.parse(f) for f in fields]


def results_by_method(parsed):
    out = {}
    for r in parsed.results:
        out.setdefault(r.method, []).append(r)
    return out


@pytest.fixture
def dns():
    d = LocalDNS([]).start()
    yield d
    d.stop()


BASE_ZONE = [
    ("sender.test", "TXT", "v=spf1 -all"),          # 127.0.0.1 is not allowed: SPF fails
    ("sender.test", "MX", (10, "mail.sender.test")),
    ("mail.sender.test", "A", "192.0.2.1"),
    ("mail.sender.test", "TXT", "v=spf1 a -all"),
    ("1.0.0.127.in-addr.arpa", "PTR", "localhost.test"),
]


@pytest.mark.parametrize("policy", ["reject", "quarantine", "none"])
def test_dmarc_policy_applied_at_end_of_data(data_dir, dns, policy):
    dns.resolver.set_records(BASE_ZONE + [("_dmarc.sender.test", "TXT", f"v=DMARC1; p={policy}")])
    srv = start_server(data_dir, dns.port)
    try:
        if policy == "reject":
            with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as s:
                s.ehlo("mail.sender.test")
                with pytest.raises(smtplib.SMTPDataError) as e:
                    s.sendmail("bob@sender.test", ["alice@example.test"], MESSAGE)
                assert e.value.smtp_code == 550 and e.value.smtp_error.startswith(b"5.7.1"), e.value
                assert b"DMARC" in e.value.smtp_error and b"sender.test" in e.value.smtp_error
                assert mailbox_ids(srv, "alice@example.test") == []
                # The connection stays usable: the next transaction (a domain without DMARC) is accepted.
                other = MESSAGE.replace(b"bob@sender.test", b"carol@nodmarc.test")
                assert s.sendmail("carol@nodmarc.test", ["alice@example.test"], other) == {}
            [stored] = stored_messages(srv)
            by = results_by_method(auth_results(stored)[0])
            assert by["dmarc"][0].result == "none"
            assert "message refused at end of data" in srv.log()
            return
        assert send(srv, MESSAGE) == {}
        [stored] = stored_messages(srv)
        [ar] = auth_results(stored)
        assert ar.authserv_id == "mx.petrel.test"
        by = results_by_method(ar)
        assert by["spf"][0].result == "fail"
        assert by["dkim"][0].result == "none"
        assert by["dmarc"][0].result == "fail"
        marked = b"X-Petrel-Quarantine: dmarc=fail" in stored
        assert marked == (policy == "quarantine")
        assert stored.endswith(MESSAGE)
    finally:
        srv.stop()
        srv.kill()


@pytest.mark.peer("openssl")
def test_dkim_aligned_pass_overrides_spf_fail_and_ar_parses(data_dir, dns, tmp_path):
    keys = make_keys(tmp_path)
    dns.resolver.set_records(BASE_ZONE + [
        ("_dmarc.sender.test", "TXT", "v=DMARC1; p=reject"),
        ("ed1._domainkey.sender.test", "TXT", keys["ed"][1]),
        ("rsa1._domainkey.sender.test", "TXT", keys["rsa"][1]),
    ])
    srv = start_server(data_dir, dns.port)
    try:
        message = (dkim.sign(MESSAGE, b"ed1", b"sender.test", keys["ed"][0], signature_algorithm=b"ed25519-sha256")
                   + dkim.sign(MESSAGE, b"rsa1", b"sender.test", keys["rsa"][0]) + MESSAGE)
        # A forged result claiming to be ours must not survive (RFC 8601 §5).
        forged = b"Authentication-Results: mx.petrel.test; dmarc=pass header.from=sender.test\r\n"
        assert send(srv, forged + message) == {}
        [stored] = stored_messages(srv)
        [ar] = auth_results(stored)
        by = results_by_method(ar)
        assert [r.result for r in by["dkim"]] == ["pass", "pass"]
        assert {p.value for r in by["dkim"] for p in r.properties if p.name == "d"} == {"sender.test"}
        assert by["spf"][0].result == "fail"
        assert [r.result for r in by["spf"]] == ["fail", "fail"]  # MAIL FROM and HELO
        assert by["dmarc"][0].result == "pass"
        assert {p.type + "." + p.name: p.value for p in by["dmarc"][0].properties} == {"header.from": "sender.test"}
        assert b"X-Removed-Auth-Results: mx.petrel.test; dmarc=pass" in stored
        assert stored.count(b"Authentication-Results:") == 1
    finally:
        srv.stop()
        srv.kill()


def test_spf_pass_aligns_and_temporary_dns_errors_never_reject(data_dir, dns):
    dns.resolver.set_records([r for r in BASE_ZONE if r[:2] != ("sender.test", "TXT")] + [
        ("sender.test", "TXT", "v=spf1 ip4:127.0.0.0/8 -all"),
        ("_dmarc.sender.test", "TXT", "v=DMARC1; p=reject"),
        ("_dmarc.broken.test", "TXT", "v=DMARC1; p=reject"),
        ("broken.test", "TXT", "v=spf1 -all"),
    ])
    dns.resolver.servfail = {"_dmarc.broken.test."}
    srv = start_server(data_dir, dns.port)
    try:
        assert send(srv, MESSAGE) == {}
        broken = MESSAGE.replace(b"bob@sender.test", b"eve@broken.test")
        assert send(srv, broken, sender="eve@broken.test") == {}
        first, second = stored_messages(srv)
        by = results_by_method(auth_results(first)[0])
        assert by["spf"][0].result == "pass" and by["dmarc"][0].result == "pass"
        by = results_by_method(auth_results(second)[0])
        assert by["spf"][0].result == "fail" and by["dmarc"][0].result == "temperror"
    finally:
        srv.stop()
        srv.kill()


def test_submission_is_signed_and_verifies_with_dkimpy(data_dir, dns):
    dns.resolver.set_records([])
    srv = start_server(data_dir, dns.port)
    try:
        records = {f"{s}._domainkey.example.test": t for s, t in dkim_keys(data_dir, "example.test").items()}
        msg = MESSAGE.replace(b"bob@sender.test", b"alice@example.test").replace(b"To: alice@example.test", b"To: bob@example.test")
        with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30) as s:
            s.ehlo("client.test")
            s.starttls()
            s.ehlo("client.test")
            s.login("alice@example.test", "alice-password")
            assert s.sendmail("alice@example.test", ["bob@example.test"], msg) == {}
        [i] = mailbox_ids(srv, "bob@example.test")
        stored = raw_message(srv, "bob@example.test", i)
        assert stored.count(b"DKIM-Signature:") == 2
        assert b"Authentication-Results" not in stored  # submissions are not checked
        assert verify_all_with_dkimpy(stored, records) == [True, True]
    finally:
        srv.stop()
        srv.kill()


def test_dns_command_prints_and_checks_records(data_dir, dns):
    run_cli(data_dir, "domain", "add", "example.test")
    config = data_dir.parent / "dns.toml"
    config.write_text(f'[server]\nhostname = "mx.petrel.test"\ndata_dir = "{data_dir}"\n'
                      f'[dns]\nnameserver = "127.0.0.1:{dns.port}"\ntimeout = 2\n')
    zone = run_cli(data_dir, "dns", "example.test", "--ip", "127.0.0.1", "--config", str(config)).stdout
    assert "example.test.\t3600\tIN\tMX\t10 mx.petrel.test." in zone
    assert '"v=spf1 mx ip4:127.0.0.1 -all"' in zone
    assert "1.0.0.127.in-addr.arpa.\t3600\tIN\tPTR\tmx.petrel.test." in zone
    assert "_dmarc.example.test." in zone
    keys = dkim_keys(data_dir, "example.test")
    for sel in keys:
        assert f"{sel}._domainkey.example.test." in zone
    # Nothing published: FAIL lines and exit status 1.
    proc = run_cli(data_dir, "dns", "example.test", "--check", "--config", str(config), check=False)
    assert proc.returncode == 1 and "FAIL  mx:" in proc.stdout and "FAIL  dkim:" in proc.stdout, proc.stdout
    # Publish what it printed: every line OK.
    dns.resolver.set_records([
        ("example.test", "MX", (10, "mx.petrel.test")),
        ("example.test", "TXT", "v=spf1 mx ip4:127.0.0.1 -all"),
        ("mx.petrel.test", "A", "127.0.0.1"),
        ("mx.petrel.test", "TXT", "v=spf1 a -all"),
        ("1.0.0.127.in-addr.arpa", "PTR", "mx.petrel.test"),
        ("_dmarc.example.test", "TXT", "v=DMARC1; p=quarantine"),
    ] + [(f"{s}._domainkey.example.test", "TXT", t) for s, t in keys.items()])
    proc = run_cli(data_dir, "dns", "example.test", "--check", "--config", str(config), check=False)
    assert proc.returncode == 0, proc.stdout
    assert "FAIL" not in proc.stdout and proc.stdout.count("OK    dkim:") == 2, proc.stdout


def test_dns_command_prints_client_service_and_autoconfig_records(data_dir, dns):
    """The SRV records of RFC 6186/8314 follow the configured listeners; the zone text parses (dnspython)."""
    import dns.rdataclass as rdataclass     # dnspython (the fixture `dns` is the loopback DNS server)
    import dns.rdatatype as rdatatype
    import dns.zone as dnszone
    run_cli(data_dir, "domain", "add", "example.test")
    config = data_dir.parent / "dns-srv.toml"
    config.write_text(f'[server]\nhostname = "mx.petrel.test"\ndata_dir = "{data_dir}"\n'
                      f'[dns]\nnameserver = "127.0.0.1:{dns.port}"\ntimeout = 2\n'
                      '[submission]\nlisten = ["127.0.0.1:2587"]\ntls_listen = ["127.0.0.1:2465"]\n'
                      '[pop3]\nlisten = ["127.0.0.1:2110"]\ntls_listen = []\n'
                      '[imap]\nlisten = ["127.0.0.1:2143"]\ntls_listen = []\n'
                      '[autoconfig]\nenabled = true\nlisten = ["127.0.0.1:8443"]\nmail_host = "mail.petrel.test"\n')
    text = run_cli(data_dir, "dns", "example.test", "--ip", "127.0.0.1", "--config", str(config)).stdout
    zone = dnszone.from_text(text, origin=".", relativize=False, check_origin=False)

    def srv(name):
        node = zone.get_node(name + ".")
        assert node is not None, f"{name} missing in:\n{text}"
        (r,) = node.get_rdataset(rdataclass.IN, rdatatype.SRV)
        return r.priority, r.port, r.target.to_text()
    assert srv("_submissions._tcp.example.test") == (0, 2465, "mail.petrel.test.")
    assert srv("_submission._tcp.example.test") == (10, 2587, "mail.petrel.test.")
    assert srv("_pop3._tcp.example.test") == (10, 2110, "mail.petrel.test.")
    assert srv("_imap._tcp.example.test") == (10, 2143, "mail.petrel.test.")
    for absent in ("_pop3s._tcp", "_imaps._tcp"):    # not offered: "0 0 0 ." (RFC 6186 §3.4)
        assert srv(absent + ".example.test") == (0, 0, "."), absent
    cname = zone.get_node("autoconfig.example.test.").get_rdataset(rdataclass.IN, rdatatype.CNAME)
    assert [r.target.to_text() for r in cname] == ["mail.petrel.test."]
    assert srv("_autodiscover._tcp.example.test") == (0, 443, "mail.petrel.test.")
    assert "forward 443 to it" in text              # the listener is on 8443
    # --check: the autoconfig names must reach this server.
    dns.resolver.set_records([("autoconfig.example.test", "A", "127.0.0.1")])
    out = run_cli(data_dir, "dns", "example.test", "--ip", "127.0.0.1", "--check", "--config", str(config), check=False).stdout
    assert "OK    autoconfig: autoconfig.example.test is 127.0.0.1" in out, out
    assert "WARN  autoconfig: autodiscover.example.test does not resolve" in out, out


def test_dkim_rotation(data_dir):
    run_cli(data_dir, "domain", "add", "example.test")
    first = dkim_keys(data_dir, "example.test")
    assert run_cli(data_dir, "dkim", "generate", "example.test", check=False).returncode != 0
    run_cli(data_dir, "dkim", "rotate", "example.test")
    listed = run_cli(data_dir, "dkim", "list", "example.test").stdout
    assert listed.count("\tactive\t") == 2 and listed.count("\tnext\t") == 2
    # Only active keys sign.
    signed = subprocess.run([str(PETREL), "dkim", "sign", "example.test", "--data-dir", str(data_dir)],
                            input=MESSAGE.replace(b"sender.test", b"example.test"), capture_output=True, check=True).stdout
    for sel in first:
        assert f"s={sel};".encode() in signed
    run_cli(data_dir, "dkim", "activate", "example.test")
    listed = run_cli(data_dir, "dkim", "list", "example.test").stdout
    assert listed.count("\tactive\t") == 2 and listed.count("\tretired\t") == 2
    signed = subprocess.run([str(PETREL), "dkim", "sign", "example.test", "--data-dir", str(data_dir)],
                            input=MESSAGE.replace(b"sender.test", b"example.test"), capture_output=True, check=True).stdout
    for sel in first:
        assert f"s={sel};".encode() not in signed
    run_cli(data_dir, "dkim", "purge", "example.test")
    listed = run_cli(data_dir, "dkim", "list", "example.test").stdout
    assert "retired" not in listed and listed.count("\tactive\t") == 2
    # Key files are private.
    for f in (data_dir / "dkim" / "example.test").glob("*.pem"):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
