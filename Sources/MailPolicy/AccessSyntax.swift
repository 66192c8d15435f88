/// Parsing of the values administrators write into relay and connection lists (config file and CLI),
/// with messages that say what is wrong: networks (RFC 4632 §3.1 IPv4 CIDR, RFC 4291 §2.3 IPv6 prefixes)
/// and client host domains (RFC 5321 §4.1.2 `Domain`, no address literals).
import MailCore

public enum AccessSyntax {
    /// network = IPv4address ["/" 0-32] / IPv6address ["/" 0-128]   (a bare address is a single host)
    public static func network(_ text: String) -> Result<IPNetwork, AccessSyntaxError> {
        let trimmed = text.trimmingSpaces
        if let net = IPNetwork(trimmed) { return .success(net) }
        let parts = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        guard let first = parts.first, let ip = IPAddress(String(first)) else {
            return .failure(AccessSyntaxError("'\(text)' is not an IP address or CIDR network (examples: 192.0.2.7, 192.0.2.0/24, 2001:db8::/32)"))
        }
        let maxLen = ip.bytes.count * 8
        guard parts.count == 2, let len = Int(parts[1]), len >= 0, len <= maxLen else {
            return .failure(AccessSyntaxError("'\(text)': the prefix length must be a number from 0 to \(maxLen)"))
        }
        let masked = IPNetwork.masked(ip.bytes, len)
        let suggestion = IPAddress(bytes: masked).map { "\($0)/\(len)" } ?? ""
        return .failure(AccessSyntaxError("'\(text)' has host bits set below the /\(len) prefix; did you mean \(suggestion)?"))
    }

    /// domain = Domain (RFC 5321 §4.1.2), in its canonical form (lower case, U-labels as A-labels:
    /// `IDNA.canonicalDomain`, as reverse DNS names are); "*.example.com" and ".example.com" are accepted
    /// as "example.com" (a domain entry always covers its subdomains).
    public static func clientDomain(_ text: String) -> Result<String, AccessSyntaxError> {
        var s = Substring(text.trimmingSpaces)
        if s.hasPrefix("*.") { s = s.dropFirst(2) } else if s.hasPrefix(".") { s = s.dropFirst() }
        guard let name = MailboxSyntax.normalizeDomain(String(s)) else {
            return .failure(AccessSyntaxError("'\(text)' is not a domain name (example: mail.example.com; it also covers its subdomains)"))
        }
        switch IDNA.canonicalDomain(name) {
        case .success(let key): return .success(key)
        case .failure(let error): return .failure(AccessSyntaxError("'\(text)': \(error)"))
        }
    }

    /// relay-domain = ["." / "*."] Domain   (RFC 5321 §4.1.2; no address literals)
    /// `backup.example` is that domain only; `.backup.example` and `*.backup.example` are its subdomains
    /// only (like Postfix `relay_domains` without `parent_domain_matches_subdomains`). The name is kept as
    /// its routing-domain key (lower case, A-labels).
    public static func recipientDomain(_ text: String) -> Result<RelayDomain, AccessSyntaxError> {
        var s = Substring(text.trimmingSpaces)
        var subdomains = false
        if s.hasPrefix("*.") { s = s.dropFirst(2); subdomains = true } else if s.hasPrefix(".") { s = s.dropFirst(); subdomains = true }
        guard let name = MailboxSyntax.normalizeDomain(String(s)) else {
            return .failure(
                AccessSyntaxError("'\(text)' is not a domain name (examples: backup.example for that domain, .backup.example for its subdomains)"))
        }
        switch IDNA.canonicalDomain(name) {
        case .success(let key): return .success(RelayDomain(name: key, coversSubdomains: subdomains))
        case .failure(let error): return .failure(AccessSyntaxError("'\(text)': \(error)"))
        }
    }

    /// A valid recipient of a relay domain: Mailbox (RFC 5321 §4.1.2, no angle brackets, no address
    /// literal). Returns its `EmailAddress.lookupKey` (local part lower-cased, routing domain).
    public static func recipientAddress(_ text: String) -> Result<String, AccessSyntaxError> {
        let trimmed = text.trimmingSpaces
        guard let address = EmailAddress(trimmed), !address.isAddressLiteral else {
            return .failure(AccessSyntaxError("'\(text)' is not an e-mail address such as alice@backup.example"))
        }
        if case .failure(let error) = address.checkedRoutingDomain {
            return .failure(AccessSyntaxError("'\(text)': \(error)"))
        }
        return .success(address.lookupKey)
    }

    /// Parses every item; all problems are reported together.
    public static func networks(_ items: [String]) -> Result<[IPNetwork], AccessSyntaxError> {
        var out: [IPNetwork] = []
        var problems: [String] = []
        for item in items {
            switch network(item) {
            case .success(let n): if !out.contains(n) { out.append(n) }
            case .failure(let e): problems.append(e.message)
            }
        }
        return problems.isEmpty ? .success(out) : .failure(AccessSyntaxError(problems.joined(separator: "; ")))
    }

    public static func clientDomains(_ items: [String]) -> Result<[String], AccessSyntaxError> {
        var out: [String] = []
        var problems: [String] = []
        for item in items {
            switch clientDomain(item) {
            case .success(let d): if !out.contains(d) { out.append(d) }
            case .failure(let e): problems.append(e.message)
            }
        }
        return problems.isEmpty ? .success(out) : .failure(AccessSyntaxError(problems.joined(separator: "; ")))
    }
}

public struct AccessSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
