/// Where mail for a domain goes next (RFC 5321 §5.1), before any DNS: a per-domain route set by the
/// administrator (like Postfix transport maps), else the smarthost, else an address literal's own IP,
/// else the domain's MX records. Pure.
import MailCore

/// A route or smarthost: MailCore's `HostPort` (prints as `host:port`, `[IPv6]:port`).
public typealias NextHopAddress = HostPort

public enum NextHopChoice: Hashable, Sendable {
    /// A route configured for this domain.
    case route(NextHopAddress)
    /// All outbound mail goes through the smarthost.
    case smarthost(NextHopAddress)
    /// `user@[192.0.2.1]`: connect to that address (RFC 5321 §4.1.3).
    case literal(IPAddress, port: Int)
    /// Look up MX records for the domain; connect to port `port` of the hosts.
    case mx(domain: String, port: Int)
    /// The domain cannot be routed at all (a malformed or general address literal): permanent failure.
    case unroutable(String)
}

public struct RouteTable: Hashable, Sendable {
    /// Routing domain (`EmailAddress.routingDomain(of:)`: lower case, A-labels, canonical literals) → next hop.
    public var routes: [String: NextHopAddress]
    public var smarthost: NextHopAddress?
    /// The port of MX hosts and address literals (25).
    public var remotePort: Int

    public init(routes: [String: NextHopAddress] = [:], smarthost: NextHopAddress? = nil, remotePort: Int = 25) {
        self.routes = Dictionary(routes.map { (Self.key($0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
        self.smarthost = smarthost
        self.remotePort = remotePort
    }

    /// The key a domain is looked up under: its routing domain (the same key queue entries carry), or
    /// the lower-cased text when it has none (it then matches no route and routes nowhere).
    static func key(_ domain: String) -> String {
        EmailAddress.routingDomain(of: domain) ?? domain.lowercased()
    }

    /// The next hop for a routing domain (`[...]` for address literals).
    public func choose(domain: String) -> NextHopChoice {
        let key = Self.key(domain)
        if let route = routes[key] { return .route(route) }
        if let smarthost { return .smarthost(smarthost) }
        if key.hasPrefix("[") {
            guard key.hasSuffix("]") else { return .unroutable("malformed address literal \(domain)") }
            var inner = String(key.dropFirst().dropLast())
            if inner.hasPrefix("ipv6:") { inner = String(inner.dropFirst(5)) }
            guard let ip = IPAddress(inner) else { return .unroutable("unsupported address literal \(domain)") }
            return .literal(ip, port: remotePort)
        }
        return .mx(domain: key, port: remotePort)
    }

    /// The key that groups deliveries sharing a destination (and its connection limit).
    public func destinationKey(domain: String) -> String {
        switch choose(domain: domain) {
        case .route(let hop): return "route:\(hop)"
        case .smarthost(let hop): return "smarthost:\(hop)"
        default: return Self.key(domain)
        }
    }
}
