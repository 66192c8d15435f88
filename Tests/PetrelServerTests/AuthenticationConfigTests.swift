// Tests for ConfigAuthentication.swift: the [authentication] defaults, every key, and bad values.
import Testing

@testable import PetrelConfig

@Suite struct AuthenticationConfigTests {
    static let base = PetrelConfiguration.developmentDefaults(hostname: "base.test")

    @Test func onByDefault() {
        let a = Self.base.authentication
        #expect(a.signOutbound && a.checkInbound && a.dmarcReject)
        #expect(a.authservID.isEmpty && a.spfTimeout == 20)
        #expect(a.noRejectDomains.isEmpty && a.uncheckedDomains.isEmpty && a.unsignedDomains.isEmpty)
    }

    @Test func everyKeyIsApplied() throws {
        let text = """
            [authentication]
            sign_outbound = false
            check_inbound = false
            dmarc_reject = false
            authserv_id = "MX.Example.test"
            no_reject_domains = ["A.example", "bücher.example"]
            unchecked_domains = "b.example"
            unsigned_domains = ["c.example"]
            spf_timeout = 5
            """
        let c = try PetrelConfiguration.parse(text, base: Self.base).get()
        let a = c.authentication
        #expect(!a.signOutbound && !a.checkInbound && !a.dmarcReject)
        #expect(a.authservID == "mx.example.test")
        #expect(a.noRejectDomains == ["a.example", "xn--bcher-kva.example"])
        #expect(a.uncheckedDomains == ["b.example"] && a.unsignedDomains == ["c.example"])
        #expect(a.spfTimeout == 5)
    }

    @Test(arguments: [
        ("sign_outbound = \"yes\"", "authentication.sign_outbound"),
        ("authserv_id = \"not a host\"", "authentication.authserv_id"),
        ("no_reject_domains = [\"bad domain\"]", "authentication.no_reject_domains"),
        ("spf_timeout = 0", "authentication.spf_timeout"),
        ("spf_timeout = 500", "authentication.spf_timeout"),
        ("dmarc = true", "authentication.dmarc")
    ])
    func badValuesNameTheKey(_ line: String, _ key: String) {
        switch PetrelConfiguration.parse("[authentication]\n\(line)\n", base: Self.base) {
        case .success: Issue.record("\(line) was accepted")
        case .failure(let e):
            #expect(e.errors.contains { $0.key == key && $0.line == 2 }, "\(e.errors)")
        }
    }
}
