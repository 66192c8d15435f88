/// Recipient and relay decisions (RFC 5321 §3.6, §7.1): pure functions of what is known about the
/// client and the parsed recipient address. No I/O: the caller looks up locality first.
///
/// The rule: mail for a local domain goes to the local mailbox (or is refused as an unknown user);
/// mail for any other domain is relayed only when the client may relay. Relay is closed by default.
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

/// Who may relay. The default allows nobody.
public struct RelayRules: Hashable, Sendable {
    /// Authenticated clients may relay (on by default: authentication is the normal way to send).
    public var allowAuthenticated: Bool
    /// Client networks allowed to relay without authentication.
    public var allowedNetworks: [IPNetwork]
    /// Client host domains allowed to relay; only a forward-confirmed reverse DNS name counts.
    public var allowedClientDomains: [String]

    public init(allowAuthenticated: Bool = true, allowedNetworks: [IPNetwork] = [], allowedClientDomains: [String] = []) {
        self.allowAuthenticated = allowAuthenticated
        self.allowedNetworks = allowedNetworks
        self.allowedClientDomains = allowedClientDomains.map { $0.lowercased() }
    }

    public static let closed = RelayRules()
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
