import Foundation
import MailCore
import MailDNS
import Synchronization

/// A `DNSResolver` over a zone table in the shape of the OpenSPF test suite's `zonedata`: each name has a
/// list of records (type, value) and may hold "TIMEOUT" entries. It behaves like a recursive resolver:
/// CNAMEs are followed (up to 8), a name with no record of the asked type is NODATA, an unknown name
/// NXDOMAIN. Every question is recorded, so tests can count look-ups.
final class ZoneResolver: DNSResolver, Sendable {
    enum Record: Equatable {
        case a(IPAddress), aaaa(IPAddress), mx(Int, String), txt(String), ptr(String), cname(String)
        case timeout(String?) // nil: every type; else that type ("A", "TXT", …)
        var type: String {
            switch self {
            case .a: return "A"
            case .aaaa: return "AAAA"
            case .mx: return "MX"
            case .txt: return "TXT"
            case .ptr: return "PTR"
            case .cname: return "CNAME"
            case .timeout(let t): return t ?? "*"
            }
        }
    }

    let zone: [String: [Record]]
    /// Names under this prefix that are not in the zone time out (the suite's "error." convention).
    let errorPrefix: String? = "error."
    private let _queries = Mutex<[String]>([])
    var queries: [String] { _queries.withLock { $0 } }

    init(zone: [String: [Record]]) {
        self.zone = Dictionary(zone.map { (DNSName.normalize($0.key), $0.value) }, uniquingKeysWith: { $0 + $1 })
    }

    enum Outcome { case records([Record]), nodata, nx, timeout }

    func lookup(_ rawName: String, _ type: String, depth: Int = 0) -> Outcome {
        _queries.withLock { $0.append("\(type) \(rawName)") }
        let name = DNSName.normalize(rawName)
        // A label over 63 octets cannot be sent; the suite's driver treats it as a DNS error. Other octets
        // (spaces, "%") are legal in DNS labels and are looked up as they are.
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if labels.contains(where: { $0.utf8.count > 63 }) { return .timeout }
        if name.isEmpty || name.utf8.count > 253 || labels.contains(where: \.isEmpty) { return .nx }
        guard let records = zone[name] else {
            if let p = errorPrefix, name.hasPrefix(p) { return .timeout }
            return .nx
        }
        // The suite's semantics: a TIMEOUT entry answers with a timeout unless a record of the asked type
        // came before it.
        var found: [Record] = []
        for r in records {
            if case .timeout(let t) = r {
                if t == nil && found.isEmpty { return .timeout }
                if t == type { return .timeout }
                continue
            }
            if r.type == type { found.append(r) }
        }
        if !found.isEmpty { return .records(found) }
        if type != "CNAME", depth < 8, let cname = records.first(where: { $0.type == "CNAME" }),
            case .cname(let target) = cname
        {
            return lookup(target, type, depth: depth + 1)
        }
        return .nodata
    }

    func answer<T: Sendable>(_ name: String, _ type: String, _ map: (Record) -> T?) -> DNSAnswer<[T]> {
        switch lookup(name, type) {
        case .timeout: return .temporaryFailure("timeout for \(name)")
        case .nx: return .nxDomain
        case .nodata: return .noData
        case .records(let rs):
            let values = rs.compactMap(map)
            return values.isEmpty ? .noData : .records(values)
        }
    }

    func mx(_ domain: String) async -> DNSAnswer<[MXRecord]> {
        answer(domain, "MX") {
            if case .mx(let p, let e) = $0 { return MXRecord(preference: p, exchange: e) }; return nil
        }
    }

    func ipv4Addresses(_ host: String) async -> DNSAnswer<[IPAddress]> {
        answer(host, "A") {
            if case .a(let ip) = $0 { return ip }; return nil
        }
    }

    func ipv6Addresses(_ host: String) async -> DNSAnswer<[IPAddress]> {
        answer(host, "AAAA") {
            if case .aaaa(let ip) = $0 { return ip }; return nil
        }
    }

    func addresses(_ host: String) async -> DNSAnswer<[IPAddress]> {
        let a = await ipv4Addresses(host), aaaa = await ipv6Addresses(host)
        let found = (a.value ?? []) + (aaaa.value ?? [])
        if !found.isEmpty { return .records(found) }
        if a.isTemporaryFailure { return a }
        if aaaa.isTemporaryFailure { return aaaa }
        if case .nxDomain = a { return .nxDomain }
        return .noData
    }

    func ptr(_ ip: IPAddress) async -> DNSAnswer<[String]> {
        answer(DNSName.reverse(ip), "PTR") {
            if case .ptr(let n) = $0 { return DNSName.normalize(n) }; return nil
        }
    }

    func txt(_ name: String) async -> DNSAnswer<[String]> {
        answer(name, "TXT") {
            if case .txt(let t) = $0 { return t }; return nil
        }
    }
}
