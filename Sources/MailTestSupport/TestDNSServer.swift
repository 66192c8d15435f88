import Foundation
import MailCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A tiny authoritative-style UDP DNS responder for tests, bound to 127.0.0.1 (or ::1) on an ephemeral
/// port. It answers from a table keyed by (lower-cased name, type); a name in no key is NXDOMAIN, a name in
/// some key but not the one asked is NODATA. Owner names in answers are compression pointers to the
/// question; names inside RDATA equal to the question name are compressed too (exercises dn_expand).
public final class TestDNSServer: Sendable {
    public enum Reply: Sendable {
        case records([RR])
        case rcode(UInt8) // an empty answer with this RCODE (2 = SERVFAIL, 5 = REFUSED)
        case drop // never answer (timeout)
        case malformed // claims one answer record but the RDATA is cut short
    }

    public struct RR: Sendable {
        public var type: UInt16
        public var rdata: RData
        public init(type: UInt16, rdata: RData) { self.type = type; self.rdata = rdata }
        public static func a(_ ip: String) -> RR { RR(type: 1, rdata: .bytes(IPAddress(ip)?.bytes ?? [])) }
        public static func aaaa(_ ip: String) -> RR { RR(type: 28, rdata: .bytes(IPAddress(ip)?.bytes ?? [])) }
        public static func mx(_ pref: UInt16, _ name: String) -> RR { RR(type: 15, rdata: .mx(pref, name)) }
        public static func ptr(_ name: String) -> RR { RR(type: 12, rdata: .name(name)) }
        public static func cname(_ name: String) -> RR { RR(type: 5, rdata: .name(name)) }
        public static func txt(_ strings: [String]) -> RR {
            RR(
                type: 16,
                rdata: .bytes(
                    strings.flatMap { s -> [UInt8] in
                        let b = Array(s.utf8.prefix(255)); return [UInt8(b.count)] + b
                    }))
        }
    }

    public enum RData: Sendable {
        case bytes([UInt8])
        case name(String)
        case mx(UInt16, String)
    }

    public struct Key: Hashable, Sendable {
        public var name: String
        public var type: UInt16
        public init(name: String, type: UInt16) { self.name = name; self.type = type }
    }

    private let table: [Key: Reply]
    private let fd: Int32
    public let port: Int
    public let address: IPAddress

    private struct State {
        var queries: [Key] = []
        var arrivals: [(Key, ContinuousClock.Instant)] = []
        var stopped = false
    }
    private let state = Mutex(State())

    /// Every question received, in order.
    public var queries: [Key] { state.withLock { $0.queries } }

    /// Every question with the instant the server thread received it (independent of how soon the
    /// asking task is resumed afterwards).
    public var arrivals: [(key: Key, at: ContinuousClock.Instant)] {
        state.withLock { $0.arrivals.map { (key: $0.0, at: $0.1) } }
    }

    public init?(table: [Key: Reply], ipv6: Bool = false) {
        self.table = Dictionary(
            table.map { (Key(name: $0.key.name.lowercased(), type: $0.key.type), $0.value) },
            uniquingKeysWith: { a, _ in a })
        #if canImport(Glibc)
            let dgram = Int32(SOCK_DGRAM.rawValue)
        #else
            let dgram = SOCK_DGRAM
        #endif
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, dgram, 0)
        guard fd >= 0 else { return nil }
        var ok: Int32 = -1
        var boundPort = 0
        if ipv6 {
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_addr = in6addr_loopback
            sa.sin6_port = 0
            ok = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
            var len = socklen_t(MemoryLayout<sockaddr_in6>.size)
            _ = withUnsafeMutablePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    getsockname(fd, $0, &len)
                }
            }
            boundPort = Int(UInt16(bigEndian: sa.sin6_port))
        } else {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            sa.sin_port = 0
            ok = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    getsockname(fd, $0, &len)
                }
            }
            boundPort = Int(UInt16(bigEndian: sa.sin_port))
        }
        guard ok == 0, boundPort > 0, let addr = IPAddress(ipv6 ? "::1" : "127.0.0.1") else { close(fd); return nil }
        self.fd = fd
        self.port = boundPort
        self.address = addr
        let thread = Thread { [self] in self.serve() }
        thread.start()
    }

    public func stop() {
        state.withLock { $0.stopped = true }
    }

    deinit { close(fd) }

    private var isStopped: Bool { state.withLock { $0.stopped } }

    private func serve() {
        var buf = [UInt8](repeating: 0, count: 4096)
        while !isStopped {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            var from = sockaddr_storage()
            var fromLen = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = buf.withUnsafeMutableBytes { b in
                withUnsafeMutablePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(fd, b.baseAddress, b.count, 0, $0, &fromLen)
                    }
                }
            }
            guard n > 0, let reply = respond(to: Array(buf[0..<n])) else { continue }
            _ = reply.withUnsafeBytes { r in
                withUnsafePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, r.baseAddress, r.count, 0, $0, fromLen)
                    }
                }
            }
        }
    }

    /// Parses the single question (uncompressed, as stub resolvers send it) and builds the reply.
    public func respond(to query: [UInt8]) -> [UInt8]? {
        guard query.count >= 12 else { return nil }
        var i = 12
        var labels: [String] = []
        while i < query.count {
            let len = Int(query[i])
            i += 1
            if len == 0 { break }
            guard len < 64, i + len <= query.count else { return nil }
            labels.append(String(decoding: query[i..<(i + len)], as: UTF8.self))
            i += len
        }
        guard i + 4 <= query.count else { return nil }
        let qtype = UInt16(query[i]) << 8 | UInt16(query[i + 1])
        let questionEnd = i + 4
        let qname = labels.joined(separator: ".").lowercased()
        let key = Key(name: qname, type: qtype)
        state.withLock { state in
            state.queries.append(key)
            state.arrivals.append((key, .now))
        }

        let reply: Reply
        if let r = table[key] {
            reply = r
        } else if table.keys.contains(where: { $0.name == qname }) {
            reply = .records([])
        } else {
            reply = .rcode(3)
        }

        var out = Array(query[0..<2]) // ID
        let rd = query[2] & 0x01
        out.append(0x80 | (query[2] & 0x78) | rd) // QR, opcode, RD
        var rcode: UInt8 = 0
        var answers: [RR] = []
        switch reply {
        case .drop: return nil
        case .rcode(let c): rcode = c
        case .records(let rrs): answers = rrs
        case .malformed: answers = []
        }
        out.append(0x80 | rcode) // RA, RCODE
        out += [0, 1] // QDCOUNT
        let ancount = UInt16(reply.isMalformed ? 1 : answers.count)
        out += [UInt8(ancount >> 8), UInt8(ancount & 0xff), 0, 0, 0, 0]
        out += query[12..<questionEnd]
        if reply.isMalformed {
            out += [0xc0, 0x0c, UInt8(qtype >> 8), UInt8(qtype & 0xff), 0, 1, 0, 0, 1, 0x2c, 0, 16, 1, 2]
            return out
        }
        for rr in answers {
            var rdata: [UInt8]
            switch rr.rdata {
            case .bytes(let b): rdata = b
            case .name(let n): rdata = encode(n, qname: qname)
            case .mx(let p, let n): rdata = [UInt8(p >> 8), UInt8(p & 0xff)] + encode(n, qname: qname)
            }
            out += [0xc0, 0x0c, UInt8(rr.type >> 8), UInt8(rr.type & 0xff), 0, 1, 0, 0, 1, 0x2c]
            out += [UInt8(rdata.count >> 8), UInt8(rdata.count & 0xff)] + rdata
        }
        return out
    }

    /// Wire form of a name; the question name itself becomes a pointer to offset 12.
    private func encode(_ name: String, qname: String) -> [UInt8] {
        let n = name.hasSuffix(".") ? String(name.dropLast()) : name
        if n.lowercased() == qname { return [0xc0, 0x0c] }
        var out: [UInt8] = []
        for label in n.split(separator: ".") {
            let b = Array(label.utf8)
            out.append(UInt8(b.count)); out += b
        }
        out.append(0)
        return out
    }
}

extension TestDNSServer.Reply {
    public var isMalformed: Bool { if case .malformed = self { return true }; return false }
}
