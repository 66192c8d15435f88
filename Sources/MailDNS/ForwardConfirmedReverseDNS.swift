import MailCore

/// The iprev result of RFC 8601 §3 (Authentication-Results "iprev=").
public enum IPRevResult: Hashable, Sendable {
    /// A PTR name whose A/AAAA records contain the address.
    case pass(String)
    /// The look-ups completed and no PTR name maps back to the address (including no PTR at all).
    case fail
    /// A look-up failed temporarily and no name was confirmed.
    case tempError(String)

    public var verifiedName: String? {
        if case .pass(let name) = self { return name }
        return nil
    }

    /// The token for Authentication-Results: "pass", "fail", "temperror".
    public var token: String {
        switch self {
        case .pass: return "pass"
        case .fail: return "fail"
        case .tempError: return "temperror"
        }
    }
}

/// Forward-confirmed reverse DNS (FCrDNS, RFC 8601 §3 iprev): PTR of the IP → names → A/AAAA of each name
/// must contain the IP. IPv4-mapped IPv6 addresses are checked as IPv4.
public struct ForwardConfirmedReverseDNS: Sendable {
    public let resolver: any DNSResolver
    /// At most this many PTR names are checked (a PTR RRset can be large; RFC 8601 lets verifiers limit it).
    public let maxNames: Int

    public init(resolver: any DNSResolver, maxNames: Int = 10) {
        self.resolver = resolver
        self.maxNames = max(1, maxNames)
    }

    /// The first PTR name (in answer order) that maps back to `ip`, or nil (fail or temporary error).
    public func verify(ip: IPAddress) async -> String? {
        await check(ip: ip).verifiedName
    }

    public func check(ip: IPAddress) async -> IPRevResult {
        let ip = DNSName.unmapped(ip)
        let names: [String]
        switch await resolver.ptr(ip) {
        case .records(let r): names = r
        case .nxDomain, .noData: return .fail
        case .temporaryFailure(let reason): return .tempError(reason)
        }
        var temporary: String?
        for name in names.prefix(maxNames) where DNSName.isQueryable(name) {
            switch await resolver.addresses(name) {
            case .records(let addrs):
                if addrs.contains(where: { DNSName.unmapped($0) == ip }) { return .pass(DNSName.normalize(name)) }
            case .temporaryFailure(let reason):
                temporary = temporary ?? reason
            case .nxDomain, .noData:
                continue
            }
        }
        if let temporary { return .tempError(temporary) }
        return .fail
    }
}
