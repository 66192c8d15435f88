/// `petrel dns DOMAIN`: the DNS records a local domain should publish (MX, SPF for the domain and the
/// host name, DKIM for every selector, DMARC, the A/AAAA and PTR of the server) in zone-file form, and
/// `--check`: one OK/WARN/FAIL line per record comparing them with what the DNS answers.
import Foundation
import MailAuthChecks
import MailCore
import MailDNS

public struct DomainRecords: Sendable {
    public var domain: String
    public var hostname: String
    /// The server's public addresses (for A/AAAA, PTR and the SPF ip4/ip6 terms); may be empty.
    public var addresses: [IPAddress]
    public var keys: [(entry: DKIMKeyStore.Entry, record: String)]

    public init(domain: String, hostname: String, addresses: [IPAddress], keys: [(entry: DKIMKeyStore.Entry, record: String)]) {
        self.domain = domain.lowercased()
        self.hostname = hostname.lowercased()
        self.addresses = addresses
        self.keys = keys
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
        lines.append("; Autoconfig/SRV records: not yet (no IMAP/autoconfig service).")
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
                out.append(DoctorResult(label == "spf" ? .fail : .warn, label, "\(name) has no SPF record (want \"\(label == "spf" ? spfRecord : heloSPFRecord)\")"))
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
                out.append(DoctorResult(r.policy == .none ? .warn : .ok, "dmarc",
                                        "_dmarc.\(domain) p=\(r.policy.rawValue)" + (r.policy == .none ? " (monitoring only)" : "")))
            } else {
                out.append(DoctorResult(.fail, "dmarc", "_dmarc.\(domain) has \(records.count) DMARC records (want one)"))
            }
        case .temporaryFailure(let why): out.append(DoctorResult(.fail, "dmarc", "look-up failed: \(why)"))
        default: out.append(DoctorResult(.warn, "dmarc", "_dmarc.\(domain) has no DMARC record (want \"\(dmarcRecord)\")"))
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
