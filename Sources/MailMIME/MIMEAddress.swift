/// RFC 5322 §3.4 address lists, parsed leniently for ENVELOPE (RFC 9051 §7.5.2).
///
/// ```
/// address-list = (address *("," address)) / obs-addr-list
/// address      = mailbox / group
/// mailbox      = name-addr / addr-spec
/// name-addr    = [display-name] angle-addr
/// angle-addr   = [CFWS] "<" [obs-route] addr-spec ">" [CFWS]
/// group        = display-name ":" [group-list] ";" [CFWS]
/// addr-spec    = local-part "@" domain
/// ```
/// Values stay raw octets (encoded words are not decoded: ENVELOPE reports them as sent). As in Dovecot,
/// a missing local part or domain is reported as `MISSING_MAILBOX` / `MISSING_DOMAIN` (a NIL host would
/// mean group syntax), a comment after an address with no display name becomes the name, and junk up to
/// the next comma is skipped.

/// One element of an address list as ENVELOPE encodes it (RFC 9051 §7.5.2 "address structure").
public enum MIMEAddressItem: Sendable, Hashable {
    /// A mailbox: display name (nil when absent), source route (obs-route, nil when absent),
    /// local part and domain (raw octets, quoting removed from the local part only when it is plain).
    case mailbox(name: [UInt8]?, route: [UInt8]?, local: [UInt8], domain: [UInt8])
    /// The start of a group: `(NIL NIL "name" NIL)`.
    case groupStart(name: [UInt8])
    /// The end of a group: `(NIL NIL NIL NIL)`.
    case groupEnd
}

public enum MIMEAddressList {
    public static let missingMailbox = Array("MISSING_MAILBOX".utf8)
    public static let missingDomain = Array("MISSING_DOMAIN".utf8)
    /// At most this many items are returned for one field.
    public static let maxItems = 1000

    enum Token: Equatable {
        case word([UInt8], quoted: Bool)
        case domainLiteral([UInt8])
        case special(UInt8)
        case comment([UInt8])
    }

    static func tokenize(_ b: [UInt8]) -> [Token] {
        var tokens: [Token] = []
        var i = 0
        while i < b.count {
            let c = b[i]
            if isWSP(c) || c == cr || c == lf { i += 1; continue }
            switch c {
            case UInt8(ascii: "\""):
                i += 1
                var out: [UInt8] = []
                while i < b.count, b[i] != UInt8(ascii: "\"") {
                    if b[i] == UInt8(ascii: "\\"), i + 1 < b.count { out.append(b[i + 1]); i += 2; continue }
                    if b[i] != cr && b[i] != lf { out.append(b[i]) }
                    i += 1
                }
                i += 1
                tokens.append(.word(out, quoted: true))
            case UInt8(ascii: "("):
                var depth = 0
                var out: [UInt8] = []
                while i < b.count {
                    let d = b[i]
                    if d == UInt8(ascii: "\\"), i + 1 < b.count { out.append(b[i + 1]); i += 2; continue }
                    if d == UInt8(ascii: "(") { depth += 1; if depth > 1 { out.append(d) }; i += 1; continue }
                    if d == UInt8(ascii: ")") {
                        depth -= 1
                        i += 1
                        if depth == 0 { break }
                        out.append(d)
                        continue
                    }
                    if d != cr && d != lf { out.append(d) }
                    i += 1
                }
                tokens.append(.comment(out))
            case UInt8(ascii: "["):
                let start = i
                while i < b.count, b[i] != UInt8(ascii: "]") { i += 1 }
                i = min(i + 1, b.count)
                tokens.append(.domainLiteral(Array(b[start..<i])))
            case UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "@"), UInt8(ascii: ","),
                UInt8(ascii: ";"), UInt8(ascii: ":"):
                tokens.append(.special(c))
                i += 1
            default:
                let start = i
                while i < b.count {
                    let d = b[i]
                    if isWSP(d) || d == cr || d == lf { break }
                    if d == UInt8(ascii: "\"") || d == UInt8(ascii: "(") || d == UInt8(ascii: "[") || d == UInt8(ascii: "<")
                        || d == UInt8(ascii: ">") || d == UInt8(ascii: "@") || d == UInt8(ascii: ",")
                        || d == UInt8(ascii: ";") || d == UInt8(ascii: ":") || d == UInt8(ascii: ")")
                    {
                        break
                    }
                    i += 1
                }
                if i == start { i += 1; continue } // a stray ")"
                tokens.append(.word(Array(b[start..<i]), quoted: false))
            }
        }
        return tokens
    }

    /// Parses an address-list header value (raw octets, unfolded or not).
    public static func parse(_ value: [UInt8]) -> [MIMEAddressItem] {
        let tokens = tokenize(value)
        var items: [MIMEAddressItem] = []
        var i = 0
        var inGroup = false

        func peekSpecial() -> UInt8? {
            var j = i
            while j < tokens.count { if case .comment = tokens[j] { j += 1 } else { break } }
            if j < tokens.count, case .special(let s) = tokens[j] { return s }
            return nil
        }

        while i < tokens.count, items.count < maxItems {
            // Collect a phrase (or local part) up to the next special.
            var words: [[UInt8]] = []
            var local: [UInt8] = []
            var lastComment: [UInt8]? = nil
            while i < tokens.count {
                switch tokens[i] {
                case .word(let w, let quoted):
                    words.append(w)
                    // A local part joins its words without spaces; quoting is kept when needed.
                    local +=
                        quoted && w.contains(where: { $0 == sp || $0 == UInt8(ascii: "\"") }) ? [UInt8(ascii: "\"")] + w + [UInt8(ascii: "\"")] : w
                    i += 1
                    continue
                case .domainLiteral(let d):
                    words.append(d); local += d; i += 1; continue
                case .comment(let c):
                    lastComment = c; i += 1; continue
                case .special:
                    break
                }
                break
            }
            let phrase: [UInt8]? = words.isEmpty ? nil : Array(words.joined(separator: [sp]))
            let special = peekSpecial()
            switch special {
            case UInt8(ascii: ":")?:
                i = skipToSpecial(tokens, i) + 1
                if inGroup { items.append(.groupEnd) }
                items.append(.groupStart(name: phrase ?? []))
                inGroup = true
                continue
            case UInt8(ascii: "<")?:
                i = skipToSpecial(tokens, i) + 1
                var (addr, next) = angleAddress(tokens, from: i)
                i = next
                // A comment right after the angle address names it when there was no phrase.
                while i < tokens.count, case .comment(let c) = tokens[i] { lastComment = c; i += 1 }
                if case .mailbox(_, let route, let l, let d) = addr {
                    addr = .mailbox(name: phrase ?? lastComment.flatMap { $0.isEmpty ? nil : $0 }, route: route, local: l, domain: d)
                }
                items.append(addr)
            case UInt8(ascii: "@")?:
                i = skipToSpecial(tokens, i) + 1
                let (domain, next) = domainTokens(tokens, from: i)
                i = next
                while i < tokens.count, case .comment(let c) = tokens[i] { lastComment = c; i += 1 }
                items.append(
                    .mailbox(
                        name: lastComment.flatMap { $0.isEmpty ? nil : $0 }, route: nil,
                        local: local.isEmpty ? missingMailbox : local,
                        domain: domain.isEmpty ? missingDomain : domain))
            default:
                if !local.isEmpty {
                    items.append(
                        .mailbox(
                            name: lastComment.flatMap { $0.isEmpty ? nil : $0 }, route: nil,
                            local: local, domain: missingDomain))
                }
            }
            // Expect "," or ";" (end of group); skip junk before it.
            while i < tokens.count {
                if case .special(let s) = tokens[i], s == UInt8(ascii: ",") || s == UInt8(ascii: ";") {
                    if s == UInt8(ascii: ";"), inGroup {
                        items.append(.groupEnd)
                        inGroup = false
                    }
                    i += 1
                    break
                }
                i += 1
            }
        }
        if inGroup { items.append(.groupEnd) }
        return items
    }

    static func skipToSpecial(_ tokens: [Token], _ from: Int) -> Int {
        var j = from
        while j < tokens.count { if case .special = tokens[j] { return j }; j += 1 }
        return j
    }

    /// After "<": `[obs-route] addr-spec ">"`.
    static func angleAddress(_ tokens: [Token], from start: Int) -> (MIMEAddressItem, Int) {
        var i = start
        var route: [UInt8]? = nil
        // obs-route = obs-domain-list ":"; obs-domain-list = *(CFWS / ",") "@" domain *("," [CFWS] ["@" domain])
        if i < tokens.count, case .special(UInt8(ascii: "@")) = tokens[i] {
            var r: [UInt8] = []
            var j = i
            while j < tokens.count {
                if case .special(let s) = tokens[j] {
                    if s == UInt8(ascii: ":") { break }
                    if s == UInt8(ascii: ">") { break }
                    r.append(s)
                } else if case .word(let w, _) = tokens[j] {
                    r += w
                } else if case .domainLiteral(let d) = tokens[j] {
                    r += d
                }
                j += 1
            }
            if j < tokens.count, case .special(UInt8(ascii: ":")) = tokens[j] {
                route = r
                i = j + 1
            }
        }
        var local: [UInt8] = []
        while i < tokens.count {
            if case .special = tokens[i] { break }
            if case .word(let w, let quoted) = tokens[i] {
                local += quoted && w.contains(where: { $0 == sp || $0 == UInt8(ascii: "\"") }) ? [UInt8(ascii: "\"")] + w + [UInt8(ascii: "\"")] : w
            }
            i += 1
        }
        var domain: [UInt8] = []
        if i < tokens.count, case .special(UInt8(ascii: "@")) = tokens[i] {
            let (d, next) = domainTokens(tokens, from: i + 1)
            domain = d
            i = next
        }
        // Up to and past ">".
        while i < tokens.count {
            if case .special(UInt8(ascii: ">")) = tokens[i] { i += 1; break }
            if case .special(let s) = tokens[i], s == UInt8(ascii: ",") || s == UInt8(ascii: ";") { break }
            i += 1
        }
        if local.isEmpty && domain.isEmpty && route == nil {
            // "<>" (a null path in From:, seen in bounces): Dovecot reports an empty mailbox.
            return (.mailbox(name: nil, route: nil, local: [], domain: []), i)
        }
        return (
            .mailbox(
                name: nil, route: route, local: local.isEmpty ? missingMailbox : local,
                domain: domain.isEmpty ? missingDomain : domain), i
        )
    }

    /// `domain = dot-atom / domain-literal / obs-domain`: words and literals up to the next special.
    static func domainTokens(_ tokens: [Token], from start: Int) -> ([UInt8], Int) {
        var i = start
        var domain: [UInt8] = []
        while i < tokens.count {
            switch tokens[i] {
            case .word(let w, _): domain += w
            case .domainLiteral(let d): domain += d
            case .comment: break
            case .special: return (domain, i)
            }
            i += 1
        }
        return (domain, i)
    }
}
