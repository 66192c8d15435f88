import Foundation
import X509

/// The system probes `Doctor` uses (file access, free space, binding a port, asking a running petrel for
/// its listeners, getaddrinfo/getnameinfo), as replaceable closures; `.system` is the real thing.
/// Nothing here talks to any host but the configured loopback admin endpoint and the system resolver.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

public struct DoctorProbes: Sendable {
    public struct ProbeError: Error, Sendable { public var message: String }
    public enum BindOutcome: Sendable, Equatable { case free, inUse, denied, other(String) }

    public var writable: @Sendable (String) -> Result<Void, ProbeError>
    public var freeBytes: @Sendable (String) -> Int64?
    public var readFile: @Sendable (String) -> String?
    public var bind: @Sendable (PetrelConfiguration.Listener) -> BindOutcome
    /// The listener addresses a petrel answering on this admin endpoint reports, or nil.
    public var runningListeners: @Sendable (PetrelConfiguration.Listener) -> [String]?
    /// Numeric addresses of a name (getaddrinfo), empty when it does not resolve.
    public var resolve: @Sendable (String) -> [String]
    /// The PTR name of a numeric address (getnameinfo with NI_NAMEREQD), or nil.
    public var reverse: @Sendable (String) -> String?

    public init(
        writable: @escaping @Sendable (String) -> Result<Void, ProbeError>, freeBytes: @escaping @Sendable (String) -> Int64?,
        readFile: @escaping @Sendable (String) -> String?, bind: @escaping @Sendable (PetrelConfiguration.Listener) -> BindOutcome,
        runningListeners: @escaping @Sendable (PetrelConfiguration.Listener) -> [String]?,
        resolve: @escaping @Sendable (String) -> [String], reverse: @escaping @Sendable (String) -> String?
    ) {
        self.writable = writable
        self.freeBytes = freeBytes
        self.readFile = readFile
        self.bind = bind
        self.runningListeners = runningListeners
        self.resolve = resolve
        self.reverse = reverse
    }

    public static let system = DoctorProbes(
        writable: { dir in
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) else {
                return .failure(ProbeError(message: "does not exist (run 'petrel init' or 'petrel serve' to create it)"))
            }
            guard isDir.boolValue else { return .failure(ProbeError(message: "is not a directory")) }
            let probe = dir + "/.petrel-doctor-\(getpid())"
            guard FileManager.default.createFile(atPath: probe, contents: Data("x".utf8)) else {
                return .failure(ProbeError(message: "is not writable by this user (uid \(getuid()))"))
            }
            try? FileManager.default.removeItem(atPath: probe)
            return .success(())
        },
        freeBytes: { dir in
            // A directory not created yet lives on the file system of its nearest existing ancestor.
            var path = URL(fileURLWithPath: dir).standardizedFileURL
            while !FileManager.default.fileExists(atPath: path.path) && path.path != "/" { path.deleteLastPathComponent() }
            var st = statvfs()
            guard statvfs(path.path, &st) == 0 else { return nil }
            return Int64(st.f_bavail) * Int64(st.f_frsize)
        },
        readFile: { path in
            guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
            defer { try? handle.close() }
            guard let data = try? handle.read(upToCount: 1 << 20) else { return nil }
            return String(data: data, encoding: .utf8)
        },
        bind: { listener in probeBind(listener) },
        runningListeners: { admin in
            guard let (code, body) = try? AdminClient.get(host: admin.host, port: admin.port, path: "/status", timeoutSeconds: 2),
                code == 200, let report = try? JSONDecoder().decode(StatusReport.self, from: Data(body.utf8))
            else { return nil }
            return report.listeners.map(\.address)
        },
        resolve: { name in systemResolve(name) },
        reverse: { address in systemReverse(address) })
}

/// Tries to bind a TCP socket to the address (SO_REUSEADDR, as the server does), then closes it.
func probeBind(_ listener: PetrelConfiguration.Listener) -> DoctorProbes.BindOutcome {
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    hints.ai_flags = AI_PASSIVE
    var result: UnsafeMutablePointer<addrinfo>?
    let rc = getaddrinfo(listener.host, String(listener.port), &hints, &result)
    guard rc == 0, let info = result else { return .other("cannot resolve \(listener.host): \(String(cString: gai_strerror(rc)))") }
    defer { freeaddrinfo(info) }
    let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
    guard fd >= 0 else { return .other("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    if bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return .free }
    switch errno {
    case EADDRINUSE: return .inUse
    case EACCES, EPERM: return .denied
    case let e: return .other(String(cString: strerror(e)))
    }
}

/// getaddrinfo: the distinct numeric addresses of a name.
func systemResolve(_ name: String) -> [String] {
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var result: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(name, nil, &hints, &result) == 0, let first = result else { return [] }
    defer { freeaddrinfo(first) }
    var out: [String] = []
    var cursor: UnsafeMutablePointer<addrinfo>? = first
    while let info = cursor {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        if getnameinfo(info.pointee.ai_addr, info.pointee.ai_addrlen, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
            let text = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !out.contains(text) { out.append(text) }
        }
        cursor = info.pointee.ai_next
    }
    return out
}

/// getnameinfo with NI_NAMEREQD: the PTR name of a numeric address.
func systemReverse(_ address: String) -> String? {
    var hints = addrinfo()
    hints.ai_flags = AI_NUMERICHOST
    var result: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(address, nil, &hints, &result) == 0, let info = result else { return nil }
    defer { freeaddrinfo(info) }
    var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
    guard getnameinfo(info.pointee.ai_addr, info.pointee.ai_addrlen, &host, socklen_t(host.count), nil, 0, NI_NAMEREQD) == 0 else { return nil }
    return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The facts `Doctor` needs from the first certificate of a PEM chain.
public struct CertificateInfo: Sendable, Equatable {
    public var notValidAfter: Date
    public var dnsNames: [String]

    public static func parse(pem: String) -> CertificateInfo? {
        let begin = "-----BEGIN CERTIFICATE-----", end = "-----END CERTIFICATE-----"
        guard let start = pem.range(of: begin), let stop = pem.range(of: end, range: start.upperBound..<pem.endIndex),
            let certificate = try? Certificate(pemEncoded: String(pem[start.lowerBound..<stop.upperBound]))
        else { return nil }
        var names: [String] = []
        if let san = try? certificate.extensions.subjectAlternativeNames {
            for name in san { if case .dnsName(let n) = name { names.append(n.lowercased()) } }
        }
        return CertificateInfo(notValidAfter: certificate.notValidAfter, dnsNames: names)
    }

    /// Exact match or a one-label wildcard (`*.example.com` covers `mail.example.com`), RFC 6125 §6.4.3.
    public func covers(_ hostname: String) -> Bool {
        let host = hostname.lowercased()
        return dnsNames.contains { name in
            if name == host { return true }
            guard name.hasPrefix("*.") else { return false }
            let suffix = name.dropFirst(1)
            return host.hasSuffix(suffix) && !host.dropLast(suffix.count).contains(".") && host.count > suffix.count
        }
    }
}
