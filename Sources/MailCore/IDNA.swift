/// Domain names with non-ASCII labels in their ASCII form for DNS and routing: each such label becomes
/// "xn--" + Punycode (RFC 3492 §6.3 encoding, IDNA A-label RFC 5890 §2.3.2.1). Labels are lower-cased
/// first (Unicode simple case mapping); no further IDNA2008 mapping or validation is done — names that
/// are not registrable simply will not resolve.
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
