"""A small authoritative DNS server on 127.0.0.1 for the tests (dnslib), so Petrel's resolver never asks
the system's. Records are given as a list of (name, type, value) tuples:

    ("example.test", "MX", (10, "mx.example.test")), ("mx.example.test", "A", "127.0.0.1"),
    ("null.test", "MX", (0, ".")), ("1.0.0.127.in-addr.arpa", "PTR", "host.test"),
    ("example.test", "TXT", "v=spf1 -all"), ("long.test", "TXT", ["first string ", "second string"])

A TXT value is one string (split into 255-octet character-strings) or a list of character-strings.

A name with no record of the asked type answers NODATA (NOERROR, no answer) when it has other records,
else NXDOMAIN. Names listed in `servfail` answer SERVFAIL. Every question is recorded in `queries` as
(qname as received, lower-cased, without the trailing dot; qtype name), so a test can see what was asked.
"""
import threading

from dnslib import AAAA, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSLabel
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class ZoneResolver(BaseResolver):
    def __init__(self, records, servfail=()):
        self.lock = threading.Lock()
        self.records = []
        self.servfail = {str(DNSLabel(n)).lower() for n in servfail}
        self.queries = []
        self.set_records(records)

    def set_records(self, records):
        with self.lock:
            self.records = [(str(DNSLabel(name)).lower(), rtype, value) for name, rtype, value in records]

    def resolve(self, request, handler):
        reply = request.reply()
        qname = str(request.q.qname).lower()
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((qname.rstrip("."), qtype))
        if qname in self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        with self.lock:
            matching = [r for r in self.records if r[0] == qname]
        if not matching:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for name, rtype, value in matching:
            if rtype != qtype:
                continue
            if rtype == "A":
                rdata = A(value)
            elif rtype == "AAAA":
                rdata = AAAA(value)
            elif rtype == "MX":
                rdata = MX(value[1], value[0])
            elif rtype == "PTR":
                rdata = PTR(value)
            elif rtype == "TXT":
                if isinstance(value, str):
                    raw = value.encode()
                    value = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
                rdata = TXT([v.encode() if isinstance(v, str) else v for v in value])
            else:
                continue
            reply.add_answer(RR(name, QTYPE.reverse[rtype], rdata=rdata, ttl=60))
        return reply


class LocalDNS:
    """Starts on 127.0.0.1, UDP, an ephemeral port (`port`)."""

    def __init__(self, records, servfail=()):
        self.resolver = ZoneResolver(records, servfail)
        quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
        self.server = DNSServer(self.resolver, address="127.0.0.1", port=0, logger=quiet)

    @property
    def queries(self):
        with self.resolver.lock:
            return list(self.resolver.queries)

    def start(self):
        self.server.start_thread()
        self.port = self.server.server.server_address[1]
        return self

    def stop(self):
        self.server.stop()
        self.server.server.server_close()
