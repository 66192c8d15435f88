import MailCore

/// One host to try for a domain, in order.
public struct MXTarget: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var preference: Int
    /// True when there was no MX and the domain itself is the target (RFC 5321 §5.1 implicit MX).
    public var isImplicit: Bool

    public init(host: String, preference: Int, isImplicit: Bool = false) {
        self.host = DNSName.normalize(host)
        self.preference = preference
        self.isImplicit = isImplicit
    }

    public var description: String { isImplicit ? "\(host) (implicit MX)" : "\(preference) \(host)" }
}

/// Where mail for a domain goes.
public enum MXRoute: Hashable, Sendable {
    /// Hosts to try in this order (resolve each with `addresses`).
    case targets([MXTarget])
    /// The domain publishes a null MX (RFC 7505): it accepts no mail. Permanent: 556 5.1.10.
    case nullMX
    /// The domain does not exist (NXDOMAIN). Permanent: 550 5.1.2.
    case noSuchDomain
    /// No MX and no A/AAAA for the domain, or every MX pointed at this host. Permanent: 550 5.1.2 / 5.4.4.
    case noMailHost
    /// DNS could not answer now. Temporary: 451 4.4.3.
    case temporaryFailure(String)
}

/// RFC 5321 §5.1 MX selection on top of a `DNSResolver`.
public struct MXResolution: Sendable {
    public let resolver: any DNSResolver

    public init(resolver: any DNSResolver) { self.resolver = resolver }

    /// The hosts to try for `domain`:
    /// - MX records sorted by preference, equal preferences shuffled with `rng`;
    /// - a single MX "." (RFC 7505) → `.nullMX`; "." records mixed with real ones are ignored;
    /// - if `localNames` contains an exchange, that record and every one with an equal or larger preference
    ///   are dropped (§5.1: "MUST discard"); none left → `.noMailHost`;
    /// - no MX (NODATA) → the domain itself if it has A/AAAA (implicit MX, preference 0), else `.noMailHost`.
    public func targets(
        for domain: String, localNames: Set<String> = [], using rng: inout some RandomNumberGenerator
    ) async -> MXRoute {
        switch await resolver.mx(domain) {
        case .temporaryFailure(let reason):
            return .temporaryFailure(reason)
        case .nxDomain:
            return .noSuchDomain
        case .records(let records):
            let real = records.filter { !$0.isNullMX }
            if real.isEmpty { return .nullMX }
            let sorted = Self.order(real, using: &rng)
            let local = Set(localNames.map(DNSName.normalize))
            if let cut = sorted.first(where: { local.contains($0.exchange) })?.preference {
                let kept = sorted.filter { $0.preference < cut }
                if kept.isEmpty { return .noMailHost }
                return .targets(kept.map { MXTarget(host: $0.exchange, preference: $0.preference) })
            }
            return .targets(sorted.map { MXTarget(host: $0.exchange, preference: $0.preference) })
        case .noData:
            switch await resolver.addresses(domain) {
            case .records: return .targets([MXTarget(host: domain, preference: 0, isImplicit: true)])
            case .temporaryFailure(let reason): return .temporaryFailure(reason)
            case .nxDomain, .noData: return .noMailHost
            }
        }
    }

    /// `targets(for:localNames:using:)` with the system random number generator.
    public func targets(for domain: String, localNames: Set<String> = []) async -> MXRoute {
        var rng = SystemRandomNumberGenerator()
        return await targets(for: domain, localNames: localNames, using: &rng)
    }

    /// Sorts by preference and shuffles within each preference; duplicate exchanges keep their best preference.
    static func order(_ records: [MXRecord], using rng: inout some RandomNumberGenerator) -> [MXRecord] {
        var best: [String: Int] = [:]
        for r in records { best[r.exchange] = min(best[r.exchange] ?? Int.max, r.preference) }
        let groups = Dictionary(grouping: best.map { MXRecord(preference: $0.value, exchange: $0.key) }, by: \.preference)
        var out: [MXRecord] = []
        for pref in groups.keys.sorted() {
            // Sort first so the shuffle depends only on the RNG, not on dictionary order.
            let group = (groups[pref] ?? []).sorted { $0.exchange < $1.exchange }
            out.append(contentsOf: group.shuffled(using: &rng))
        }
        return out
    }
}
