/// The relay-control keys of the configuration (relay control issue): `[relay]`, `[dns]` and the
/// connection-control and abuse limits of `[smtp]`, with their value syntax:
/// networks per RFC 4632 §3.1 (IPv4 CIDR) and RFC 4291 §2.3 (IPv6 prefixes), client domains per
/// RFC 5321 §4.1.2 `Domain`, the nameserver as an IP address with an optional port.
import MailCore
import TOMLKit

extension ConfigReader {
    static let accessSMTPKeys: [String: Apply] = [
        "connection_allow": { c, v in assign(networks(v)) { c.smtp.connectionAllow = $0 } },
        "connection_deny": { c, v in assign(networks(v)) { c.smtp.connectionDeny = $0 } },
        "max_connection_rate_per_ip": { c, v in assign(integer(v, 0...1_000_000)) { c.smtp.maxConnectionRatePerIP = $0 } },
        "invalid_recipient_delay_after": { c, v in assign(integer(v, 0...10_000)) { c.smtp.invalidRecipientDelayAfter = $0 } },
        "max_invalid_recipients": { c, v in assign(integer(v, 0...10_000)) { c.smtp.maxInvalidRecipients = $0 } },
        "invalid_recipient_delay": { c, v in assign(integer(v, 0...60_000)) { c.smtp.invalidRecipientDelay = $0 } },
        "greeting_delay": { c, v in assign(integer(v, 0...60)) { c.smtp.greetingDelay = $0 } },
        "reject_unauthenticated_local_sender": { c, v in assign(boolean(v)) { c.smtp.rejectUnauthenticatedLocalSender = $0 } }
    ]

    static let relayKeys: [String: Apply] = [
        "allow_authenticated": { c, v in assign(boolean(v)) { c.relay.allowAuthenticated = $0 } },
        "allow_networks": { c, v in assign(networks(v)) { c.relay.allowNetworks = $0 } },
        "allow_client_domains": { c, v in assign(clientDomains(v)) { c.relay.allowClientDomains = $0 } },
        "allow_recipient_domains": { c, v in assign(recipientDomains(v)) { c.relay.allowRecipientDomains = $0 } },
        "allow_recipients": { c, v in assign(recipientAddresses(v)) { c.relay.allowRecipients = $0 } }
    ]

    static let dnsKeys: [String: Apply] = [
        "nameserver": { c, v in assign(nameserver(v)) { c.dns.nameserver = $0 } },
        "timeout": { c, v in assign(integer(v, 1...60)) { c.dns.timeout = $0 } }
    ]

    /// An array of strings (a single string is accepted as a one-element list); every item is checked.
    static func stringList(
        _ value: any TOMLValueConvertible, what: String,
        _ item: (String) -> Result<String, ValueError>
    ) -> Result<[String], ValueError> {
        let items: [any TOMLValueConvertible]
        if let array = value.array {
            items = Array(array)
        } else if value.string != nil {
            items = [value]
        } else {
            return .failure(ValueError(message: "must be an array of \(what) strings, got \(describe(value))"))
        }
        var out: [String] = []
        var problems: [String] = []
        for (index, element) in items.enumerated() {
            guard let text = element.string else {
                problems.append("item \(index + 1) must be a string, got \(describe(element))")
                continue
            }
            switch item(text) {
            case .success(let v): if !out.contains(v) { out.append(v) }
            case .failure(let e): problems.append(e.message)
            }
        }
        return problems.isEmpty ? .success(out) : .failure(ValueError(message: problems.joined(separator: "; ")))
    }

    static func networks(_ value: any TOMLValueConvertible) -> Result<[String], ValueError> {
        stringList(value, what: "IP address or CIDR network") { text in
            ConfigNetwork.normalize(text).mapError { ValueError(message: $0.reason) }
        }
    }

    static func clientDomains(_ value: any TOMLValueConvertible) -> Result<[String], ValueError> {
        stringList(value, what: "domain") { text in
            var s = Substring(text)
            if s.hasPrefix("*.") { s = s.dropFirst(2) } else if s.hasPrefix(".") { s = s.dropFirst() }
            // One canonical spelling (lower case, A-labels) so "bücher.example" matches the PTR name.
            guard MailboxSyntax.normalizeDomain(String(s)) != nil, let name = IDNA.canonicalKey(String(s)) else {
                return .failure(ValueError(message: "\(quoted(text)) is not a domain name such as \"mail.example.com\""))
            }
            return .success(name)
        }
    }

    /// relay-domain = ["." / "*."] Domain: the domain itself, or (with the dot) its subdomains only.
    /// Kept as ".name" / "name" with the name canonical (lower case, A-labels), as MailPolicy's
    /// `AccessSyntax.recipientDomain` reads it back.
    static func recipientDomains(_ value: any TOMLValueConvertible) -> Result<[String], ValueError> {
        stringList(value, what: "domain") { text in
            var s = Substring(text)
            var prefix = ""
            if s.hasPrefix("*.") { s = s.dropFirst(2); prefix = "." } else if s.hasPrefix(".") { s = s.dropFirst(); prefix = "." }
            guard MailboxSyntax.normalizeDomain(String(s)) != nil, let name = IDNA.canonicalKey(String(s)) else {
                return .failure(
                    ValueError(message: "\(quoted(text)) is not a domain name such as \"backup.example\" (or \".backup.example\" for its subdomains)")
                )
            }
            return .success(prefix + name)
        }
    }

    /// A valid recipient of a relay domain: Mailbox (RFC 5321 §4.1.2, no address literal), kept as its
    /// lookup key (`local@domain`, local part lower-cased, domain canonical).
    static func recipientAddresses(_ value: any TOMLValueConvertible) -> Result<[String], ValueError> {
        stringList(value, what: "e-mail address") { text in
            guard let address = EmailAddress(text), !address.isAddressLiteral, address.routingDomain != nil else {
                return .failure(ValueError(message: "\(quoted(text)) is not an e-mail address such as \"alice@backup.example\""))
            }
            return .success(address.lookupKey)
        }
    }

    /// nameserver = IPv4address [":" port] / "[" IPv6address "]" [":" port] / IPv6address   (port default 53)
    static func nameserver(_ value: any TOMLValueConvertible) -> Result<PetrelConfiguration.Listener?, ValueError> {
        string(value).flatMap { s in
            if s.isEmpty { return .success(nil) }
            switch HostPort.parse(s, defaultPort: 53) {
            case .success(let l) where IPAddress(l.host) != nil && l.port > 0: return .success(l)
            default:
                return .failure(
                    ValueError(
                        message:
                            "must be an IP address with an optional port, e.g. \"127.0.0.1:5353\" or \"[::1]:53\" (\"\" for the system's first nameserver), got \(quoted(s))"
                    ))
            }
        }
    }
}

/// CIDR checking without MailPolicy (PetrelConfig stays light): the same rules as `IPNetwork`.
public enum ConfigNetwork {
    public struct SyntaxError: Error, Equatable, Sendable { public var reason: String }

    /// network = IPv4address ["/" 0-32] / IPv6address ["/" 0-128], host bits below the prefix zero.
    /// Returns "address/length" (a bare address gets /32 or /128).
    public static func normalize(_ text: String) -> Result<String, SyntaxError> {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let first = parts.first, let ip = IPAddress(String(first)) else {
            return .failure(
                SyntaxError(
                    reason:
                        "\(ConfigReader.quoted(text)) is not an IP address or CIDR network (examples: \"192.0.2.7\", \"192.0.2.0/24\", \"2001:db8::/32\")"
                ))
        }
        let maxLen = ip.bytes.count * 8
        var len = maxLen
        if parts.count == 2 {
            guard parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let l = Int(parts[1]), l <= maxLen else {
                return .failure(SyntaxError(reason: "\(ConfigReader.quoted(text)): the prefix length must be a number from 0 to \(maxLen)"))
            }
            len = l
        }
        var masked = ip.bytes
        for i in 0..<masked.count {
            let bits = max(0, min(8, len - i * 8))
            masked[i] &= bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bits))
        }
        guard masked == ip.bytes else {
            let fixed = IPAddress(bytes: masked).map { "\($0)/\(len)" } ?? "?"
            return .failure(
                SyntaxError(reason: "\(ConfigReader.quoted(text)) has host bits set below the /\(len) prefix; did you mean \"\(fixed)\"?"))
        }
        return .success("\(ip)/\(len)")
    }
}
