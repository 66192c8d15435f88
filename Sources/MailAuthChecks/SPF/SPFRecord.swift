import MailCore

/// An SPF result (RFC 7208 §2.6).
public enum SPFResult: String, Sendable, Hashable, CaseIterable {
    case none, neutral, pass, fail, softfail, temperror, permerror
}

/// A parsed SPF record (RFC 7208 §4.6, §12). Parsing checks the whole record, so a syntax error anywhere
/// is a `permerror` before any mechanism is evaluated (§4.6).
struct SPFRecord: Sendable, Equatable {
    enum Qualifier: Character, Sendable { case pass = "+", fail = "-", softfail = "~", neutral = "?" }

    enum Mechanism: Sendable, Equatable {
        case all
        case include(MacroString)
        case a(MacroString?, v4: Int, v6: Int)
        case mx(MacroString?, v4: Int, v6: Int)
        case ptr(MacroString?)
        case ip4([UInt8], Int)
        case ip6([UInt8], Int)
        case exists(MacroString)

        /// Mechanisms that cost a DNS look-up and count toward the limit of 10 (§4.6.4).
        var countsTowardLimit: Bool {
            switch self {
            case .include, .a, .mx, .ptr, .exists: return true
            case .all, .ip4, .ip6: return false
            }
        }
    }

    struct Directive: Sendable, Equatable {
        var qualifier: Qualifier
        var mechanism: Mechanism
        var text: String
    }

    var directives: [Directive] = []
    var redirect: MacroString?
    var explanation: MacroString?

    struct SyntaxError: Error, Equatable, CustomStringConvertible {
        var description: String
    }

    /// True for a TXT string that is an SPF record: "v=spf1" (any case) alone or followed by a space (§4.5).
    static func isSPF(_ txt: String) -> Bool {
        let u = Array(txt.utf8)
        let v: [UInt8] = Array("v=spf1".utf8)
        guard u.count >= v.count else { return false }
        for i in 0..<v.count where lower(u[i]) != v[i] { return false }
        return u.count == v.count || u[v.count] == 0x20
    }

    static func lower(_ b: UInt8) -> UInt8 { (b >= 0x41 && b <= 0x5a) ? b + 0x20 : b }

    static func parse(_ text: String) throws(SyntaxError) -> SPFRecord {
        guard isSPF(text) else { throw SyntaxError(description: "not an SPF record") }
        var record = SPFRecord()
        let terms = text.dropFirst(6).split(separator: " ", omittingEmptySubsequences: true)
        for term in terms {
            try record.add(term: term)
        }
        return record
    }

    private mutating func add(term: Substring) throws(SyntaxError) {
        // A modifier is name "=" macro-string, where name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
        if let eq = term.firstIndex(of: "="), Self.isModifierName(term[..<eq]) {
            let name = term[..<eq].lowercased()
            let value = term[term.index(after: eq)...]
            switch name {
            case "redirect":
                guard redirect == nil else { throw SyntaxError(description: "more than one redirect= modifier") }
                redirect = try Self.domainSpec(value, term: term)
            case "exp":
                guard explanation == nil else { throw SyntaxError(description: "more than one exp= modifier") }
                explanation = try Self.domainSpec(value, term: term)
            default:
                // Unknown modifiers are ignored, but their value must still be a valid macro-string (§6).
                do { _ = try MacroString.parse(value, explanation: false) } catch {
                    throw SyntaxError(description: "bad macro in '\(term)'")
                }
            }
            return
        }
        var rest = term
        var qualifier = Qualifier.pass
        if let first = rest.first, let q = Qualifier(rawValue: first) {
            qualifier = q
            rest = rest.dropFirst()
        }
        let nameEnd = rest.firstIndex(where: { $0 == ":" || $0 == "/" }) ?? rest.endIndex
        let name = rest[..<nameEnd].lowercased()
        let arg = rest[nameEnd...]
        let mechanism: Mechanism
        switch name {
        case "all":
            guard arg.isEmpty else { throw SyntaxError(description: "'all' takes no argument: '\(term)'") }
            mechanism = .all
        case "include":
            mechanism = .include(try Self.requiredDomain(arg, term: term))
        case "exists":
            mechanism = .exists(try Self.requiredDomain(arg, term: term))
        case "a", "mx":
            var spec = arg
            let cidr = try Self.splitDualCIDR(&spec, term: term)
            var domain: MacroString? = nil
            if !spec.isEmpty {
                guard spec.first == ":" else { throw SyntaxError(description: "bad mechanism '\(term)'") }
                domain = try Self.domainSpec(spec.dropFirst(), term: term)
            }
            mechanism = name == "a" ? .a(domain, v4: cidr.v4, v6: cidr.v6) : .mx(domain, v4: cidr.v4, v6: cidr.v6)
        case "ptr":
            if arg.isEmpty {
                mechanism = .ptr(nil)
            } else {
                guard arg.first == ":" else { throw SyntaxError(description: "bad mechanism '\(term)'") }
                mechanism = .ptr(try Self.domainSpec(arg.dropFirst(), term: term))
            }
        case "ip4":
            guard arg.first == ":" else { throw SyntaxError(description: "ip4 needs an address: '\(term)'") }
            var body = arg.dropFirst()
            var prefix = 32
            if let slash = body.firstIndex(of: "/") {
                prefix = try Self.cidr(body[body.index(after: slash)...], max: 32, term: term)
                body = body[..<slash]
            }
            guard let ip = IPAddress(String(body)), !ip.isIPv6 else {
                throw SyntaxError(description: "bad IPv4 network in '\(term)'")
            }
            mechanism = .ip4(ip.bytes, prefix)
        case "ip6":
            guard arg.first == ":" else { throw SyntaxError(description: "ip6 needs an address: '\(term)'") }
            var body = arg.dropFirst()
            var prefix = 128
            if let slash = body.firstIndex(of: "/") {
                prefix = try Self.cidr(body[body.index(after: slash)...], max: 128, term: term)
                body = body[..<slash]
            }
            guard body.contains(":"), !body.contains("%"), let ip = IPAddress(String(body)), ip.isIPv6 else {
                throw SyntaxError(description: "bad IPv6 network in '\(term)'")
            }
            mechanism = .ip6(ip.bytes, prefix)
        default:
            throw SyntaxError(description: "unknown mechanism '\(term)'")
        }
        directives.append(Directive(qualifier: qualifier, mechanism: mechanism, text: String(term)))
    }

    static func isModifierName(_ s: Substring) -> Bool {
        guard let first = s.unicodeScalars.first, first.isASCIILetter else { return false }
        return s.unicodeScalars.allSatisfy { $0.isASCIILetter || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == "." }
    }

    private static func requiredDomain(_ arg: Substring, term: Substring) throws(SyntaxError) -> MacroString {
        guard arg.first == ":" else { throw SyntaxError(description: "'\(term)' needs a domain") }
        return try domainSpec(arg.dropFirst(), term: term)
    }

    /// domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) / macro-expand
    static func domainSpec(_ text: Substring, term: Substring) throws(SyntaxError) -> MacroString {
        guard !text.isEmpty else { throw SyntaxError(description: "empty domain in '\(term)'") }
        let macro: MacroString
        do { macro = try MacroString.parse(text, explanation: false) } catch {
            throw SyntaxError(description: "bad macro in '\(term)': \(error.description)")
        }
        guard macro.hasValidDomainEnd else { throw SyntaxError(description: "bad domain in '\(term)'") }
        return macro
    }

    /// ip4-cidr-length = "/" ("0" / %x31-39 0*1DIGIT); ip6: up to 3 digits. Value at most `max`.
    static func cidr(_ digits: Substring, max: Int, term: Substring) throws(SyntaxError) -> Int {
        guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            !(digits.count > 1 && digits.first == "0"), let v = Int(digits), v <= max
        else {
            throw SyntaxError(description: "bad CIDR length in '\(term)'")
        }
        return v
    }

    /// Strips a trailing dual-cidr-length ("/n", "//m" or "/n//m") from `spec`.
    static func splitDualCIDR(_ spec: inout Substring, term: Substring) throws(SyntaxError) -> (v4: Int, v6: Int) {
        var v4 = 32, v6 = 128
        func trailingDigits(_ s: Substring) -> Substring? {
            guard let slash = s.lastIndex(of: "/") else { return nil }
            let d = s[s.index(after: slash)...]
            return d.isEmpty || !d.allSatisfy({ $0.isASCII && $0.isNumber }) ? nil : d
        }
        if let d = trailingDigits(spec) {
            let slash = spec.index(spec.endIndex, offsetBy: -(d.count + 1))
            if slash > spec.startIndex, spec[spec.index(before: slash)] == "/" {
                v6 = try cidr(d, max: 128, term: term)
                spec = spec[..<spec.index(before: slash)]
                if let d4 = trailingDigits(spec) {
                    let s4 = spec.index(spec.endIndex, offsetBy: -(d4.count + 1))
                    v4 = try cidr(d4, max: 32, term: term)
                    spec = spec[..<s4]
                }
            } else {
                v4 = try cidr(d, max: 32, term: term)
                spec = spec[..<slash]
            }
        }
        if spec.first == "/" { throw SyntaxError(description: "bad CIDR length in '\(term)'") }
        return (v4, v6)
    }
}

extension Unicode.Scalar {
    var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
    var isASCIIAlnum: Bool { isASCIILetter || ("0"..."9").contains(self) }
}

/// An SPF macro-string (RFC 7208 §7): literals and %{…} expansions, checked when the record is parsed.
struct MacroString: Sendable, Equatable {
    enum Token: Sendable, Equatable {
        case literal(String)
        case macro(letter: Character, escape: Bool, keep: Int?, reverse: Bool, delimiters: [Character])
    }

    var tokens: [Token]

    var usesP: Bool {
        tokens.contains {
            if case .macro("p", _, _, _, _) = $0 { return true }; return false
        }
    }

    struct MacroError: Error, CustomStringConvertible {
        var description: String
    }

    static let letters: Set<Character> = ["s", "l", "o", "d", "i", "p", "h", "v"]
    static let explanationLetters: Set<Character> = ["c", "r", "t"]
    static let delimiterSet: Set<Character> = [".", "-", "+", ",", "/", "_", "="]

    static func parse(_ text: Substring, explanation: Bool) throws(MacroError) -> MacroString {
        var tokens: [Token] = []
        var literal = ""
        let scalars = Array(text.unicodeScalars)
        var i = 0
        func flush() {
            if !literal.isEmpty { tokens.append(.literal(literal)); literal = "" }
        }
        while i < scalars.count {
            let c = scalars[i]
            if c == "%" {
                guard i + 1 < scalars.count else { throw MacroError(description: "'%' at end") }
                let n = scalars[i + 1]
                switch n {
                case "%": literal.append("%"); i += 2; continue
                case "_": literal.append(" "); i += 2; continue
                case "-": literal.append("%20"); i += 2; continue
                case "{": break
                default: throw MacroError(description: "bad escape '%\(n)'")
                }
                guard let close = scalars[(i + 2)...].firstIndex(of: "}") else {
                    throw MacroError(description: "unterminated macro")
                }
                let body = Array(scalars[(i + 2)..<close])
                guard let letterScalar = body.first else { throw MacroError(description: "empty macro") }
                let letter = Character(String(letterScalar).lowercased())
                let escape = ("A"..."Z").contains(letterScalar)
                guard letters.contains(letter) || (explanation && explanationLetters.contains(letter)) else {
                    throw MacroError(description: "macro letter '\(letterScalar)' not allowed here")
                }
                var j = 1
                var digits = ""
                while j < body.count, ("0"..."9").contains(body[j]) { digits.unicodeScalars.append(body[j]); j += 1 }
                var keep: Int? = nil
                if !digits.isEmpty {
                    guard digits.count <= 3, let k = Int(digits), k > 0 else {
                        throw MacroError(description: "bad digit transformer '\(digits)'")
                    }
                    keep = k
                }
                var reverse = false
                if j < body.count, body[j] == "r" || body[j] == "R" { reverse = true; j += 1 }
                var delimiters: [Character] = []
                while j < body.count {
                    let d = Character(body[j])
                    guard delimiterSet.contains(d) else { throw MacroError(description: "bad delimiter '\(d)'") }
                    delimiters.append(d)
                    j += 1
                }
                flush()
                tokens.append(.macro(letter: letter, escape: escape, keep: keep, reverse: reverse, delimiters: delimiters))
                i = close + 1
                continue
            }
            // macro-literal = %x21-24 / %x26-7E; an explanation string may also hold spaces.
            let v = c.value
            guard (v >= 0x21 && v <= 0x7e) || (explanation && v == 0x20) else {
                throw MacroError(description: "character U+\(String(v, radix: 16)) not allowed")
            }
            literal.unicodeScalars.append(c)
            i += 1
        }
        flush()
        return MacroString(tokens: tokens)
    }

    /// domain-end = ( "." toplabel [ "." ] ) / macro-expand
    var hasValidDomainEnd: Bool {
        guard let last = tokens.last else { return false }
        guard case .literal(var tail) = last else { return true }
        // "%%", "%_" and "%-" are macro-expands too, but they are folded into literals: a tail made only of
        // them ends in a macro-expand. Those expand to "%", " " or "%20" — never a valid domain end either way.
        if tail.hasSuffix(".") { tail.removeLast() }
        guard let dot = tail.lastIndex(of: ".") else { return false }
        return Self.isTopLabel(tail[tail.index(after: dot)...])
    }

    /// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
    static func isTopLabel(_ label: Substring) -> Bool {
        let s = Array(label.unicodeScalars)
        guard !s.isEmpty, s.allSatisfy({ $0.isASCIIAlnum || $0 == "-" }) else { return false }
        if !s.contains("-") { return s.contains(where: { $0.isASCIILetter }) }
        guard let f = s.first, let l = s.last else { return false }
        return f.isASCIIAlnum && l.isASCIIAlnum
    }
}
