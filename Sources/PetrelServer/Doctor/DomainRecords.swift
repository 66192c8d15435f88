/// `petrel dns DOMAIN`: the DNS records a local domain should publish (MX, SPF for the domain and the
/// host name, DKIM for every selector, DMARC, the A/AAAA and PTR of the server, the client service SRV
/// records of RFC 6186/8314 and, with `[autoconfig]` on, the autoconfig/autodiscover names) in zone-file
/// form, and `--check`: one OK/WARN/FAIL line per record comparing them with what the DNS answers.
import Foundation
import MailAuthChecks
import MailCore
import MailDNS
import PetrelConfig

public struct DomainRecords: Sendable {
    public var domain: String
    public var hostname: String
    /// The server's public addresses (for A/AAAA, PTR and the SPF ip4/ip6 terms); may be empty.
    public var addresses: [IPAddress]
    public var keys: [(entry: DKIMKeyStore.Entry, record: String)]
    /// The client services (RFC 6186 SRV records), in print order; see `ServiceRecord.records(for:)`.
    public var services: [ServiceRecord]
    /// The client set-up endpoint (`[autoconfig]`): the host clients are sent to and its HTTPS port; nil
    /// when autoconfig is off.
    public var autoconfig: (host: String, port: Int)?

    public init(
        domain: String, hostname: String, addresses: [IPAddress], keys: [(entry: DKIMKeyStore.Entry, record: String)],
        services: [ServiceRecord] = [], autoconfig: (host: String, port: Int)? = nil
    ) {
        self.domain = domain.lowercased()
        self.hostname = hostname.lowercased()
        self.addresses = addresses
        self.keys = keys
        self.services = services
        self.autoconfig = autoconfig.map { ($0.host.lowercased(), $0.port) }
    }

    /// One RFC 6186 service record: `_service._tcp.DOMAIN SRV priority weight port target`. A service
    /// Petrel does not offer is published as not available (target ".", RFC 6186 §3.4, RFC 2782), so a
    /// client does not guess a port.
    public struct ServiceRecord: Sendable, Equatable {
        /// `_submissions._tcp`, `_submission._tcp`, `_imaps._tcp`, `_imap._tcp`, `_pop3s._tcp`, `_pop3._tcp`.
        public var service: String
        /// RFC 8314 §5.1: implicit TLS (priority 0) is preferred to STARTTLS (priority 10).
        public var priority: Int
        public var port: Int
        /// The host clients connect to; nil: the service is not offered.
        public var target: String?

        public init(service: String, priority: Int, port: Int, target: String?) {
            self.service = service
            self.priority = priority
            self.port = port
            self.target = target
        }

        /// The records for the listeners `configuration` enables (the first listener's port of each
        /// kind; clients are sent to `[autoconfig] mail_host`, else the server's host name). IMAP follows
        /// `[imap]` (its listeners run when the store serves IMAP).
        public static func records(for configuration: PetrelConfiguration) -> [ServiceRecord] {
            let host = (configuration.autoconfig.mailHost ?? configuration.server.hostname).lowercased()
            func record(_ service: String, _ priority: Int, _ listeners: [HostPort]) -> ServiceRecord {
                guard let first = listeners.first else { return ServiceRecord(service: service, priority: 0, port: 0, target: nil) }
                return ServiceRecord(service: service, priority: priority, port: Int(first.port), target: host)
            }
            return [
                record("_submissions._tcp", 0, configuration.submission.tlsListen),
                record("_submission._tcp", 10, configuration.submission.listen),
                record("_imaps._tcp", 0, configuration.imap.tlsListen),
                record("_imap._tcp", 10, configuration.imap.listen),
                record("_pop3s._tcp", 0, configuration.pop3.tlsListen),
                record("_pop3._tcp", 10, configuration.pop3.listen)
            ]
        }

        /// The record's data: `priority weight port target.`, or `0 0 0 .` when not offered.
        public var data: String {
            guard let target else { return "0 0 0 ." }
            return "\(priority) 1 \(port) \(target)."
        }
    }

    public var spfRecord: String {
        var terms = ["v=spf1", "mx"]
        for ip in addresses { terms.append(ip.isIPv6 ? "ip6:\(ip)" : "ip4:\(ip)") }
        terms.append("-all")
        return terms.joined(separator: " ")
    }

    public var heloSPFRecord: String { "v=spf1 a -all" }
    public var dmarcRecord: String { "v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:postmaster@\(domain)" }

    /// A TXT value in zone-file form: strings of at most 255 octets, quoted.
    static func txt(_ value: String) -> String {
        var parts: [String] = []
        var rest = Substring(value)
        while !rest.isEmpty {
            let piece = rest.prefix(255)
            parts.append("\"" + piece.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"")
            rest = rest.dropFirst(piece.count)
        }
        return parts.count == 1 ? parts[0] : "( " + parts.joined(separator: "\n\t\t\t\t") + " )"
    }

    /// The zone-file text.
    public func zone() -> String {
        var lines: [String] = []
        let d = domain + ".", h = hostname + "."
        lines.append("; Records for \(domain) (petrel dns). Replace TTLs as you like.")
        lines.append("\(d)\t3600\tIN\tMX\t10 \(h)")
        lines.append("\(d)\t3600\tIN\tTXT\t\(Self.txt(spfRecord))")
        if addresses.isEmpty {
            lines.append("; \(h) needs A/AAAA records with the server's public addresses, each with a PTR record")
            lines.append("; naming \(h) (run with --ip ADDRESS to print them).")
        }
        for ip in addresses {
            lines.append("\(h)\t3600\tIN\t\(ip.isIPv6 ? "AAAA" : "A")\t\(ip)")
        }
        lines.append("\(h)\t3600\tIN\tTXT\t\(Self.txt(heloSPFRecord))")
        for ip in addresses {
            lines.append("\(DNSName.reverse(ip)).\t3600\tIN\tPTR\t\(h)\t; set by the address's owner (hosting provider)")
        }
        if keys.isEmpty { lines.append("; no DKIM keys: run petrel dkim generate \(domain)") }
        for (entry, record) in keys {
            lines.append("; DKIM \(entry.algorithm), \(entry.state.rawValue) since \(entry.created)")
            lines.append("\(entry.selector)._domainkey.\(d)\t3600\tIN\tTXT\t\(Self.txt(record))")
        }
        lines.append("_dmarc.\(d)\t3600\tIN\tTXT\t\(Self.txt(dmarcRecord))")
        if !services.isEmpty {
            lines.append("; Mail client services (RFC 6186, RFC 8314): the ports of the configured listeners; publish the")
            lines.append("; ports clients reach if a firewall or proxy maps them. \"0 0 0 .\" = not offered.")
        }
        for service in services {
            lines.append("\(service.service).\(d)\t3600\tIN\tSRV\t\(service.data)")
        }
        if let (host, port) = autoconfig {
            lines.append("; Client set-up ([autoconfig]): Thunderbird asks https://autoconfig.\(domain)/, Outlook")
            lines.append("; https://autodiscover.\(domain)/ or the SRV record; both names need a certificate (docs/CLIENTS.md).")
            if port != 443 {
                lines.append("; The autoconfig listener is on port \(port): clients only try 443, so forward 443 to it.")
            }
            lines.append("autoconfig.\(d)\t3600\tIN\tCNAME\t\(host).")
            lines.append("autodiscover.\(d)\t3600\tIN\tCNAME\t\(host).")
            lines.append("_autodiscover._tcp.\(d)\t3600\tIN\tSRV\t0 1 443 \(host).")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Compares the published records with these.
    public func check(resolver: any DNSResolver) async -> [DoctorResult] {
        var out: [DoctorResult] = []
        // MX
        switch await resolver.mx(domain) {
        case .records(let mx):
            if mx.contains(where: { $0.exchange == hostname }) {
                out.append(DoctorResult(.ok, "mx", "\(domain) MX \(mx.map(\.description).joined(separator: ", "))"))
            } else {
                out.append(DoctorResult(.fail, "mx", "\(domain) MX does not name \(hostname): \(mx.map(\.description).joined(separator: ", "))"))
            }
        case .temporaryFailure(let why): out.append(DoctorResult(.fail, "mx", "look-up failed: \(why)"))
        default: out.append(DoctorResult(.fail, "mx", "\(domain) has no MX record (want 10 \(hostname))"))
        }
        // The server's addresses: given, else the host name's A/AAAA.
        var ips = addresses
        if ips.isEmpty, case .records(let found) = await resolver.addresses(hostname) { ips = found }
        if ips.isEmpty {
            out.append(DoctorResult(.fail, "address", "\(hostname) has no A/AAAA record"))
        } else {
            out.append(DoctorResult(.ok, "address", "\(hostname) is \(ips.map(\.description).joined(separator: ", "))"))
        }
        // SPF of the domain and of the host name (HELO), evaluated for each address.
        for (name, label) in [(domain, "spf"), (hostname, "spf-helo")] {
            switch await resolver.txt(name) {
            case .temporaryFailure(let why):
                out.append(DoctorResult(.fail, label, "look-up failed: \(why)"))
                continue
            case .records(let txts) where txts.contains(where: { $0.lowercased().hasPrefix("v=spf1") }):
                let evaluator = SPFEvaluator(resolver: resolver, receivingHost: hostname)
                var failing: [String] = []
                for ip in ips {
                    let r = await evaluator.checkHost(ip: ip, domain: name, sender: "postmaster@\(name)", helo: hostname)
                    if r.result != .pass { failing.append("\(ip): \(r.result.rawValue) (\(r.detail))") }
                }
                let record = txts.first { $0.lowercased().hasPrefix("v=spf1") } ?? ""
                if failing.isEmpty {
                    out.append(DoctorResult(.ok, label, "\(name) \"\(record)\" passes \(ips.map(\.description).joined(separator: ", "))"))
                } else {
                    out.append(DoctorResult(.fail, label, "\(name) \"\(record)\" does not pass: \(failing.joined(separator: "; "))"))
                }
            default:
                out.append(
                    DoctorResult(
                        label == "spf" ? .fail : .warn, label, "\(name) has no SPF record (want \"\(label == "spf" ? spfRecord : heloSPFRecord)\")"))
            }
        }
        // DKIM: every selector we sign or will sign with must publish our key.
        if keys.isEmpty { out.append(DoctorResult(.fail, "dkim", "no DKIM keys for \(domain) (petrel dkim generate \(domain))")) }
        for (entry, record) in keys {
            let name = "\(entry.selector)._domainkey.\(domain)"
            let want = Self.publicKey(record)
            switch await resolver.txt(name) {
            case .records(let txts) where txts.contains(where: { Self.publicKey($0) == want }):
                out.append(DoctorResult(.ok, "dkim", "\(name) publishes the \(entry.state.rawValue) \(entry.algorithm) key"))
            case .records:
                out.append(DoctorResult(entry.state == .retired ? .warn : .fail, "dkim", "\(name) publishes a different key"))
            case .temporaryFailure(let why):
                out.append(DoctorResult(.fail, "dkim", "\(name): look-up failed: \(why)"))
            default:
                if entry.state == .retired {
                    out.append(DoctorResult(.ok, "dkim", "\(name) (retired) is no longer published: run petrel dkim purge \(domain)"))
                } else {
                    out.append(DoctorResult(.fail, "dkim", "\(name) is not published (\(entry.state.rawValue) key)"))
                }
            }
        }
        // DMARC
        switch await resolver.txt("_dmarc." + domain) {
        case .records(let txts):
            let records = txts.compactMap(DMARCRecord.parse)
            if records.count == 1, let r = records.first {
                out.append(
                    DoctorResult(
                        r.policy == .none ? .warn : .ok, "dmarc",
                        "_dmarc.\(domain) p=\(r.policy.rawValue)" + (r.policy == .none ? " (monitoring only)" : "")))
            } else {
                out.append(DoctorResult(.fail, "dmarc", "_dmarc.\(domain) has \(records.count) DMARC records (want one)"))
            }
        case .temporaryFailure(let why): out.append(DoctorResult(.fail, "dmarc", "look-up failed: \(why)"))
        default: out.append(DoctorResult(.warn, "dmarc", "_dmarc.\(domain) has no DMARC record (want \"\(dmarcRecord)\")"))
        }
        // Client set-up names: autoconfig.DOMAIN and autodiscover.DOMAIN must reach this server.
        if let (host, _) = autoconfig {
            for name in ["autoconfig." + domain, "autodiscover." + domain] {
                switch await resolver.addresses(name) {
                case .records(let found) where !ips.isEmpty && !found.contains(where: ips.contains):
                    out.append(
                        DoctorResult(.fail, "autoconfig", "\(name) is \(found.map(\.description).joined(separator: ", ")), not this server (\(host))")
                    )
                case .records(let found):
                    out.append(DoctorResult(.ok, "autoconfig", "\(name) is \(found.map(\.description).joined(separator: ", "))"))
                case .temporaryFailure(let why):
                    out.append(DoctorResult(.fail, "autoconfig", "\(name): look-up failed: \(why)"))
                default:
                    out.append(DoctorResult(.warn, "autoconfig", "\(name) does not resolve (want CNAME \(host))"))
                }
            }
        }
        // PTR: forward-confirmed reverse DNS of each address naming the host.
        for ip in ips {
            switch await ForwardConfirmedReverseDNS(resolver: resolver).check(ip: ip) {
            case .pass(let name) where name == hostname:
                out.append(DoctorResult(.ok, "ptr", "\(ip) -> \(name) -> \(ip)"))
            case .pass(let name):
                out.append(DoctorResult(.warn, "ptr", "\(ip) -> \(name), not \(hostname)"))
            case .fail:
                out.append(DoctorResult(.fail, "ptr", "\(ip) has no PTR record naming \(hostname) that resolves back"))
            case .tempError(let why):
                out.append(DoctorResult(.fail, "ptr", "\(ip): look-up failed: \(why)"))
            }
        }
        return out
    }

    /// The p= value of a DKIM key record, without whitespace.
    static func publicKey(_ record: String) -> String? {
        for part in record.split(separator: ";") {
            let kv = part.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces) == "p" {
                return kv[1].filter { !$0.isWhitespace }
            }
        }
        return nil
    }
}
