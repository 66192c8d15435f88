/// `HostPort`: a host (IPv4 address, host name, or IPv6 address without brackets) and a TCP port — the one
/// value type for listen addresses, next hops (routes, smarthost), the admin endpoint and the DNS
/// nameserver — with its text form `host:port` / `[IPv6]:port` (the bracket form of RFC 3986 §3.2.2
/// `IP-literal`). IP syntax is checked by `IPAddress` (RFC 4291 §2.2), names by
/// `MailboxSyntax.normalizeDomain` (RFC 5321 §4.1.2 Domain). Pure; bad text becomes an error value.

public struct HostPort: Hashable, Sendable, CustomStringConvertible {
    /// No brackets: `"[::1]:25"` has host `::1`.
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `127.0.0.1:2525`, `[::1]:2525`, `mail.example.com:25`.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// True for 127.0.0.0/8, ::1 and "localhost": addresses no other host can reach.
    public var isLoopback: Bool {
        let h = host.lowercased()
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// host-port = host ":" port
    /// host      = IPv4address / domain / "[" IPv6address [ "%" zone ] "]"
    /// port      = 1*5DIGIT   ; 0–65535 (0: the kernel picks a free port — for tests)
    ///
    /// With `defaultPort`, the `":" port` part may be left out (`"192.0.2.1"`, `"[::1]"`, `"mail.example"`),
    /// and a bare IPv6 address (`"::1"`, no brackets, no port) is accepted too. Without it the port is
    /// required and a bare IPv6 address is refused (`"::1:25"` is ambiguous). The errors are written for
    /// an administrator reading a configuration error.
    public static func parse(_ text: String, defaultPort: Int? = nil) -> Result<HostPort, HostPortSyntaxError> {
        func fail(_ reason: String) -> Result<HostPort, HostPortSyntaxError> {
            .failure(HostPortSyntaxError(reason: reason))
        }
        guard !text.isEmpty else { return fail("must be \"host:port\", got an empty string") }
        guard text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
            return fail("must be \"host:port\" without spaces or control characters")
        }
        let host: String
        let portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return fail("missing \"]\" after IPv6 address") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.isEmpty, defaultPort != nil {
                portText = nil
            } else {
                guard rest.hasPrefix(":") else { return fail("missing \":port\" after \"]\"") }
                portText = rest.dropFirst()
            }
            guard let ip = IPAddress(host), ip.isIPv6 else { return fail("\"\(host)\" is not an IPv6 address") }
        } else if defaultPort != nil, let ip = IPAddress(text), ip.isIPv6 {
            host = text
            portText = nil
        } else {
            if let colon = text.lastIndex(of: ":") {
                host = String(text[..<colon])
                portText = text[text.index(after: colon)...]
            } else {
                guard defaultPort != nil else { return fail("missing \":port\" (write \"host:port\")") }
                host = text
                portText = nil
            }
            guard !host.contains(":") else {
                return fail("IPv6 addresses must be in brackets, e.g. \"[::1]:25\"")
            }
            guard !host.isEmpty else { return fail("missing host before \":\" (use 0.0.0.0 or [::] for all addresses)") }
            let looksNumeric = host.allSatisfy { $0 == "." || ($0.isASCII && $0.isNumber) }
            if looksNumeric {
                guard IPAddress(host) != nil else { return fail("\"\(host)\" is not an IPv4 address") }
            } else {
                guard MailboxSyntax.normalizeDomain(host) != nil else { return fail("\"\(host)\" is not a valid host name") }
            }
        }
        guard let portText else {
            guard let defaultPort, (0...65535).contains(defaultPort) else { return fail("missing \":port\"") }
            return .success(HostPort(host: host, port: defaultPort))
        }
        guard let port = parsePort(portText) else {
            return fail("port must be a number between 0 and 65535, got \"\(portText)\"")
        }
        return .success(HostPort(host: host, port: port))
    }

    /// port = 1*5DIGIT, value 0–65535 (no sign, no spaces).
    static func parsePort(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }),
            let port = Int(text), (0...65535).contains(port)
        else { return nil }
        return port
    }
}

/// Why a `host:port` text could not be parsed: a sentence for an administrator.
public struct HostPortSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
}
