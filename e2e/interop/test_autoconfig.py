"""Client set-up over HTTPS ([autoconfig]): Thunderbird's config-v1.1.xml, Outlook's POX Autodiscover
and an Apple .mobileconfig, fetched with http.client over TLS (the server's own certificate), parsed
(xml.etree, plistlib) and checked against the ports and TLS modes of the listeners the server runs.
Plus hostile input: an oversize body (413) and oversize headers (refused), the listener still serving.
"""
import http.client
import plistlib
import socket
import ssl
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import PetrelServer, run_cli

AUTOCONFIG = """
[autoconfig]
enabled = true
listen = ["127.0.0.1:0"]
"""
AD_NS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


@pytest.fixture
def srv(data_dir):
    run_cli(data_dir, "domain", "add", "example.test")
    run_cli(data_dir, "mailbox", "add", "alice@example.test", "--password-stdin", input_text="alice-password\n")
    s = PetrelServer(data_dir, extra_config=AUTOCONFIG).start()
    deadline = time.time() + 30
    while "autoconfig" not in s.ports and time.time() < deadline:
        time.sleep(0.05)
    assert "autoconfig" in s.ports, s.log()
    yield s
    s.stop()
    s.kill()


def tls_context(srv):
    # The server's own (self-signed development) certificate is the only trust anchor.
    ctx = ssl.create_default_context(cafile=str(srv.data_dir / "tls" / "cert.pem"))
    ctx.check_hostname = False  # issued for mx.petrel.test, reached here as 127.0.0.1
    return ctx


def request(srv, method, path, body=None, headers=None):
    conn = http.client.HTTPSConnection("127.0.0.1", srv.ports["autoconfig"], timeout=30, context=tls_context(srv))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type"), resp.read()
    finally:
        conn.close()


def has_imap(srv):
    """IMAP listeners run when the store serves IMAP (logged before the autoconfig listener starts)."""
    return "imaps" in srv.ports


def expected_services(srv):
    services = {
        ("pop3", srv.ports["pop3s"], "SSL"), ("pop3", srv.ports["pop3"], "STARTTLS"),
        ("smtp", srv.ports["submissions"], "SSL"), ("smtp", srv.ports["submission"], "STARTTLS"),
    }
    if has_imap(srv):
        services |= {("imap", srv.ports["imaps"], "SSL"), ("imap", srv.ports["imap"], "STARTTLS")}
    return services


def check_thunderbird(srv, xml_bytes):
    root = ET.fromstring(xml_bytes)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider.findtext("domain") == "example.test"
    seen = set()
    for element in list(provider.findall("incomingServer")) + list(provider.findall("outgoingServer")):
        assert element.findtext("hostname") == "mx.petrel.test"
        assert element.findtext("username") == "%EMAILADDRESS%"
        seen.add((element.get("type"), int(element.findtext("port")), element.findtext("socketType")))
    assert seen == expected_services(srv)
    assert srv.smtp_port not in {port for _, port, _ in seen}, "port 25 is for servers, not clients"
    # Implicit TLS is listed first (RFC 8314).
    assert provider.find("incomingServer").findtext("socketType") == "SSL"
    # IMAP, when offered, is the first incoming server (Thunderbird proposes the first).
    assert provider.find("incomingServer").get("type") == ("imap" if has_imap(srv) else "pop3")
    assert provider.find("outgoingServer").findtext("socketType") == "SSL"


def test_thunderbird_autoconfig_names_the_running_listeners(srv):
    status, ctype, body = request(srv, "GET", "/mail/config-v1.1.xml?emailaddress=alice%40example.test")
    assert status == 200 and ctype.startswith("application/xml")
    check_thunderbird(srv, body)
    status, _, body = request(srv, "GET", "/.well-known/autoconfig/mail/config-v1.1.xml",
                              headers={"Host": "example.test"})
    assert status == 200
    check_thunderbird(srv, body)
    status, _, _ = request(srv, "GET", "/mail/config-v1.1.xml?emailaddress=someone%40elsewhere.test")
    assert status == 404


def test_the_listener_uses_the_servers_certificate(srv):
    pem = ssl.get_server_certificate(("127.0.0.1", srv.ports["autoconfig"]))
    with_file = (srv.data_dir / "tls" / "cert.pem").read_text()
    assert ssl.PEM_cert_to_DER_cert(pem) == ssl.PEM_cert_to_DER_cert(with_file.split("-----END CERTIFICATE-----")[0]
                                                                     + "-----END CERTIFICATE-----\n")


def test_outlook_pox_autodiscover(srv):
    body = ("<?xml version=\"1.0\" encoding=\"utf-8\"?>"
            "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">"
            "<Request><EMailAddress>alice@example.test</EMailAddress>"
            "<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
            "</AcceptableResponseSchema></Request></Autodiscover>")
    for path in ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"):
        status, _, xml_bytes = request(srv, "POST", path, body=body, headers={"Content-Type": "text/xml"})
        assert status == 200
        account = ET.fromstring(xml_bytes).find(f"{AD_NS}Response/{AD_NS}Account")
        assert account.findtext(f"{AD_NS}AccountType") == "email"
        protocols = {p.findtext(f"{AD_NS}Type"): p for p in account.findall(f"{AD_NS}Protocol")}
        assert set(protocols) == ({"IMAP", "POP3", "SMTP"} if has_imap(srv) else {"POP3", "SMTP"})
        if has_imap(srv):
            assert int(protocols["IMAP"].findtext(f"{AD_NS}Port")) == srv.ports["imaps"]
        assert int(protocols["POP3"].findtext(f"{AD_NS}Port")) == srv.ports["pop3s"]
        assert int(protocols["SMTP"].findtext(f"{AD_NS}Port")) == srv.ports["submissions"]
        for p in protocols.values():
            assert p.findtext(f"{AD_NS}Server") == "mx.petrel.test"
            assert p.findtext(f"{AD_NS}LoginName") == "alice@example.test"
            assert p.findtext(f"{AD_NS}Encryption") == "SSL" and p.findtext(f"{AD_NS}SSL") == "on"
    status, _, _ = request(srv, "POST", "/autodiscover/autodiscover.xml", body="<Autodiscover/>")
    assert status == 400


def test_apple_mobileconfig(srv):
    status, ctype, data = request(srv, "GET", "/mail/petrel.mobileconfig?emailaddress=alice%40example.test")
    assert status == 200 and ctype == "application/x-apple-aspen-config"
    profile = plistlib.loads(data)
    assert profile["PayloadType"] == "Configuration"
    (account,) = profile["PayloadContent"]
    assert account["PayloadType"] == "com.apple.mail.managed"
    incoming = "imaps" if has_imap(srv) else "pop3s"
    assert account["EmailAccountType"] == ("EmailTypeIMAP" if has_imap(srv) else "EmailTypePOP")
    assert account["EmailAddress"] == "alice@example.test"
    assert account["IncomingMailServerHostName"] == "mx.petrel.test"
    assert account["IncomingMailServerPortNumber"] == srv.ports[incoming]
    assert account["IncomingMailServerUseSSL"] is True
    assert account["OutgoingMailServerPortNumber"] == srv.ports["submissions"]
    assert account["OutgoingMailServerUseSSL"] is True
    assert account["IncomingMailServerUsername"] == "alice@example.test"


def test_oversize_body_and_headers_are_refused(srv):
    status, _, _ = request(srv, "POST", "/autodiscover/autodiscover.xml", body=b"<a>" + b"x" * 200_000)
    assert status == 413
    # 40 KiB of headers: past the 16 KiB bound the server closes the connection (or answers 4xx).
    raw = socket.create_connection(("127.0.0.1", srv.ports["autoconfig"]), timeout=30)
    tls = tls_context(srv).wrap_socket(raw)
    tls.sendall(b"GET /mail/config-v1.1.xml?emailaddress=alice%40example.test HTTP/1.1\r\nHost: x\r\n")
    answer = b""
    try:
        for i in range(40):
            tls.sendall(b"X-Filler-%d: " % i + b"y" * 1000 + b"\r\n")
        tls.sendall(b"\r\n")
        while True:
            chunk = tls.recv(4096)
            if not chunk:
                break
            answer += chunk
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        tls.close()
    assert not answer.startswith(b"HTTP/1.1 200"), answer[:200]
    # Still serving afterwards.
    status, _, _ = request(srv, "GET", "/mail/config-v1.1.xml?emailaddress=alice%40example.test")
    assert status == 200
