/// Listen-address syntax for the `listen` keys (and, with a port ≥ 1, for routes and the smarthost):
/// `host:port` where host is an IPv4 address, a host name, or an IPv6 address in brackets (the bracket
/// form of RFC 3986 §3.2.2 `IP-literal`). Port 0–65535. The type and its parser are MailCore's
/// `HostPort` (HostPort.swift), shared with the listeners and the outbound route table.
import MailCore

extension PetrelConfiguration {
    /// One address to listen on: an IP address (IPv6 without brackets here) or a host name, and a TCP port.
    /// Written in the file as `"127.0.0.1:2525"` or `"[::1]:2525"`; `Listener.parse(_:)` reads that form.
    public typealias Listener = HostPort
}

/// Why a listen address could not be parsed (`reason` is the sentence shown in config errors).
public typealias ListenerSyntaxError = HostPortSyntaxError
