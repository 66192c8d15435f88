/// Relay rules (RFC 5321 §3.6, §7.1): which clients may relay (`RelayPolicy.permission`, a pure function
/// of what is known about the client) and which foreign domains anyone may send to (`RelayDomain`, a
/// backup MX's "relay domains"), with their optional lists of valid recipients. The recipient decision
/// that applies them is `RecipientRouting` (RecipientRouting.swift). Relay is closed by default.
import MailCore

/// What the server knows when it decides whether a client may relay.
public struct RelayContext: Hashable, Sendable {
    public var client: ClientInfo
    /// The client authenticated with SMTP AUTH (the TLS/AUTH issue sets this).
    public var isAuthenticated: Bool

    public init(client: ClientInfo, isAuthenticated: Bool = false) {
        self.client = client
        self.isAuthenticated = isAuthenticated
    }
}

/// Who may relay, and to which foreign domains anyone may send. The default allows nobody but
/// authenticated clients, and no relay domain.
public struct RelayRules: Hashable, Sendable {
    /// Authenticated clients may relay (on by default: authentication is the normal way to send).
    public var allowAuthenticated: Bool
    /// Client networks allowed to relay without authentication.
    public var allowedNetworks: [IPNetwork]
    /// Client host domains allowed to relay; only a forward-confirmed reverse DNS name counts.
    public var allowedClientDomains: [String]
    /// Relay (recipient) domains: foreign domains ANY client may send to (this server is their backup MX
    /// or a gateway); the mail is queued and forwarded by route or MX. They open no other domain.
    public var recipientDomains: [RelayDomain]
    /// Valid recipients of relay domains, as `EmailAddress.lookupKey`s. A relay domain with at least one
    /// address here accepts only those addresses (550 5.1.1 for the others, from every client); a relay
    /// domain with none accepts any local part. An address outside every relay domain has no effect.
    public var validRecipients: Set<String> { didSet { listedDomains = Self.domains(of: validRecipients) } }
    /// The routing domains of `validRecipients` (the relay domains that have a list).
    private var listedDomains: Set<String>

    public init(
        allowAuthenticated: Bool = true, allowedNetworks: [IPNetwork] = [], allowedClientDomains: [String] = [],
        recipientDomains: [RelayDomain] = [], validRecipients: Set<String> = []
    ) {
        self.allowAuthenticated = allowAuthenticated
        self.allowedNetworks = allowedNetworks
        self.allowedClientDomains = allowedClientDomains.map { $0.lowercased() }
        self.recipientDomains = recipientDomains
        self.validRecipients = validRecipients
        self.listedDomains = Self.domains(of: validRecipients)
    }

    private static func domains(of keys: Set<String>) -> Set<String> {
        Set(keys.compactMap { key in key.lastIndex(of: "@").map { String(key[key.index(after: $0)...]) } })
    }

    public static let closed = RelayRules()

    /// The relay domain entry covering a routing domain, if any (exact names before subdomain entries).
    public func relayDomain(for routingDomain: String) -> RelayDomain? {
        recipientDomains.first { !$0.coversSubdomains && $0.matches(routingDomain) }
            ?? recipientDomains.first { $0.matches(routingDomain) }
    }

    /// Whether `address` may be accepted for its relay domain: true when no valid recipient is listed for
    /// its routing domain, else only when the address is listed.
    public func acceptsRelayRecipient(_ address: EmailAddress) -> Bool {
        guard let domain = address.routingDomain else { return false }
        return !listedDomains.contains(domain) || validRecipients.contains(address.lookupKey)
    }
}

/// One relay (recipient) domain, like Postfix `relay_domains`: `backup.example` matches exactly that
/// domain; `.backup.example` (also written `*.backup.example`) matches every subdomain of it and not
/// `backup.example` itself — list both to cover both. The name is a routing-domain key (lower case,
/// A-labels: `EmailAddress.routingDomain`), so `bücher.example` and `xn--bcher-kva.example` are one entry.
public struct RelayDomain: Hashable, Sendable, CustomStringConvertible {
    /// The domain (routing-domain key) without the leading dot.
    public let name: String
    /// The entry was written `.name`: it covers the subdomains of `name`, not `name`.
    public let coversSubdomains: Bool

    public init(name: String, coversSubdomains: Bool) {
        self.name = name
        self.coversSubdomains = coversSubdomains
    }

    /// True when the entry covers this routing domain (a key as `EmailAddress.routingDomain` gives it).
    public func matches(_ routingDomain: String) -> Bool {
        coversSubdomains ? routingDomain.hasSuffix("." + name) : routingDomain == name
    }

    /// The entry as written in lists: `name` or `.name`.
    public var description: String { coversSubdomains ? "." + name : name }
}

/// Why a relay was allowed, for the log.
public enum RelayPermission: Hashable, Sendable {
    case authenticated
    case network(IPNetwork)
    case clientDomain(String)
}

public enum RelayPolicy {
    /// Decides whether the client may send to a non-local domain. The sender address (MAIL FROM) is
    /// deliberately not an input: anyone can forge it.
    public static func permission(_ context: RelayContext, rules: RelayRules) -> RelayPermission? {
        if rules.allowAuthenticated && context.isAuthenticated { return .authenticated }
        if let ip = context.client.ip, let net = rules.allowedNetworks.first(where: { $0.contains(ip) }) {
            return .network(net)
        }
        if let host = context.client.verifiedHostName?.lowercased() {
            for domain in rules.allowedClientDomains where host == domain || host.hasSuffix("." + domain) {
                return .clientDomain(domain)
            }
        }
        return nil
    }
}
