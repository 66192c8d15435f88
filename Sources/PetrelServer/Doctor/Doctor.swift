/// `petrel doctor`'s checks, each ending in one OK/WARN/FAIL line: configuration, data directory (writable,
/// free space), TLS certificate (readable, not expired, days left, covers the hostname), listen ports
/// (bindable, or already in use by this petrel), DNS (A/AAAA of the hostname and each local domain and
/// reverse DNS of the hostname's addresses, through getaddrinfo/getnameinfo only; MX is not checked: there
/// is no MX resolver yet). Probes of the system come through `DoctorProbes` so tests can replace them.
import Foundation
import MailServerNIO

public struct DoctorResult: Sendable, Equatable {
    public enum Status: String, Sendable { case ok = "OK", warn = "WARN", fail = "FAIL", skip = "SKIP" }
    public var status: Status
    public var check: String
    public var message: String

    public init(_ status: Status, _ check: String, _ message: String) {
        self.status = status
        self.check = check
        self.message = message
    }

    /// `OK    tls: ...`
    public var line: String { status.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0) + "\(check): \(message)" }
}

public struct Doctor: Sendable {
    public var configuration: PetrelConfiguration
    /// Local domains (from the store) for the DNS checks.
    public var domains: [String]
    public var probes: DoctorProbes
    public var checkDNS: Bool
    public var now: Date

    /// Free space below this is a warning.
    public static let minimumFreeBytes: Int64 = 1 << 30

    public init(
        configuration: PetrelConfiguration, domains: [String], probes: DoctorProbes = .system,
        checkDNS: Bool = true, now: Date = Date()
    ) {
        self.configuration = configuration
        self.domains = domains
        self.probes = probes
        self.checkDNS = checkDNS
        self.now = now
    }

    public func run() -> [DoctorResult] {
        dataDirectory() + badmail() + tls() + ports() + dns()
    }

    /// The Badmail directory (or the nearest existing folder above it, before its first use): free space,
    /// and whether its cap fits in it.
    func badmail() -> [DoctorResult] {
        let path = configuration.delivery.badmailPath(dataDirectory: configuration.server.dataDirectory)
        var probe = path
        while probes.freeBytes(probe) == nil, probe != "/", !probe.isEmpty {
            let parent = (probe as NSString).deletingLastPathComponent
            probe = parent.isEmpty ? "/" : parent
            if parent == probe && parent != "/" { break }
        }
        guard let free = probes.freeBytes(probe) else {
            return [.init(.warn, "badmail", "cannot measure free space for \(path)")]
        }
        let cap = configuration.delivery.badmailMaxBytes
        let gib = String(format: "%.1f GiB", Double(free) / Double(1 << 30))
        let mib = cap / (1 << 20)
        if free < cap {
            return [.init(.warn, "badmail", "only \(gib) free for \(path), less than its cap of \(mib) MiB (delivery.badmail_max_size)")]
        }
        if free < Self.minimumFreeBytes {
            return [.init(.warn, "badmail", "only \(gib) free for \(path) (less than 1 GiB)")]
        }
        return [.init(.ok, "badmail", "\(gib) free for \(path) (cap \(mib) MiB)")]
    }

    func dataDirectory() -> [DoctorResult] {
        let dir = configuration.server.dataDirectory
        var results: [DoctorResult] = []
        switch probes.writable(dir) {
        case .success: results.append(.init(.ok, "data_dir", "\(dir) is writable"))
        case .failure(let e): results.append(.init(.fail, "data_dir", "\(dir): \(e.message)"))
        }
        if let free = probes.freeBytes(dir) {
            let gib = String(format: "%.1f GiB", Double(free) / Double(1 << 30))
            results.append(
                free < Self.minimumFreeBytes
                    ? .init(.warn, "disk", "only \(gib) free in \(dir) (less than 1 GiB)")
                    : .init(.ok, "disk", "\(gib) free in \(dir)"))
        } else {
            results.append(.init(.warn, "disk", "cannot measure free space in \(dir)"))
        }
        return results
    }

    func tls() -> [DoctorResult] {
        let certificate = configuration.tls.certificate ?? configuration.server.dataDirectory + "/tls/cert.pem"
        guard let pem = probes.readFile(certificate) else {
            if configuration.tls.certificate == nil {
                return [
                    .init(
                        .warn, "tls",
                        "no certificate yet: a self-signed one is generated in \(certificate) at first start (clients will not trust it)")
                ]
            }
            return [.init(.fail, "tls", "cannot read the certificate \(certificate)")]
        }
        var results: [DoctorResult] = []
        if let key = configuration.tls.privateKey, probes.readFile(key) == nil {
            results.append(.init(.fail, "tls", "cannot read the private key \(key)"))
        }
        guard let info = CertificateInfo.parse(pem: pem) else {
            return results + [.init(.fail, "tls", "\(certificate) holds no readable PEM certificate")]
        }
        let days = Int(info.notValidAfter.timeIntervalSince(now) / 86400)
        if info.notValidAfter <= now {
            results.append(.init(.fail, "tls", "certificate \(certificate) expired on \(ISO8601DateFormatter().string(from: info.notValidAfter))"))
        } else if days < 14 {
            results.append(.init(.warn, "tls", "certificate \(certificate) expires in \(days) day(s)"))
        } else {
            results.append(.init(.ok, "tls", "certificate \(certificate) valid for \(days) more days"))
        }
        let host = configuration.server.hostname
        if info.covers(host) {
            results.append(.init(.ok, "tls", "certificate covers \(host)"))
        } else {
            let names = info.dnsNames.isEmpty ? "no DNS names" : info.dnsNames.joined(separator: ", ")
            results.append(.init(.fail, "tls", "certificate does not cover the hostname \(host) (it names \(names))"))
        }
        return results
    }

    func ports() -> [DoctorResult] {
        var listeners: [(String, PetrelConfiguration.Listener)] = []
        for l in configuration.smtp.listen { listeners.append(("smtp", l)) }
        for l in configuration.smtp.plaintextAuthListen { listeners.append(("smtp (plaintext auth)", l)) }
        for l in configuration.submission.listen { listeners.append(("submission", l)) }
        for l in configuration.submission.plaintextAuthListen { listeners.append(("submission (plaintext auth)", l)) }
        for l in configuration.submission.tlsListen { listeners.append(("submissions", l)) }
        for l in configuration.pop3.listen { listeners.append(("pop3", l)) }
        for l in configuration.pop3.plaintextAuthListen { listeners.append(("pop3 (plaintext auth)", l)) }
        for l in configuration.pop3.tlsListen { listeners.append(("pop3s", l)) }
        for l in configuration.imap.listen { listeners.append(("imap", l)) }
        for l in configuration.imap.plaintextAuthListen { listeners.append(("imap (plaintext auth)", l)) }
        for l in configuration.imap.tlsListen { listeners.append(("imaps", l)) }
        if let admin = configuration.admin.listen { listeners.append(("admin", admin)) }
        // The running petrel's own listeners, if one answers on the admin endpoint.
        let running = configuration.admin.listen.flatMap { probes.runningListeners($0) } ?? []
        return listeners.filter { $0.1.port != 0 }.map { name, listener in
            switch probes.bind(listener) {
            case .free: return .init(.ok, "port", "\(name) \(listener) can be bound")
            case .inUse:
                if running.contains("\(listener)") { return .init(.ok, "port", "\(name) \(listener) is in use by this petrel (running)") }
                return .init(.fail, "port", "\(name) \(listener) is in use by another program")
            case .denied:
                return .init(
                    .fail, "port", "\(name) \(listener): permission denied (ports below 1024 need CAP_NET_BIND_SERVICE; see docs/OPERATIONS.md)")
            case .other(let message): return .init(.fail, "port", "\(name) \(listener): \(message)")
            }
        }
    }

    func dns() -> [DoctorResult] {
        guard checkDNS else { return [.init(.skip, "dns", "DNS checks skipped (--no-dns)")] }
        let host = configuration.server.hostname
        var results: [DoctorResult] = []
        let addresses = probes.resolve(host)
        if addresses.isEmpty {
            results.append(.init(.warn, "dns", "\(host) has no A/AAAA record"))
        } else {
            results.append(.init(.ok, "dns", "\(host) resolves to \(addresses.joined(separator: ", "))"))
            for address in addresses {
                switch probes.reverse(address) {
                case .some(let name) where name.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: ".")) == host:
                    results.append(.init(.ok, "dns", "reverse DNS of \(address) is \(host)"))
                case .some(let name):
                    results.append(.init(.warn, "dns", "reverse DNS of \(address) is \(name), not \(host) (receivers may distrust the mail)"))
                case .none:
                    results.append(.init(.warn, "dns", "\(address) has no reverse DNS (PTR) name"))
                }
            }
        }
        for domain in domains {
            let a = probes.resolve(domain)
            results.append(
                a.isEmpty
                    ? .init(.warn, "dns", "\(domain) has no A/AAAA record")
                    : .init(.ok, "dns", "\(domain) resolves to \(a.joined(separator: ", "))"))
            results.append(.init(.skip, "dns", "MX of \(domain) not checked (no MX resolver yet)"))
        }
        return results
    }
}
