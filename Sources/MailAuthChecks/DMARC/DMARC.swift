import MailCore
import MailDNS
import Synchronization

/// A DMARC requested handling policy.
public enum DMARCPolicy: String, Sendable, Hashable, Comparable {
    case none, quarantine, reject

    var rank: Int { self == .none ? 0 : (self == .quarantine ? 1 : 2) }
    public static func < (a: DMARCPolicy, b: DMARCPolicy) -> Bool { a.rank < b.rank }

    /// One step less strict (t=y, RFC 9989 §4.7; what RFC 7489's pct=0 did).
    var relaxedOneStep: DMARCPolicy { self == .reject ? .quarantine : .none }
}

/// A DMARC policy record (RFC 9989 §4.7). Tags RFC 9989 removed (pct, rf, ri) and unknown tags are ignored.
public struct DMARCRecord: Sendable, Equatable {
    public enum Alignment: String, Sendable { case relaxed = "r", strict = "s" }
    public enum PSD: String, Sendable { case yes = "y", no = "n", unknown = "u" }

    public var policy: DMARCPolicy
    public var subdomainPolicy: DMARCPolicy?
    public var nonexistentPolicy: DMARCPolicy?
    public var dkimAlignment: Alignment = .relaxed
    public var spfAlignment: Alignment = .relaxed
    public var psd: PSD = .unknown
    public var testing = false

    /// Parses a TXT string; nil if it is not a DMARC record ("v=DMARC1" must be the first tag).
    public static func parse(_ text: String) -> DMARCRecord? {
        let bytes = Array(text.utf8)
        guard let tags = try? DKIMTagList.parse(bytes, range: 0..<bytes.count),
            let first = tags.tags.first, first.name == "v", first.value == "DMARC1"
        else { return nil }
        func policy(_ name: String) -> DMARCPolicy? { tags[name].flatMap { DMARCPolicy(rawValue: $0.lowercased()) } }
        // RFC 9989: a missing or invalid p= is treated as "none".
        var r = DMARCRecord(policy: policy("p") ?? .none)
        r.subdomainPolicy = policy("sp")
        r.nonexistentPolicy = policy("np")
        r.dkimAlignment = tags["adkim"].flatMap { Alignment(rawValue: $0.lowercased()) } ?? .relaxed
        r.spfAlignment = tags["aspf"].flatMap { Alignment(rawValue: $0.lowercased()) } ?? .relaxed
        r.psd = tags["psd"].flatMap { PSD(rawValue: $0.lowercased()) } ?? .unknown
        r.testing = tags["t"]?.lowercased() == "y"
        return r
    }

    public init(policy: DMARCPolicy) {
        self.policy = policy
    }
}

/// The DMARC result for one Author Domain.
public struct DMARCOutcome: Sendable, Equatable {
    public enum Result: String, Sendable { case none, pass, fail, temperror, permerror }

    public var result: Result
    public var authorDomain: String
    /// Where the applied record was found ("" when none).
    public var policyDomain: String = ""
    public var organizationalDomain: String = ""
    /// The policy the record asks for this message (p, sp or np), before t=y.
    public var requestedPolicy: DMARCPolicy = .none
    /// What to do: `requestedPolicy` for a failing message (one step less with t=y), else none.
    public var disposition: DMARCPolicy = .none
    public var spfAligned = false
    public var dkimAligned = false
    public var testing = false
    public var detail = ""
}

/// DMARC evaluation (RFC 9989) with the DNS Tree Walk for policy discovery and the Organizational Domain
/// (§4.10) — no Public Suffix List. Look-ups are cached per evaluator instance (one per message).
public final class DMARCEvaluator: Sendable {
    public let resolver: any DNSResolver
    private struct State {
        var cache: [String: Lookup] = [:]
        var queries = 0
    }
    private let state = Mutex(State())
    /// Queries sent (for tests).
    public var queries: Int { state.withLock { $0.queries } }

    public init(resolver: any DNSResolver) {
        self.resolver = resolver
    }

    enum Lookup: Sendable { case record(DMARCRecord), nothing, temporary(String) }

    /// The one valid DMARC record at _dmarc.<domain>; several valid records count as none (§4.10 step 2).
    func lookup(_ domain: String) async -> Lookup {
        if let hit = state.withLock({ $0.cache[domain] }) { return hit }
        state.withLock { $0.queries += 1 }
        let result: Lookup
        switch await resolver.txt("_dmarc." + domain) {
        case .temporaryFailure(let why): result = .temporary(why)
        case .nxDomain, .noData: result = .nothing
        case .records(let txts):
            let records = txts.compactMap(DMARCRecord.parse)
            result = records.count == 1 ? .record(records[0]) : .nothing
        }
        state.withLock { $0.cache[domain] = result }
        return result
    }

    /// The names a tree walk queries, in order: the domain, then (with 8 or more labels) its last 7 labels,
    /// then one label less each time, down to the top-level label (§4.10, at most 8 queries).
    public static func walk(_ domain: String) -> [String] {
        let labels = domain.split(separator: ".").map(String.init)
        guard !labels.isEmpty else { return [] }
        var names = [labels.joined(separator: ".")]
        var n = labels.count >= 8 ? 7 : labels.count - 1
        while n >= 1 {
            names.append(labels.suffix(n).joined(separator: "."))
            n -= 1
        }
        return names
    }

    struct WalkError: Error { var reason: String }

    /// Policy discovery: the first record on the walk from the Author Domain.
    func discoverPolicy(_ domain: String) async throws(WalkError) -> (domain: String, record: DMARCRecord)? {
        for name in Self.walk(domain) {
            switch await lookup(name) {
            case .record(let r): return (name, r)
            case .nothing: continue
            case .temporary(let why): throw WalkError(reason: "DMARC look-up of _dmarc.\(name): \(why)")
            }
        }
        return nil
    }

    /// The Organizational Domain of `domain` (§4.10.2): the walk stops at a record with psd=n (that domain)
    /// or psd=y (the domain one label below it; the domain itself if the walk started there); otherwise the
    /// domain with the fewest labels that has a record; with no record at all, the domain itself.
    public func organizationalDomain(_ domain: String) async throws -> String {
        try await orgDomain(domain)
    }

    func orgDomain(_ domain: String) async throws(WalkError) -> String {
        let labels = domain.split(separator: ".").map(String.init)
        var highest: String? = nil
        for name in Self.walk(domain) {
            switch await lookup(name) {
            case .temporary(let why): throw WalkError(reason: "DMARC look-up of _dmarc.\(name): \(why)")
            case .nothing: continue
            case .record(let r):
                switch r.psd {
                case .no: return name
                case .yes:
                    let n = name.split(separator: ".").count
                    return n >= labels.count ? domain : labels.suffix(n + 1).joined(separator: ".")
                case .unknown: highest = name
                }
            }
        }
        return highest ?? domain
    }

    /// Whether `identifier` is aligned with `author` in `mode`.
    func aligned(_ identifier: String, _ author: String, _ mode: DMARCRecord.Alignment) async throws(WalkError) -> Bool {
        let a = DNSName.normalize(identifier), b = DNSName.normalize(author)
        if a == b { return true }
        guard mode == .relaxed else { return false }
        // Names that share no label at the end cannot share an Organizational Domain (it is a suffix of each).
        guard a.split(separator: ".").last == b.split(separator: ".").last else { return false }
        return try await orgDomain(a) == (try await orgDomain(b))
    }

    /// Evaluates one Author Domain. `spfDomain` is the domain SPF checked (MAIL FROM, or HELO for `<>`)
    /// with its result; `dkim` are the verifications of the message's signatures. `authorDomainExists`
    /// is asked only when a record found above the Author Domain has np= (§4.7).
    public func evaluate(
        authorDomain rawAuthor: String, spf: SPFOutcome?, dkim: [DKIMVerification],
        authorDomainExists: () async -> Bool?
    ) async -> DMARCOutcome {
        let author = DNSName.normalize(rawAuthor)
        var out = DMARCOutcome(result: .none, authorDomain: author)
        guard SPFEvaluator.isValidDomain(author) else {
            out.result = .permerror
            out.detail = "author domain '\(rawAuthor)' is not a domain"
            return out
        }
        do {
            guard let (policyDomain, record) = try await discoverPolicy(author) else {
                out.detail = "no DMARC record"
                return out
            }
            out.policyDomain = policyDomain
            out.organizationalDomain = try await orgDomain(author)
            out.testing = record.testing
            // Which policy applies (§4.7): p at the Author Domain; for a subdomain np (non-existent), sp, p.
            if policyDomain == author {
                out.requestedPolicy = record.policy
            } else {
                var p = record.subdomainPolicy ?? record.policy
                if let np = record.nonexistentPolicy, await authorDomainExists() == false { p = np }
                out.requestedPolicy = p
            }
            var temporary: String? = nil
            if let spf, spf.result == .pass {
                out.spfAligned = try await aligned(spf.domain, author, record.spfAlignment)
            } else if let spf, spf.result == .temperror {
                temporary = "SPF: \(spf.detail)"
            }
            for d in dkim where d.status == .pass {
                if try await aligned(d.domain, author, record.dkimAlignment) { out.dkimAligned = true; break }
            }
            if !out.dkimAligned, let t = dkim.first(where: { $0.status == .temperror }) {
                if (try? await aligned(t.domain, author, record.dkimAlignment)) ?? true {
                    temporary = temporary ?? "DKIM: \(t.reason)"
                }
            }
            if out.spfAligned || out.dkimAligned {
                out.result = .pass
            } else if let temporary {
                // A temporary error of an identifier that could have aligned: never act on it (no reject).
                out.result = .temperror
                out.detail = temporary
            } else {
                out.result = .fail
                out.disposition = record.testing ? out.requestedPolicy.relaxedOneStep : out.requestedPolicy
                out.detail = "no aligned SPF or DKIM pass"
            }
        } catch {
            out.result = .temperror
            out.detail = error.reason
        }
        return out
    }
}

/// Extracts the domains of the addresses in From: fields (RFC 5322 §3.6.2), lower-cased A-labels.
public enum AuthorDomains {
    public static func from(_ header: MessageHeader) -> [String] {
        var domains: [String] = []
        for field in header.fields(named: "from") {
            for d in addresses(field.unfoldedValue) where !domains.contains(d) { domains.append(d) }
        }
        return domains
    }

    /// The domains of a mailbox-list: comments and quoted strings skipped, angle addresses preferred.
    static func addresses(_ value: String) -> [String] {
        var plain: [Character] = []
        var depth = 0, quoted = false, escaped = false
        for c in value {
            if escaped { escaped = false; if !quoted && depth == 0 { plain.append("x") }; continue }
            if c == "\\" { escaped = true; continue }
            if quoted { if c == "\"" { quoted = false; plain.append("x") }; continue }
            if depth > 0 {
                if c == "(" { depth += 1 } else if c == ")" { depth -= 1 }
                continue
            }
            switch c {
            case "\"": quoted = true
            case "(": depth += 1
            default: plain.append(c)
            }
        }
        var domains: [String] = []
        // Groups ("name: a@b, c@d;") list their members after the colon.
        var text = String(plain)
        if let colon = text.firstIndex(of: ":"), !text[..<colon].contains("@") {
            text = String(text[text.index(after: colon)...]).replacingSemicolons()
        }
        for item in text.split(separator: ",") {
            var addr = Substring(item)
            if let lt = addr.lastIndex(of: "<"), let gt = addr[lt...].firstIndex(of: ">") {
                addr = addr[addr.index(after: lt)..<gt]
            }
            guard let at = addr.lastIndex(of: "@") else { continue }
            var domain = String(addr[addr.index(after: at)...]).trimmingWSP()
            if domain.hasSuffix(".") { domain.removeLast() }
            guard !domain.isEmpty, !domain.hasPrefix("[") else { continue }
            let ascii = IDNA.toASCII(domain) ?? domain.lowercased()
            domains.append(ascii.lowercased())
        }
        return domains
    }
}

extension String {
    func replacingSemicolons() -> String { String(map { $0 == ";" ? " " : $0 }) }
}
