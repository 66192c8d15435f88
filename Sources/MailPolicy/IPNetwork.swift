/// An IPv4 or IPv6 network in CIDR form (RFC 4632 §3.1, RFC 4291 §2.3), e.g. `192.0.2.0/24`, `2001:db8::/32`.
import MailCore

public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    /// Parses `ADDR` (a single host) or `ADDR/LEN`. Host bits set below the prefix are rejected,
    /// so a typo like `10.0.0.1/8` is caught instead of silently widening.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let ip = IPAddress(String(parts[0])) else { return nil }
        let maxLen = ip.bytes.count * 8
        var len = maxLen
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                let l = Int(parts[1]), l >= 0, l <= maxLen
            else { return nil }
            len = l
        }
        guard IPNetwork.masked(ip.bytes, len) == ip.bytes else { return nil }
        self.address = ip
        self.prefixLength = len
    }

    public func contains(_ ip: IPAddress) -> Bool {
        var candidate = ip.bytes
        // An IPv4-mapped IPv6 client (::ffff:a.b.c.d) matches IPv4 networks.
        if address.bytes.count == 4, candidate.count == 16, candidate[0..<10].allSatisfy({ $0 == 0 }),
            candidate[10] == 0xff, candidate[11] == 0xff
        {
            candidate = Array(candidate[12..<16])
        }
        guard candidate.count == address.bytes.count else { return false }
        return IPNetwork.masked(candidate, prefixLength) == address.bytes
    }

    static func masked(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        var out = bytes
        for i in 0..<out.count {
            let bitsHere = max(0, min(8, prefix - i * 8))
            let mask: UInt8 = bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bitsHere))
            out[i] &= mask
        }
        return out
    }

    public var description: String { "\(address)/\(prefixLength)" }
}
