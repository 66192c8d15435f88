import MailTestSupport
import Testing

@testable import MailMIME

/// Broken and hostile messages never trap, never recurse without bound, and still give a structure.
@Suite struct MIMEHostileInputTests {
    /// 10,000 nested multiparts: the tree stops at `MIMELimits.maxDepth`, the rest is one leaf.
    @Test func deepMultipartNesting() {
        var text = "Subject: deep\r\n"
        for i in 0..<10_000 { text += "Content-Type: multipart/mixed; boundary=b\(i)\r\n\r\n--b\(i)\r\n" }
        text += "\r\ninnermost\r\n"
        let m = MIMEMessage(utf8(text))
        var depth = 0
        var part = m.root
        while let child = part.children.first { part = child; depth += 1 }
        #expect(depth <= MIMELimits.maxDepth)
        #expect(depth >= 10)
        #expect(part.kind == .leaf)
    }

    /// message/rfc822 inside message/rfc822, 5,000 levels.
    @Test func deepMessageNesting() {
        let text = String(repeating: "Content-Type: message/rfc822\r\n\r\n", count: 5_000) + "Subject: x\r\n\r\nbody"
        let m = MIMEMessage(utf8(text))
        var depth = 0
        var part = m.root
        while let inner = part.encapsulated { part = inner; depth += 1 }
        #expect(depth == MIMELimits.maxDepth)
        // Section addressing through the chain stays bounded too.
        #expect(m.part(at: Array(repeating: 1, count: 200)) == nil)
        #expect(m.part(at: Array(repeating: 1, count: MIMELimits.maxDepth + 1)) != nil)
    }

    /// Many parts: bounded by `MIMELimits.maxParts`.
    @Test func manyParts() {
        var text = "Content-Type: multipart/mixed; boundary=x\r\n\r\n"
        for _ in 0..<(MIMELimits.maxParts + 500) { text += "--x\r\n\r\na\r\n" }
        text += "--x--\r\n"
        let m = MIMEMessage(utf8(text))
        #expect(m.root.children.count <= MIMELimits.maxParts)
        #expect(m.root.children.count > 1000)
    }

    @Test func pathologicalHeaders() {
        // A huge folded header, a field of only whitespace, NULs, a colon-less flood.
        let long = "Subject: " + String(repeating: "x ", count: 100_000) + "\r\n"
        let folded = "To:" + String(repeating: "\r\n a@b,", count: 10_000) + "\r\n"
        let m = MIMEMessage(utf8(long + folded + "X: \0\0\r\n" + String(repeating: "junk\r\n", count: 1000) + "\r\nbody"))
        #expect(m.envelope.to.count == MIMEAddressList.maxItems)
        #expect(m.envelope.subject?.count == 200_000 - 1)
    }

    @Test func brokenEncodedWordsAndAddresses() {
        for s in [
            "=?", "=?utf-8?", "=?utf-8?b?", "=?utf-8?b?====?=", "=??q??=", "=?utf-8?q?=ZZ?=", "\"unterminated",
            "<", "<<<>>>", "@@@", ":;:;", "(((((", "a@", "@b", "\\", "\"\\"
        ] {
            _ = MIMEEncodedWord.decode(utf8(s))
            _ = MIMEAddressList.parse(utf8(s))
            _ = MIMEContentType.parse(utf8(s))
            _ = MIMEDate.parse(utf8(s))
        }
    }

    /// Deterministic random mutations of the corpus: every operation on every result must not trap.
    @Test func randomMutationsOfTheCorpus() {
        var rng = SplitMix64(seed: 0x1234_5678)
        let seeds = Corpus.all.map(Corpus.bytes)
        let alphabet = utf8("-\r\n:;=?\"()<>@,\\/ abcBQ0123456789boundary")
        for round in 0..<1500 {
            var bytes = seeds[round % seeds.count]
            for _ in 0..<Int(rng.next() % 12) {
                guard !bytes.isEmpty else { break }
                let i = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 4 {
                case 0: bytes[i] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 1: bytes.remove(at: i)
                case 2: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: i)
                default:
                    let j = Int(rng.next() % UInt64(bytes.count))
                    bytes.insert(contentsOf: bytes[min(i, j)..<max(i, j)].prefix(200), at: i)
                }
            }
            let m = MIMEMessage(bytes)
            _ = m.envelope
            for path in [[], [1], [2], [1, 1], [3, 1], [3, 2, 1]] {
                _ = m.section(MIMESectionSpec(part: path))
                _ = m.section(MIMESectionSpec(part: path, text: .header))
                _ = m.section(MIMESectionSpec(part: path, text: .headerFields(["From", "To"])))
                _ = m.binary(path)
            }
            _ = m.textMatches(MIMESearchNeedle("needle"))
        }
    }
}
