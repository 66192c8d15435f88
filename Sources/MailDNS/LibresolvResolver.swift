import CPetrelResolv
import MailCore

/// A `DNSResolver` that asks one recursive nameserver through glibc libresolv (`res_nquery` on a private
/// resolver state). It never uses the servers in /etc/resolv.conf and never applies search domains.
/// The blocking calls run on the `BlockingCallRunner` it is given (the server's DNS thread pool), not on
/// Swift concurrency's threads; once that runner is shut down, every question fails temporarily.
///
/// libresolv counts time in whole seconds: `timeout` is split across `attempts` tries with glibc's
/// doubling back-off (try k waits retrans << k), with retrans at least 1 s, so a question that gets no
/// answer fails after about max(timeout, 2^attempts - 1 seconds).
public struct LibresolvResolver: DNSResolver {
    public let nameserver: IPAddress
    public let port: Int
    public let retransSeconds: Int
    public let attempts: Int
    let runner: any BlockingCallRunner

    public init(
        nameserver: IPAddress, port: Int = 53, timeout: Duration = .seconds(5), attempts: Int = 1,
        runner: any BlockingCallRunner
    ) {
        self.runner = runner
        self.nameserver = nameserver
        self.port = port
        let attempts = min(max(1, attempts), 4)
        self.attempts = attempts
        let total = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let slices = Double((1 << attempts) - 1) // 1 + 2 + 4 + ...
        self.retransSeconds = max(1, Int((total / slices).rounded(.down)))
    }

    // DNS RR types.
    static let typeA: Int32 = 1, typeCNAME: Int32 = 5, typePTR: Int32 = 12, typeMX: Int32 = 15
    static let typeTXT: Int32 = 16, typeAAAA: Int32 = 28

    /// One decoded answer record (the subset of fields the public calls use).
    struct Record: Sendable {
        var type: Int32
        var owner: String
        var preference: Int
        var target: String
        var address: [UInt8]
        var rdata: [UInt8]
    }

    public func mx(_ domain: String) async -> DNSAnswer<[MXRecord]> {
        await query(domain, type: Self.typeMX).map { recs in
            recs.filter { $0.type == Self.typeMX }.map { MXRecord(preference: $0.preference, exchange: $0.target) }
        }.emptyAsNoData()
    }

    public func addresses(_ host: String) async -> DNSAnswer<[IPAddress]> {
        async let a = query(host, type: Self.typeA)
        async let aaaa = query(host, type: Self.typeAAAA)
        func ips(_ answer: DNSAnswer<[Record]>, _ type: Int32) -> DNSAnswer<[IPAddress]> {
            answer.map { recs in recs.filter { $0.type == type }.compactMap { IPAddress(bytes: $0.address) } }.emptyAsNoData()
        }
        return combineAddressAnswers(ips(await a, Self.typeA), ips(await aaaa, Self.typeAAAA))
    }

    public func ipv4Addresses(_ host: String) async -> DNSAnswer<[IPAddress]> {
        await query(host, type: Self.typeA).map { recs in
            recs.filter { $0.type == Self.typeA }.compactMap { IPAddress(bytes: $0.address) }
        }.emptyAsNoData()
    }

    public func ipv6Addresses(_ host: String) async -> DNSAnswer<[IPAddress]> {
        await query(host, type: Self.typeAAAA).map { recs in
            recs.filter { $0.type == Self.typeAAAA }.compactMap { IPAddress(bytes: $0.address) }
        }.emptyAsNoData()
    }

    public func ptr(_ ip: IPAddress) async -> DNSAnswer<[String]> {
        await query(DNSName.reverse(ip), type: Self.typePTR).map { recs in
            recs.filter { $0.type == Self.typePTR }.map { DNSName.normalize($0.target) }.filter { !$0.isEmpty }
        }.emptyAsNoData()
    }

    public func txt(_ name: String) async -> DNSAnswer<[String]> {
        await query(name, type: Self.typeTXT).map { recs in
            recs.filter { $0.type == Self.typeTXT }.compactMap { Self.txtString($0.rdata) }
        }.emptyAsNoData()
    }

    /// RFC 1035 §3.3.14: one or more <character-string>s (a length byte, then that many bytes).
    /// Returns nil if the RDATA is malformed.
    static func txtString(_ rdata: [UInt8]) -> String? {
        var out: [UInt8] = []
        var i = 0
        while i < rdata.count {
            let n = Int(rdata[i])
            i += 1
            guard i + n <= rdata.count else { return nil }
            out.append(contentsOf: rdata[i..<(i + n)])
            i += n
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Sends one question and decodes the answer section.
    func query(_ name: String, type: Int32) async -> DNSAnswer<[Record]> {
        // A name that cannot be a DNS name does not exist: answering NXDOMAIN keeps callers from retrying.
        // A Unicode name is asked in its A-label form, never as raw UTF-8 (`DNSName.queryName`).
        guard let qname = DNSName.queryName(name) else { return .nxDomain }
        let server = nameserver.bytes, port = port, retrans = retransSeconds, attempts = attempts
        do {
            return try await runner.runBlocking {
                Self.blockingQuery(server: server, port: port, retrans: retrans, attempts: attempts, name: qname, type: type)
            }
        } catch {
            return .temporaryFailure("resolver stopped before asking for \(name)")
        }
    }

    static func blockingQuery(server: [UInt8], port: Int, retrans: Int, attempts: Int, name: String, type: Int32)
        -> DNSAnswer<[Record]>
    {
        var answer = [UInt8](repeating: 0, count: 65535)
        var result = petrel_dns_result()
        let status = server.withUnsafeBufferPointer { srv in
            answer.withUnsafeMutableBufferPointer { buf in
                petrel_dns_query(
                    srv.baseAddress, Int32(srv.count), Int32(port), Int32(retrans), Int32(attempts),
                    name, type, buf.baseAddress, Int32(buf.count), &result)
            }
        }
        switch Int(status) {
        case Int(PETREL_DNS_NXDOMAIN): return .nxDomain
        case Int(PETREL_DNS_NODATA): return .noData
        case Int(PETREL_DNS_SERVFAIL): return .temporaryFailure("SERVFAIL for \(name)")
        case Int(PETREL_DNS_TIMEOUT): return .temporaryFailure("timeout for \(name)")
        case Int(PETREL_DNS_OK): break
        default:
            return .temporaryFailure("DNS error for \(name) (rcode \(result.rcode), error \(result.err))")
        }
        let length = Int(max(0, min(result.length, Int32(answer.count))))
        return answer.withUnsafeBufferPointer { buf -> DNSAnswer<[Record]> in
            guard let base = buf.baseAddress else { return .temporaryFailure("no answer buffer") }
            let count = petrel_dns_answer_count(base, Int32(length))
            guard count >= 0 else { return .temporaryFailure("malformed answer for \(name)") }
            var records: [Record] = []
            for index in 0..<count {
                var rr = petrel_dns_rr()
                guard petrel_dns_answer_at(base, Int32(length), index, &rr) == 0 else {
                    return .temporaryFailure("malformed record in answer for \(name)")
                }
                let start = Int(rr.rdata_offset), len = Int(rr.rdata_len)
                guard start >= 0, len >= 0, start + len <= length else {
                    return .temporaryFailure("malformed record in answer for \(name)")
                }
                records.append(
                    Record(
                        type: rr.type,
                        owner: cString(&rr.owner),
                        preference: Int(rr.preference),
                        target: cString(&rr.target),
                        address: withUnsafeBytes(of: &rr.address) { Array($0.prefix(Int(rr.address_len))) },
                        rdata: Array(buf[start..<(start + len)])
                    ))
            }
            return .records(records)
        }
    }

    /// Reads a NUL-terminated char array imported from C as a tuple (bounded by the tuple's size).
    private static func cString<T>(_ tuple: inout T) -> String {
        withUnsafeBytes(of: &tuple) { raw in
            let bytes = raw.prefix(while: { $0 != 0 })
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

extension DNSAnswer where Value: Collection {
    /// Records of other types only (e.g. a CNAME without the target's records) count as NODATA.
    func emptyAsNoData() -> DNSAnswer<Value> {
        if case .records(let v) = self, v.isEmpty { return .noData }
        return self
    }
}
