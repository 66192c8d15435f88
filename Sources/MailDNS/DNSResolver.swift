import MailCore

/// The result of one DNS question, in the four shapes a mail server has to tell apart:
/// records, "the name exists but has none of that type" (NODATA), "the name does not exist" (NXDOMAIN) and
/// "ask again later" (SERVFAIL, timeout, unreachable server, malformed answer: 4xx for outbound delivery).
public enum DNSAnswer<Value: Sendable>: Sendable {
    case records(Value)
    case noData
    case nxDomain
    case temporaryFailure(String)

    /// The records, or nil for every other outcome.
    public var value: Value? {
        if case .records(let v) = self { return v }
        return nil
    }

    public var isTemporaryFailure: Bool {
        if case .temporaryFailure = self { return true }
        return false
    }

    public func map<T: Sendable>(_ transform: (Value) -> T) -> DNSAnswer<T> {
        switch self {
        case .records(let v): return .records(transform(v))
        case .noData: return .noData
        case .nxDomain: return .nxDomain
        case .temporaryFailure(let reason): return .temporaryFailure(reason)
        }
    }
}

extension DNSAnswer: Equatable where Value: Equatable {}

/// One MX record (RFC 5321 §5.1). `exchange` is lower-cased, without the trailing dot; "" is the root
/// ("." — a null MX, RFC 7505).
public struct MXRecord: Hashable, Sendable, CustomStringConvertible {
    public var preference: Int
    public var exchange: String

    public init(preference: Int, exchange: String) {
        self.preference = preference
        self.exchange = DNSName.normalize(exchange)
    }

    public var isNullMX: Bool { exchange.isEmpty }
    public var description: String { "\(preference) \(exchange.isEmpty ? "." : exchange)" }
}

/// DNS look-ups the mail server needs. Implementations: `LibresolvResolver` (real queries to one
/// configured nameserver) and `StaticResolver` (an in-memory table for tests).
public protocol DNSResolver: Sendable {
    /// MX records of `domain`, in answer order (callers sort: see `MXResolution`).
    func mx(_ domain: String) async -> DNSAnswer<[MXRecord]>
    /// A and AAAA records of `host` (IPv4 first).
    func addresses(_ host: String) async -> DNSAnswer<[IPAddress]>
    /// PTR names of `ip` (in-addr.arpa / ip6.arpa), lower-cased, without trailing dots.
    func ptr(_ ip: IPAddress) async -> DNSAnswer<[String]>
    /// TXT records of `name`; each record's character-strings concatenated (RFC 7208 §3.3), as bytes
    /// decoded as UTF-8 with replacement.
    func txt(_ name: String) async -> DNSAnswer<[String]>
    /// A records of `host` only (SPF's `a`/`mx`/`exists` need one family at a time: NODATA for A is a
    /// void lookup even when the name has AAAA records). Default: `addresses` filtered to IPv4.
    func ipv4Addresses(_ host: String) async -> DNSAnswer<[IPAddress]>
    /// AAAA records of `host` only. Default: `addresses` filtered to IPv6.
    func ipv6Addresses(_ host: String) async -> DNSAnswer<[IPAddress]>
}

extension DNSResolver {
    public func ipv4Addresses(_ host: String) async -> DNSAnswer<[IPAddress]> {
        await addresses(host).map { $0.filter { !$0.isIPv6 } }.emptyAsNoData()
    }

    public func ipv6Addresses(_ host: String) async -> DNSAnswer<[IPAddress]> {
        await addresses(host).map { $0.filter { $0.isIPv6 } }.emptyAsNoData()
    }
}

/// Name helpers shared by the resolvers.
public enum DNSName {
    /// Lower-cases ASCII and drops one trailing dot ("Example.COM." → "example.com", "." → "").
    public static func normalize(_ name: String) -> String {
        var s = Substring(name)
        if s.hasSuffix(".") { s = s.dropLast() }
        return String(s.lowercased())
    }

    /// The name a query is sent for, or nil when there is none: `normalize`d, a name with non-ASCII labels
    /// converted to its A-label form (`IDNA.canonicalDomain`, RFC 5891 §5: `bücher.example` →
    /// `xn--bcher-kva.example`), then `isQueryable`. Callers route by `EmailAddress.routingDomain`, which is
    /// already ASCII; this is defence in depth — raw UTF-8 never goes into a DNS question (it would be a
    /// different, nonexistent name).
    public static func queryName(_ name: String) -> String? {
        var n = normalize(name)
        if !n.utf8.allSatisfy({ $0 < 0x80 }) {
            guard let ascii = IDNA.canonicalKey(n) else { return nil }
            n = ascii
        }
        return isQueryable(n) ? n : nil
    }

    /// True for a name that can be sent as a query: 1–253 characters of printable ASCII without spaces
    /// or backslashes (no presentation-format escapes), labels of 1–63 characters.
    public static func isQueryable(_ name: String) -> Bool {
        let n = normalize(name)
        guard !n.isEmpty, n.utf8.count <= 253 else { return false }
        guard n.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\\") }) else { return false }
        return n.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0.utf8.count <= 63 }
    }

    /// The reverse-lookup name of an address: "4.3.2.1.in-addr.arpa" or the 32-nibble ip6.arpa name.
    /// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) map to the IPv4 name.
    public static func reverse(_ ip: IPAddress) -> String {
        let ip = unmapped(ip)
        if !ip.isIPv6 {
            return ip.bytes.reversed().map(String.init).joined(separator: ".") + ".in-addr.arpa"
        }
        let hex = Array("0123456789abcdef")
        var nibbles: [String] = []
        for byte in ip.bytes.reversed() {
            nibbles.append(String(hex[Int(byte & 0x0f)]))
            nibbles.append(String(hex[Int(byte >> 4)]))
        }
        return nibbles.joined(separator: ".") + ".ip6.arpa"
    }

    /// ::ffff:a.b.c.d → a.b.c.d; every other address unchanged.
    public static func unmapped(_ ip: IPAddress) -> IPAddress {
        guard ip.isIPv6, ip.bytes[0..<10].allSatisfy({ $0 == 0 }), ip.bytes[10] == 0xff, ip.bytes[11] == 0xff,
            let v4 = IPAddress(bytes: Array(ip.bytes[12..<16]))
        else { return ip }
        return v4
    }
}

/// Combines an A and an AAAA answer into one `addresses` answer: any records win; otherwise a temporary
/// failure wins (we cannot say the host has no address); NXDOMAIN only if both say so; else NODATA.
func combineAddressAnswers(_ a: DNSAnswer<[IPAddress]>, _ aaaa: DNSAnswer<[IPAddress]>) -> DNSAnswer<[IPAddress]> {
    let found = (a.value ?? []) + (aaaa.value ?? [])
    if !found.isEmpty { return .records(found) }
    if case .temporaryFailure(let r) = a { return .temporaryFailure(r) }
    if case .temporaryFailure(let r) = aaaa { return .temporaryFailure(r) }
    if case .nxDomain = a { return .nxDomain }
    if case .nxDomain = aaaa { return .nxDomain }
    return .noData
}
