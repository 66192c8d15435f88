/// Listen-address syntax for the `listen` keys: `host:port` where host is an IPv4 address, a host name,
/// or an IPv6 address in brackets (the bracket form of RFC 3986 §3.2.2 `IP-literal`). Port 1–65535.
/// IP syntax is checked by MailCore's `IPAddress` (RFC 4291 §2.2), names by `MailboxSyntax.normalizeDomain`
/// (RFC 5321 §4.1.2 Domain).
import MailCore

extension PetrelConfiguration.Listener: CustomStringConvertible {
    /// listen-address = ( IPv4address / domain / "[" IPv6address [ "%" zone ] "]" ) ":" port
    /// port           = 1*5DIGIT   ; 0–65535 (0: the kernel picks a free port — for tests)
    ///
    /// The stored `host` has no brackets: `"[::1]:25"` becomes host `::1`, port 25.
    /// Returns a message suitable for `ConfigError.message` when the text is not valid.
    public static func parse(_ text: String) -> Result<PetrelConfiguration.Listener, ListenerSyntaxError> {
        func fail(_ reason: String) -> Result<PetrelConfiguration.Listener, ListenerSyntaxError> {
            .failure(ListenerSyntaxError(reason: reason))
        }
        guard !text.isEmpty else { return fail("must be \"host:port\", got an empty string") }
        guard text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
            return fail("must be \"host:port\" without spaces or control characters")
        }
        let host: String
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return fail("missing \"]\" after IPv6 address") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return fail("missing \":port\" after \"]\"") }
            portText = rest.dropFirst()
            guard let ip = IPAddress(host), ip.isIPv6 else { return fail("\"\(host)\" is not an IPv6 address") }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return fail("missing \":port\" (write \"host:port\")") }
            host = String(text[..<colon])
            portText = text[text.index(after: colon)...]
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
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = Int(portText), (0...65535).contains(port)
        else { return fail("port must be a number between 0 and 65535, got \"\(portText)\"") }
        return .success(PetrelConfiguration.Listener(host: host, port: port))
    }

    /// `127.0.0.1:2525`, `[::1]:2525`, `mail.example.com:25`.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// Why a listen address could not be parsed.
public struct ListenerSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
}

extension PetrelConfiguration.Listener {
    /// True for 127.0.0.0/8, ::1 and "localhost": addresses no other host can reach.
    public var isLoopback: Bool {
        let h = host.lowercased()
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
