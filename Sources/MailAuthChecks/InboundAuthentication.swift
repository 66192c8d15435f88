import Foundation
import MailCore
import MailDNS

/// Everything the end-of-DATA check needs to know about the transaction.
public struct InboundTransaction: Sendable {
    public var clientIP: IPAddress
    public var helo: String
    /// The reverse-path without brackets ("" for <>).
    public var mailFrom: String

    public init(clientIP: IPAddress, helo: String, mailFrom: String) {
        self.clientIP = clientIP
        self.helo = helo
        self.mailFrom = mailFrom
    }
}

/// What the checks decided for one message.
public struct InboundVerdict: Sendable {
    public var spf: SPFOutcome
    public var spfHelo: SPFOutcome?
    public var dkim: [DKIMVerification]
    public var dmarc: [DMARCOutcome]
    /// The strictest disposition over the Author Domains (after per-domain overrides).
    public var disposition: DMARCPolicy
    /// The Authentication-Results field to prepend (CRLF-terminated).
    public var authenticationResults: String
    /// Incoming Authentication-Results fields claiming our authserv-id: to remove (RFC 8601 §5).
    public var forgedFields: [HeaderField]

    /// The DMARC outcome that decided `disposition` (for the reply text and logs).
    public var deciding: DMARCOutcome? {
        dmarc.filter { $0.result == .fail }.max { $0.disposition < $1.disposition }
    }
}

/// SPF (MAIL FROM and HELO), DKIM (every signature) and DMARC (RFC 9989) for a message received on port
/// 25, and the Authentication-Results field that reports them. Pure apart from DNS; per-message state.
public struct InboundAuthenticator: Sendable {
    public var resolver: any DNSResolver
    public var authservID: String
    /// Per Author Domain: the most this server will do for a DMARC failure (e.g. "quarantine" to never
    /// reject mail claiming that domain), keyed by lower-cased domain; "*" is the default.
    public var maximumDisposition: [String: DMARCPolicy] = [:]
    public var spfTimeBudget: Duration = .seconds(20)
    /// SPF's `%{t}` and time budget, DKIM's x= (the server's `MailClock`).
    public var clock: any MailClock = WallClock()

    public init(resolver: any DNSResolver, authservID: String) {
        self.resolver = resolver
        self.authservID = authservID
    }

    public func check(_ message: MessageData, header: MessageHeader, transaction t: InboundTransaction) async -> InboundVerdict {
        var e = SPFEvaluator(resolver: resolver, receivingHost: authservID)
        e.timeBudget = spfTimeBudget
        e.clock = clock
        let spfEval = e
        let heloIsDomain =
            SPFEvaluator.isValidDomain(DNSName.normalize(t.helo)) && IPAddress(t.helo) == nil
            && !t.helo.hasPrefix("[")
        async let heloCheck: SPFOutcome? = heloIsDomain ? await spfEval.checkHelo(ip: t.clientIP, helo: t.helo) : nil
        var v = DKIMVerifier(resolver: resolver)
        v.clock = clock
        let verifier = v
        async let dkimCheck = verifier.verify(message, header: header)
        let spf: SPFOutcome
        if t.mailFrom.isEmpty {
            spf = await heloCheck ?? SPFOutcome(result: .none, domain: t.helo, detail: "HELO is not a domain")
        } else {
            spf = await spfEval.checkMailFrom(ip: t.clientIP, mailFrom: t.mailFrom, helo: t.helo)
        }
        let helo = await heloCheck
        let dkim = await dkimCheck
        let dmarcEval = DMARCEvaluator(resolver: resolver)
        var dmarc: [DMARCOutcome] = []
        let authors = AuthorDomains.from(header)
        for author in authors {
            var o = await dmarcEval.evaluate(authorDomain: author, spf: spf, dkim: dkim) {
                await Self.exists(author, resolver: resolver)
            }
            let cap = maximumDisposition[author] ?? maximumDisposition["*"] ?? .reject
            if o.disposition > cap { o.disposition = cap }
            dmarc.append(o)
        }
        if authors.isEmpty {
            dmarc.append(DMARCOutcome(result: .permerror, authorDomain: "", detail: "no From: address"))
        }
        let disposition = dmarc.map(\.disposition).max() ?? .none
        let ar = AuthenticationResults(authservID: authservID)
        let field = ar.render(Self.entries(spf: spf, helo: helo, mailFrom: t.mailFrom, dkim: dkim, dmarc: dmarc))
        return InboundVerdict(
            spf: spf, spfHelo: helo, dkim: dkim, dmarc: dmarc, disposition: disposition,
            authenticationResults: field, forgedFields: ar.forged(in: header))
    }

    /// RFC 9989's non-existent domain: NXDOMAIN or NODATA for A, AAAA and MX. nil when unknown (temp error).
    static func exists(_ domain: String, resolver: any DNSResolver) async -> Bool? {
        var unknown = false
        switch await resolver.mx(domain) {
        case .records: return true
        case .temporaryFailure: unknown = true
        default: break
        }
        switch await resolver.addresses(domain) {
        case .records: return true
        case .temporaryFailure: unknown = true
        default: break
        }
        return unknown ? nil : false
    }

    static func entries(
        spf: SPFOutcome, helo: SPFOutcome?, mailFrom: String, dkim: [DKIMVerification],
        dmarc: [DMARCOutcome]
    ) -> [AuthenticationResults.Entry] {
        var entries: [AuthenticationResults.Entry] = []
        if !mailFrom.isEmpty {
            entries.append(
                .init(
                    method: "spf", result: spf.result.rawValue, comment: spf.detail,
                    properties: [("smtp.mailfrom", spf.domain)]))
        }
        if let helo {
            entries.append(
                .init(
                    method: "spf", result: helo.result.rawValue, comment: helo.detail,
                    properties: [("smtp.helo", helo.domain)]))
        }
        if dkim.isEmpty {
            entries.append(.init(method: "dkim", result: "none"))
        }
        for d in dkim {
            var props: [(String, String)] = []
            if !d.domain.isEmpty { props.append(("header.d", d.domain)) }
            if !d.selector.isEmpty { props.append(("header.s", d.selector)) }
            if !d.algorithm.isEmpty { props.append(("header.a", d.algorithm)) }
            if !d.signaturePrefix.isEmpty { props.append(("header.b", d.signaturePrefix)) }
            var comment = d.reason
            if d.keyBits > 0 { comment = "\(d.keyBits)-bit key" + (comment.isEmpty ? "" : "; " + comment) }
            entries.append(.init(method: "dkim", result: d.status.rawValue, comment: comment, properties: props))
        }
        for m in dmarc {
            var comment = "p=\(m.requestedPolicy.rawValue) dis=\(m.disposition.rawValue)"
            if m.testing { comment += " t=y" }
            if !m.detail.isEmpty { comment += "; " + m.detail }
            entries.append(
                .init(
                    method: "dmarc", result: m.result.rawValue, comment: comment,
                    properties: m.authorDomain.isEmpty ? [] : [("header.from", m.authorDomain)]))
        }
        return entries
    }
}
