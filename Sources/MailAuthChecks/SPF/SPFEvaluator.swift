import Foundation
import MailCore
import MailDNS

/// The outcome of one SPF check.
public struct SPFOutcome: Sendable, Equatable {
    public var result: SPFResult
    /// The domain checked (the MAIL FROM domain, or the HELO name).
    public var domain: String
    /// For `fail`: the explanation (the record's exp= text, else the evaluator's default).
    public var explanation: String?
    /// The directive that matched, or why the result is an error (for logs and the A-R comment).
    public var detail: String
    /// DNS-querying terms evaluated (include, a, mx, ptr, exists, redirect).
    public var lookups: Int

    public init(result: SPFResult, domain: String, explanation: String? = nil, detail: String = "", lookups: Int = 0) {
        self.result = result
        self.domain = domain
        self.explanation = explanation
        self.detail = detail
        self.lookups = lookups
    }
}

/// RFC 7208 `check_host()` over any `DNSResolver`, with the processing limits of §4.6.4 (10 DNS-querying
/// terms, 2 void look-ups, 10 names per mx/ptr) and an overall time budget (§4.6.4 suggests 20 s):
/// when it is spent, the next look-up fails as `temperror`.
public struct SPFEvaluator: Sendable {
    public var resolver: any DNSResolver
    /// The receiving host's name (the `%{r}` macro).
    public var receivingHost: String
    public var lookupLimit = 10
    public var voidLookupLimit = 2
    public var timeBudget: Duration = .seconds(20)
    /// The explanation for `fail` when the record has no usable exp=.
    public var defaultExplanation = "See RFC 7208"
    /// The `%{t}` macro's time and the time budget's measure (the server's `MailClock`; tests fix it).
    public var clock: any MailClock = WallClock()

    public init(resolver: any DNSResolver, receivingHost: String = "unknown") {
        self.resolver = resolver
        self.receivingHost = receivingHost
    }

    /// The MAIL FROM identity (§2.4). An empty reverse-path checks the HELO name as postmaster@helo.
    /// A sender without "@" is treated as a domain with local part "postmaster".
    public func checkMailFrom(ip: IPAddress, mailFrom: String, helo: String) async -> SPFOutcome {
        if mailFrom.isEmpty { return await checkHelo(ip: ip, helo: helo) }
        var local = "postmaster", domain = mailFrom
        if let at = mailFrom.lastIndex(of: "@") {
            let l = String(mailFrom[..<at])
            if !l.isEmpty { local = l }
            domain = String(mailFrom[mailFrom.index(after: at)...])
        }
        // An internationalised domain (SMTPUTF8) is looked up by its A-labels.
        if !domain.unicodeScalars.allSatisfy(\.isASCII), let ascii = IDNA.toASCII(domain) { domain = ascii }
        return await checkHost(ip: ip, domain: domain, sender: "\(local)@\(domain)", helo: helo)
    }

    /// The HELO identity (§2.3): `none` unless the name is a domain (not an address literal).
    public func checkHelo(ip: IPAddress, helo: String) async -> SPFOutcome {
        await checkHost(ip: ip, domain: helo, sender: "postmaster@\(helo)", helo: helo)
    }

    /// check_host(ip, domain, sender) of §4.
    public func checkHost(ip: IPAddress, domain: String, sender: String, helo: String) async -> SPFOutcome {
        let context = SPFContext(evaluator: self, ip: DNSName.unmapped(ip), sender: sender, helo: helo)
        let d = DNSName.normalize(domain)
        let r = await context.checkHost(domain: d, isTop: true)
        return SPFOutcome(
            result: r.result, domain: d, explanation: r.result == .fail ? (r.explanation ?? defaultExplanation) : nil,
            detail: r.detail, lookups: context.lookups)
    }

    static func isStructurallyValid(_ d: String) -> Bool {
        guard !d.isEmpty, d.utf8.count <= 253 else { return false }
        return d.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0.utf8.count <= 63 }
    }

    /// §4.3: a multi-label domain of valid labels (1–63 octets, at most 253 in all, not all-numeric at the top).
    static func isValidDomain(_ d: String) -> Bool {
        guard !d.isEmpty, d.utf8.count <= 253 else { return false }
        let labels = d.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        for l in labels where l.isEmpty || l.utf8.count > 63 { return false }
        return true
    }
}

/// One evaluation's mutable state: the look-up counters and the clock.
final class SPFContext {
    struct Partial {
        var result: SPFResult
        var explanation: String? = nil
        var detail: String = ""
    }

    let e: SPFEvaluator
    let ip: IPAddress
    let sender: String
    let helo: String
    let start: Date
    var lookups = 0
    var voids = 0

    init(evaluator: SPFEvaluator, ip: IPAddress, sender: String, helo: String) {
        self.e = evaluator
        self.start = evaluator.clock.now
        self.ip = ip
        self.sender = sender
        self.helo = helo
    }

    enum Abort: Error {
        case temp(String)
        case perm(String)
    }

    var outOfTime: Bool {
        let budget = Double(e.timeBudget.components.seconds) + Double(e.timeBudget.components.attoseconds) / 1e18
        return e.clock.now.timeIntervalSince(start) > budget
    }

    func guardTime() throws(Abort) {
        if outOfTime { throw .temp("SPF evaluation took longer than \(e.timeBudget)") }
    }

    func countLookup(_ what: String) throws(Abort) {
        lookups += 1
        if lookups > e.lookupLimit { throw .perm("more than \(e.lookupLimit) DNS-querying terms (at \(what))") }
    }

    func countVoid(_ name: String) throws(Abort) {
        voids += 1
        if voids > e.voidLookupLimit { throw .perm("more than \(e.voidLookupLimit) void DNS look-ups (at \(name))") }
    }

    func checkHost(domain: String, isTop: Bool) async -> Partial {
        guard SPFEvaluator.isValidDomain(domain) else {
            return Partial(result: .none, detail: "'\(domain)' is not a valid domain")
        }
        do {
            return try await evaluate(domain: domain)
        } catch {
            switch error {
            case .temp(let why): return Partial(result: .temperror, detail: why)
            case .perm(let why): return Partial(result: .permerror, detail: why)
            }
        }
    }

    /// Fetches and selects the record (§4.4, §4.5); nil = no SPF record (result none).
    func record(for domain: String) async throws(Abort) -> SPFRecord? {
        try guardTime()
        switch await e.resolver.txt(domain) {
        case .temporaryFailure(let why): throw .temp("TXT look-up of \(domain): \(why)")
        case .nxDomain, .noData: return nil
        case .records(let txts):
            let spf = txts.filter(SPFRecord.isSPF)
            if spf.isEmpty { return nil }
            guard spf.count == 1 else { throw .perm("\(domain) has \(spf.count) SPF records") }
            do { return try SPFRecord.parse(spf[0]) } catch {
                throw .perm("\(domain): \(error.description)")
            }
        }
    }

    func evaluate(domain: String, preloaded: SPFRecord? = nil) async throws(Abort) -> Partial {
        let found: SPFRecord?
        if let preloaded { found = preloaded } else { found = try await record(for: domain) }
        guard let record = found else {
            return Partial(result: .none, detail: "no SPF record for \(domain)")
        }
        for directive in record.directives {
            if directive.mechanism.countsTowardLimit { try countLookup(directive.text) }
            if try await matches(directive.mechanism, domain: domain) {
                let result: SPFResult
                switch directive.qualifier {
                case .pass: result = .pass
                case .fail: result = .fail
                case .softfail: result = .softfail
                case .neutral: result = .neutral
                }
                var partial = Partial(result: result, detail: "matched '\(directive.text)' of \(domain)")
                if result == .fail, let exp = record.explanation {
                    partial.explanation = await explanation(exp, domain: domain)
                }
                return partial
            }
        }
        // §6.1: redirect is ignored when the record has an "all" mechanism.
        if let redirect = record.redirect, !record.directives.contains(where: { $0.mechanism == .all }) {
            try countLookup("redirect=")
            let target = try await expandDomain(redirect, domain: domain)
            guard SPFEvaluator.isValidDomain(target) else { throw .perm("redirect= to invalid domain '\(target)'") }
            let sub = try await evaluate(redirectTarget: target)
            return sub
        }
        return Partial(result: .neutral, detail: "no mechanism matched in \(domain)")
    }

    private func evaluate(redirectTarget target: String) async throws(Abort) -> Partial {
        guard let record = try await record(for: target) else {
            throw .perm("redirect= target \(target) has no SPF record")
        }
        return try await evaluate(domain: target, preloaded: record)
    }

    // MARK: mechanisms

    func matches(_ mechanism: SPFRecord.Mechanism, domain: String) async throws(Abort) -> Bool {
        switch mechanism {
        case .all:
            return true
        case .ip4(let net, let prefix):
            return !ip.isIPv6 && Self.inNetwork(ip.bytes, net, prefix)
        case .ip6(let net, let prefix):
            return ip.isIPv6 && Self.inNetwork(ip.bytes, net, prefix)
        case .a(let spec, let v4, let v6):
            let target = try await expandDomain(spec, domain: domain)
            return try await addressesMatch(target, v4: v4, v6: v6, countVoid: true)
        case .mx(let spec, let v4, let v6):
            let target = try await expandDomain(spec, domain: domain)
            try guardTime()
            let exchanges: [MXRecord]
            switch await e.resolver.mx(target) {
            case .temporaryFailure(let why): throw .temp("MX look-up of \(target): \(why)")
            case .nxDomain, .noData: try countVoid(target); return false
            case .records(let recs): exchanges = recs
            }
            // §4.6.4: more than 10 MX names is a permerror.
            guard exchanges.count <= 10 else { throw .perm("\(target) has more than 10 MX records") }
            for mx in exchanges where !mx.isNullMX {
                if try await addressesMatch(mx.exchange, v4: v4, v6: v6, countVoid: false) { return true }
            }
            return false
        case .ptr(let spec):
            let target = try await expandDomain(spec, domain: domain)
            let names = try await validatedNames(countVoid: true)
            return names.contains { $0 == target || $0.hasSuffix("." + target) }
        case .exists(let spec):
            let target = try await expandDomain(spec, domain: domain)
            try guardTime()
            switch await e.resolver.ipv4Addresses(target) {
            case .temporaryFailure(let why): throw .temp("A look-up of \(target): \(why)")
            case .nxDomain, .noData: try countVoid(target); return false
            case .records(let recs): return !recs.isEmpty
            }
        case .include(let spec):
            let target = try await expandDomain(spec, domain: domain)
            guard SPFEvaluator.isValidDomain(target) else { throw .perm("include: of invalid domain '\(target)'") }
            let sub = try await evaluate(domain: target)
            switch sub.result {
            case .pass: return true
            case .fail, .softfail, .neutral: return false
            case .temperror: throw .temp(sub.detail)
            case .permerror: throw .perm(sub.detail)
            case .none: throw .perm("include:\(target) has no SPF record")
            }
        }
    }

    /// A (IPv4 client) or AAAA (IPv6 client) records of `name`, compared with the client in the CIDR.
    func addressesMatch(_ name: String, v4: Int, v6: Int, countVoid: Bool) async throws(Abort) -> Bool {
        // A name that cannot exist in the DNS (a label over 63 octets, an empty label, over 253 octets)
        // matches nothing; other octets (spaces, "%") are legal in labels and are looked up as they are.
        guard SPFEvaluator.isStructurallyValid(name) else { return false }
        try guardTime()
        let answer = ip.isIPv6 ? await e.resolver.ipv6Addresses(name) : await e.resolver.ipv4Addresses(name)
        switch answer {
        case .temporaryFailure(let why): throw .temp("address look-up of \(name): \(why)")
        case .nxDomain, .noData:
            if countVoid { try self.countVoid(name) }
            return false
        case .records(let addrs):
            let prefix = ip.isIPv6 ? v6 : v4
            return addrs.contains { $0.isIPv6 == ip.isIPv6 && Self.inNetwork(ip.bytes, $0.bytes, prefix) }
        }
    }

    /// §5.5: PTR names of the client (at most 10) whose A/AAAA records include the client address.
    /// A DNS error on the PTR look-up means no names; errors on the forward look-ups skip that name.
    func validatedNames(countVoid: Bool) async throws(Abort) -> [String] {
        try guardTime()
        let names: [String]
        switch await e.resolver.ptr(ip) {
        case .temporaryFailure: return []
        case .nxDomain, .noData:
            if countVoid { try self.countVoid(DNSName.reverse(ip)) }
            return []
        case .records(let n): names = Array(n.prefix(10))
        }
        var validated: [String] = []
        for name in names {
            if outOfTime { break }
            let answer = ip.isIPv6 ? await e.resolver.ipv6Addresses(name) : await e.resolver.ipv4Addresses(name)
            if case .records(let addrs) = answer, addrs.contains(ip) { validated.append(name) }
        }
        return validated
    }

    static func inNetwork(_ a: [UInt8], _ net: [UInt8], _ prefix: Int) -> Bool {
        guard a.count == net.count else { return false }
        var bits = prefix
        for i in 0..<a.count {
            if bits <= 0 { return true }
            let mask: UInt8 = bits >= 8 ? 0xff : UInt8(truncatingIfNeeded: 0xff << (8 - bits))
            if a[i] & mask != net[i] & mask { return false }
            bits -= 8
        }
        return true
    }

    // MARK: macros (§7)

    /// Expands a domain-spec; an over-long result loses labels from the left until it fits in 253 octets.
    func expandDomain(_ m: MacroString?, domain: String) async throws(Abort) -> String {
        guard let m else { return domain }
        if m.usesP && pendingPName == nil {
            let names = try await validatedNames(countVoid: false)
            pendingPName = names.first { $0 == domain || $0.hasSuffix("." + domain) } ?? names.first ?? "unknown"
        }
        var s = DNSName.normalize(try expand(m, domain: domain, validatedName: nil))
        while s.utf8.count > 253, let dot = s.firstIndex(of: ".") {
            s = String(s[s.index(after: dot)...])
        }
        return s
    }

    func expand(_ m: MacroString, domain: String, validatedName: String?) throws(Abort) -> String {
        var out = ""
        for token in m.tokens {
            switch token {
            case .literal(let l): out += l
            case .macro(let letter, let escape, let keep, let reverse, let delimiters):
                var value = macroValue(letter, domain: domain, validatedName: validatedName)
                let delims = delimiters.isEmpty ? ["."] : delimiters
                var parts = value.split(omittingEmptySubsequences: false, whereSeparator: { delims.contains($0) }).map(String.init)
                if reverse { parts.reverse() }
                if let keep, keep < parts.count { parts = Array(parts.suffix(keep)) }
                value = parts.joined(separator: ".")
                out += escape ? Self.urlEscape(value) : value
            }
        }
        return out
    }

    private var pendingPName: String?

    func macroValue(_ letter: Character, domain: String, validatedName: String?) -> String {
        let at = sender.lastIndex(of: "@")
        switch letter {
        case "s": return sender
        case "l": return at.map { String(sender[..<$0]) } ?? "postmaster"
        case "o": return at.map { String(sender[sender.index(after: $0)...]) } ?? sender
        case "d": return domain
        case "i":
            if ip.isIPv6 {
                // Nibbles in upper case, as RFC 7208 §7.4's examples (DNS names are case-insensitive).
                let hex = Array("0123456789ABCDEF")
                return ip.bytes.flatMap { [String(hex[Int($0 >> 4)]), String(hex[Int($0 & 0x0f)])] }.joined(separator: ".")
            }
            return ip.description
        case "c": return ip.description
        case "v": return ip.isIPv6 ? "ip6" : "in-addr"
        case "h": return helo
        case "r": return e.receivingHost
        case "t": return String(Int(e.clock.now.timeIntervalSince1970))
        case "p": return validatedName ?? pendingPName ?? "unknown"
        default: return ""
        }
    }

    /// RFC 3986 unreserved characters stay; everything else is %XX-escaped (§7.3).
    static func urlEscape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            let c = Unicode.Scalar(b)
            if c.isASCIIAlnum || c == "-" || c == "." || c == "_" || c == "~" {
                out.unicodeScalars.append(c)
            } else {
                out += "%" + String(b, radix: 16, uppercase: true).leftPad(2)
            }
        }
        return out
    }

    /// §6.2: the exp= explanation, or nil (then the default) on any error.
    func explanation(_ spec: MacroString, domain: String) async -> String? {
        guard let target = try? await expandDomain(spec, domain: domain), SPFEvaluator.isValidDomain(target),
            !outOfTime
        else { return nil }
        guard case .records(let txts) = await e.resolver.txt(target), txts.count == 1 else { return nil }
        guard let macro = try? MacroString.parse(Substring(txts[0]), explanation: true) else { return nil }
        if macro.usesP && pendingPName == nil {
            // %{p} needs a validated name; look it up once (not counted: the record evaluation is over).
            let names = (try? await validatedNames(countVoid: false)) ?? []
            pendingPName = names.first { $0 == domain || $0.hasSuffix("." + domain) } ?? names.first ?? "unknown"
        }
        guard let text = try? expand(macro, domain: domain, validatedName: nil) else { return nil }
        return text
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
