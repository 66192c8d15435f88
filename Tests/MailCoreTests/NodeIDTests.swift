// NodeID: the generated default (host name + random hex, valid, different each time) and validation.
import MailCore
import Testing

@Suite struct NodeIDTests {
    @Test func generatedIDsAreValidAndDistinct() {
        let a = NodeID.generate(hostname: "MX1.Example.org")
        let b = NodeID.generate(hostname: "MX1.Example.org")
        #expect(a.hasPrefix("mx1.example.org-"))
        #expect(a.count == "mx1.example.org-".count + 8)
        #expect(a != b)
        #expect(NodeID.isValid(a))
        // Characters that would need quoting are dropped; nothing left falls back to "petrel".
        #expect(NodeID.generate(hostname: "höst name").hasPrefix("hstname-"))
        #expect(NodeID.generate(hostname: "").hasPrefix("petrel-"))
        #expect(NodeID.generate(hostname: String(repeating: "a", count: 200)).count == NodeID.maxLength)
    }

    @Test(arguments: ["", "a b", "node\n", "ünï", String(repeating: "x", count: 65), "a/b"])
    func invalid(_ text: String) {
        #expect(!NodeID.isValid(text))
    }

    @Test(arguments: ["mx1", "node-2.example_org", String(repeating: "x", count: 64)])
    func valid(_ text: String) {
        #expect(NodeID.isValid(text))
    }
}
