import MailCore

/// An in-memory `DNSResolver` for tests of callers. Names are matched case-insensitively without the
/// trailing dot. A name that appears in no table is NXDOMAIN; a name that appears in some table but not the
/// one asked is NODATA. `failures` makes every question about a name a temporary failure.
public struct StaticResolver: DNSResolver {
    public var mxRecords: [String: [MXRecord]]
    public var addressRecords: [String: [IPAddress]]
    public var ptrRecords: [IPAddress: [String]]
    public var txtRecords: [String: [String]]
    public var failures: [String: String]

    public init(
        mx: [String: [MXRecord]] = [:], addresses: [String: [IPAddress]] = [:], ptr: [IPAddress: [String]] = [:],
        txt: [String: [String]] = [:], failures: [String: String] = [:]
    ) {
        func norm<V>(_ d: [String: V]) -> [String: V] {
            Dictionary(d.map { (DNSName.normalize($0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
        }
        self.mxRecords = norm(mx)
        self.addressRecords = norm(addresses)
        self.ptrRecords = Dictionary(
            ptr.map { (DNSName.unmapped($0.key), $0.value.map(DNSName.normalize)) },
            uniquingKeysWith: { first, _ in first })
        self.txtRecords = norm(txt)
        self.failures = norm(failures)
    }

    private func exists(_ name: String) -> Bool {
        mxRecords[name] != nil || addressRecords[name] != nil || txtRecords[name] != nil
    }

    private func lookup<V: Sendable>(_ name: String, _ table: [String: [V]]) -> DNSAnswer<[V]> {
        let key = DNSName.normalize(name)
        if let reason = failures[key] { return .temporaryFailure(reason) }
        if let v = table[key] { return v.isEmpty ? .noData : .records(v) }
        return exists(key) ? .noData : .nxDomain
    }

    public func mx(_ domain: String) async -> DNSAnswer<[MXRecord]> { lookup(domain, mxRecords) }
    public func addresses(_ host: String) async -> DNSAnswer<[IPAddress]> { lookup(host, addressRecords) }
    public func txt(_ name: String) async -> DNSAnswer<[String]> { lookup(name, txtRecords) }

    public func ptr(_ ip: IPAddress) async -> DNSAnswer<[String]> {
        let ip = DNSName.unmapped(ip)
        if let reason = failures[DNSName.reverse(ip)] { return .temporaryFailure(reason) }
        guard let names = ptrRecords[ip] else { return .nxDomain }
        return names.isEmpty ? .noData : .records(names)
    }
}
