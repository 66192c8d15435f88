/// Domain names with non-ASCII labels in their ASCII form for DNS and routing: each such label becomes
/// "xn--" + Punycode (RFC 3492 §6.3 encoding, IDNA A-label RFC 5890 §2.3.2.1). Labels are lower-cased
/// first (Unicode simple case mapping) and put in Unicode NFC; no further IDNA2008 mapping or validation
/// is done — names that are not registrable simply will not resolve.
///
/// `IDNA.canonicalDomain` is THE canonical key of a domain everywhere Petrel stores or compares one
/// (local domains, mailbox lookup keys, relay client domains): the lower-case A-label form, so that
/// `bücher.example` and `xn--bcher-kva.example` name the same domain. A-labels given as input are checked
/// by decoding them (RFC 3492 §6.2) and re-encoding the result (RFC 5891 §5.4 round trip).
import Foundation

public enum IDNA {
    /// The ASCII form of a domain, or nil when a label cannot be encoded within 63 octets.
    /// Address literals (`[...]`) and ASCII names are returned lower-cased.
    public static func toASCII(_ domain: String) -> String? {
        if domain.hasPrefix("[") { return domain.lowercased() }
        var labels: [String] = []
        for label in domain.split(separator: ".", omittingEmptySubsequences: false) {
            let lower = label.lowercased()
            if lower.utf8.allSatisfy({ $0 < 0x80 }) {
                labels.append(lower)
                continue
            }
            guard let encoded = Punycode.encode(lower) else { return nil }
            let aLabel = "xn--" + encoded
            guard aLabel.utf8.count <= 63 else { return nil }
            labels.append(aLabel)
        }
        return labels.joined(separator: ".")
    }

    /// Longest domain accepted (RFC 5321 §4.5.3.1.2) and longest label (RFC 1035 §2.3.4).
    public static let maxDomainLength = 255, maxLabelLength = 63

    /// The canonical key of a domain: lower case, every label in A-label form, A-labels validated.
    /// Address literals (`[...]`) are returned lower-cased. Input is a `Domain` the caller has parsed
    /// (RFC 5321 §4.1.2 with RFC 6531 U-labels); this adds the IDNA checks:
    ///   - an ASCII label starting "xn--" must be valid Punycode that decodes to non-ASCII text and
    ///     re-encodes to the same label (RFC 5891 §5.4), else `.invalidALabel`;
    ///   - a U-label is lower-cased, NFC-normalised and encoded; its A-label must fit 63 octets;
    ///   - the whole name must fit 255 octets, no label may be empty.
    public static func canonicalDomain(_ domain: String) -> Result<String, IDNAError> {
        if domain.hasPrefix("[") { return .success(domain.lowercased()) }
        if let plain = plainASCIIDomain(domain) { return .success(plain) }
        return labelByLabel(domain)
    }

    /// The common case in one pass over the octets, with no label strings made: an ASCII name whose
    /// labels are 1–63 octets, none starting "xn--", 255 octets at most, is its own canonical form in
    /// lower case (the name itself when it has no capitals). nil: anything else, which `labelByLabel`
    /// decides (and refuses where it must). Every SMTP transaction asks for several of these.
    static func plainASCIIDomain(_ domain: String) -> String? {
        var labelLength = 0
        var hasCapitals = false
        var total = 0
        // The last four octets of the current label's start, to spot "xn--" (any case).
        var prefix: UInt32 = 0
        for byte in domain.utf8 {
            total += 1
            guard byte < 0x80, total <= maxDomainLength else { return nil }
            if byte == UInt8(ascii: ".") {
                guard labelLength > 0 else { return nil }
                labelLength = 0
                prefix = 0
                continue
            }
            labelLength += 1
            guard labelLength <= maxLabelLength else { return nil }
            let lower = byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
            if lower != byte { hasCapitals = true }
            if labelLength <= 4 {
                prefix = prefix << 8 | UInt32(lower)
                // "xn--": 0x78 0x6E 0x2D 0x2D.
                if labelLength == 4 && prefix == 0x786E_2D2D { return nil }
            }
        }
        guard labelLength > 0 else { return nil }
        return hasCapitals ? domain.lowercased() : domain
    }

    /// `canonicalDomain` label by label: U-labels encoded, A-labels checked, every limit enforced.
    static func labelByLabel(_ domain: String) -> Result<String, IDNAError> {
        var labels: [String] = []
        for label in domain.split(separator: ".", omittingEmptySubsequences: false) {
            switch canonicalLabel(String(label)) {
            case .success(let l): labels.append(l)
            case .failure(let e): return .failure(e)
            }
        }
        return checkedLength(labels.joined(separator: "."))
    }

    /// `canonicalDomain` as an optional (nil when the name is not a valid IDN).
    public static func canonicalKey(_ domain: String) -> String? {
        try? canonicalDomain(domain).get()
    }

    /// A domain for display: A-labels decoded to U-labels (RFC 5891 §5.5 ToUnicode). Labels that do not
    /// decode are kept as they are; never fails.
    public static func toUnicode(_ domain: String) -> String {
        if domain.hasPrefix("[") || !domain.lowercased().contains("xn--") { return domain }
        return domain.split(separator: ".", omittingEmptySubsequences: false).map { label -> String in
            let lower = label.lowercased()
            guard lower.hasPrefix("xn--"), let decoded = Punycode.decode(String(lower.dropFirst(4))) else {
                return String(label)
            }
            return decoded
        }.joined(separator: ".")
    }

    /// One label in canonical form.
    static func canonicalLabel(_ label: String) -> Result<String, IDNAError> {
        guard !label.isEmpty else { return .failure(.emptyLabel) }
        let lower = label.lowercased()
        if lower.utf8.allSatisfy({ $0 < 0x80 }) {
            guard lower.utf8.count <= maxLabelLength else { return .failure(.labelTooLong(label)) }
            if lower.hasPrefix("xn--") {
                // A-label: must decode, hold non-ASCII, and re-encode to itself (lower case, NFC).
                let body = String(lower.dropFirst(4))
                guard let decoded = Punycode.decode(body), !decoded.utf8.allSatisfy({ $0 < 0x80 }),
                    decoded == normalized(decoded), Punycode.encode(decoded) == body
                else {
                    return .failure(.invalidALabel(label))
                }
            }
            return .success(lower)
        }
        let unicode = normalized(label)
        guard let encoded = Punycode.encode(unicode) else { return .failure(.labelTooLong(label)) }
        let aLabel = "xn--" + encoded
        guard aLabel.utf8.count <= maxLabelLength else { return .failure(.labelTooLong(label)) }
        return .success(aLabel)
    }

    /// Lower case, then Unicode NFC (so a decomposed "u + U+0308" equals the precomposed "ü").
    static func normalized(_ label: String) -> String {
        label.lowercased().precomposedStringWithCanonicalMapping
    }

    static func checkedLength(_ name: String) -> Result<String, IDNAError> {
        guard name.utf8.count <= maxDomainLength else { return .failure(.domainTooLong(name.utf8.count)) }
        return .success(name)
    }
}

/// Why a domain has no canonical (A-label) form. `description` is safe to show to a client or admin.
public enum IDNAError: Error, Hashable, Sendable, CustomStringConvertible {
    /// An "xn--" label that is not valid Punycode of lower-case non-ASCII text.
    case invalidALabel(String)
    /// A label longer than 63 octets (in its A-label form).
    case labelTooLong(String)
    /// The A-label form of the name is longer than 255 octets.
    case domainTooLong(Int)
    case emptyLabel

    public var description: String {
        switch self {
        case .invalidALabel(let l): return "'\(l)' is not a valid IDNA A-label (bad Punycode)"
        case .labelTooLong(let l): return "domain label '\(l)' is longer than 63 octets in A-label (xn--) form"
        case .domainTooLong(let n): return "domain is \(n) octets long in A-label (xn--) form (at most 255)"
        case .emptyLabel: return "empty domain label"
        }
    }
}

extension EmailAddress {
    /// THE routing domain of an address: the one key under which Petrel compares, stores, routes and
    /// looks up the address's domain — local-domain and mailbox lookups (`lookupKey`), the recipient
    /// decision (MailPolicy `RecipientRouting`), queue entries and their MX/route look-ups (`RouteTable`),
    /// relay domains and valid-recipient lists. It is `IDNA.canonicalDomain(domain)`: lower case, every
    /// label in A-label form (`bücher.example` → `xn--bcher-kva.example`), A-labels validated; an address
    /// literal stays as it is (`[192.0.2.1]`, `[ipv6:…]`). Nil when the domain has no valid A-label form
    /// (bad Punycode, a label over 63 octets once encoded): such an address is refused, never routed.
    public var routingDomain: String? { try? checkedRoutingDomain.get() }

    /// `routingDomain`, or why there is none (the reason is safe to show to a client: 553 5.1.3).
    public var checkedRoutingDomain: Result<String, IDNAError> { IDNA.canonicalDomain(domain) }

    /// The routing domain of a domain written on its own (a `[delivery] routes` key, a queue entry's
    /// domain): the `routingDomain` an address at it has — `Domain` / `address-literal` of RFC 5321
    /// §4.1.2 parsed, then canonical (so `Bücher.example`, `[IPv6:2001:DB8:0::1]` become
    /// `xn--bcher-kva.example`, `[ipv6:2001:db8::1]`). Nil when it is neither, or has no A-label form.
    public static func routingDomain(of domain: String) -> String? {
        EmailAddress("postmaster@" + domain)?.routingDomain
    }
}

/// RFC 3492 Punycode with the parameters of §5 (base 36, tmin 1, tmax 26, skew 38, damp 700,
/// initial bias 72, initial n 128).
public enum Punycode {
    static let base = 36, tMin = 1, tMax = 26, skew = 38, damp = 700, initialBias = 72, initialN = 128

    /// §6.3 encoding procedure. nil on overflow (inputs far beyond any DNS label).
    public static func encode(_ input: String) -> String? {
        let scalars = input.unicodeScalars.map { Int($0.value) }
        var output = scalars.filter { $0 < 0x80 }.compactMap { Unicode.Scalar(UInt32($0)).map(Character.init) }
        let basicCount = output.count
        var handled = basicCount
        if basicCount > 0 { output.append("-") }
        var n = initialN, delta = 0, bias = initialBias
        while handled < scalars.count {
            guard let m = scalars.filter({ $0 >= n }).min() else { return nil }
            let (product, overflow) = (m - n).multipliedReportingOverflow(by: handled + 1)
            guard !overflow, delta <= Int(Int32.max) - product else { return nil }
            delta += product
            n = m
            for c in scalars {
                if c < n {
                    delta += 1
                    guard delta <= Int(Int32.max) else { return nil }
                }
                if c == n {
                    var q = delta
                    var k = base
                    while true {
                        let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                        if q < t { break }
                        output.append(digit(t + (q - t) % (base - t)))
                        q = (q - t) / (base - t)
                        k += base
                    }
                    output.append(digit(q))
                    bias = adapt(delta, handled + 1, handled == basicCount)
                    delta = 0
                    handled += 1
                }
            }
            delta += 1
            n += 1
        }
        return String(output)
    }

    /// §6.2 decoding procedure (input without the "xn--" prefix, case-insensitive digits).
    /// nil on any failure: non-basic input, a bad digit, truncated input, overflow, a decoded basic code
    /// point, or a code point that is not a Unicode scalar. Inputs over 256 octets are refused outright.
    public static func decode(_ input: String) -> String? {
        let bytes = Array(input.utf8)
        guard bytes.count <= 256, bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
        var output: [Int] = []
        var rest = bytes[...]
        if let delimiter = bytes.lastIndex(of: UInt8(ascii: "-")) {
            output = bytes[..<delimiter].map { Int($0) }
            rest = bytes[(delimiter + 1)...]
        }
        var n = initialN, i = 0, bias = initialBias
        var position = rest.startIndex
        while position < rest.endIndex {
            let oldI = i
            var w = 1
            var k = base
            while true {
                guard position < rest.endIndex, let d = digitValue(rest[position]) else { return nil }
                position += 1
                let (product, overflow1) = d.multipliedReportingOverflow(by: w)
                guard !overflow1, i <= Int(Int32.max) - product else { return nil }
                i += product
                let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                if d < t { break }
                let (nextW, overflow2) = w.multipliedReportingOverflow(by: base - t)
                guard !overflow2, nextW <= Int(Int32.max) else { return nil }
                w = nextW
                k += base
            }
            let count = output.count + 1
            bias = adapt(i - oldI, count, oldI == 0)
            guard n <= Int(Int32.max) - i / count else { return nil }
            n += i / count
            i %= count
            guard n >= 0x80, n <= 0x10FFFF, !(0xD800...0xDFFF).contains(n) else { return nil }
            output.insert(n, at: i)
            i += 1
        }
        var scalars = String.UnicodeScalarView()
        for c in output {
            guard let scalar = Unicode.Scalar(UInt32(c)) else { return nil }
            scalars.append(scalar)
        }
        return String(scalars)
    }

    /// a–z / A–Z → 0–25, 0–9 → 26–35; nil for anything else.
    static func digitValue(_ c: UInt8) -> Int? {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return Int(c - UInt8(ascii: "a"))
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return Int(c - UInt8(ascii: "A"))
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(c - UInt8(ascii: "0")) + 26
        default: return nil
        }
    }

    /// §6.1 bias adaptation.
    static func adapt(_ delta: Int, _ numPoints: Int, _ firstTime: Bool) -> Int {
        var delta = firstTime ? delta / damp : delta / 2
        delta += delta / numPoints
        var k = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + (base - tMin + 1) * delta / (delta + skew)
    }

    /// 0–25 → a–z, 26–35 → 0–9.
    static func digit(_ d: Int) -> Character {
        let value = d < 26 ? 0x61 + d : 0x30 + d - 26
        return Character(Unicode.Scalar(UInt8(value)))
    }
}
