import MailCore
import MailPolicy
import Testing

@Suite struct AccessSyntaxTests {
    @Test(arguments: [
        ("192.0.2.7", "192.0.2.7/32"), ("192.0.2.0/24", "192.0.2.0/24"), ("2001:DB8::/32", "2001:db8::/32"),
        (" 10.0.0.0/8 ", "10.0.0.0/8"), ("::1", "::1/128"), ("0.0.0.0/0", "0.0.0.0/0")
    ])
    func validNetworks(text: String, expected: String) {
        #expect((try? AccessSyntax.network(text).get()).map { "\($0)" } == expected)
    }

    @Test func hostBitsSetSuggestTheNetwork() {
        guard case .failure(let e) = AccessSyntax.network("10.0.0.1/8") else { Issue.record("accepted"); return }
        #expect(e.message.contains("did you mean 10.0.0.0/8"))
    }

    @Test(arguments: ["", "example.com", "192.0.2.0/33", "2001:db8::/129", "192.0.2.0/", "192.0.2.0/a", "300.1.1.1", "1.2.3.4/8/9"])
    func invalidNetworks(text: String) {
        guard case .failure(let e) = AccessSyntax.network(text) else { Issue.record("accepted \(text)"); return }
        #expect(!e.message.isEmpty)
    }

    @Test(arguments: [
        ("Partner.Example", "partner.example"), ("*.partner.example", "partner.example"), (".partner.example", "partner.example"),
        ("*.Bücher.example", "xn--bcher-kva.example"), ("XN--BCHER-KVA.example", "xn--bcher-kva.example")
    ])
    func clientDomains(text: String, expected: String) {
        #expect((try? AccessSyntax.clientDomain(text).get()) == expected)
    }

    @Test(arguments: ["", "partner.example.", "[192.0.2.1]", "a..b", "-x.example", "under_score.example", "*", "xn--zz.example"])
    func invalidClientDomains(text: String) {
        guard case .failure = AccessSyntax.clientDomain(text) else { Issue.record("accepted \(text)"); return }
    }

    @Test func listsReportEveryProblem() throws {
        guard case .failure(let e) = AccessSyntax.networks(["192.0.2.0/24", "bad", "10.0.0.1/8"]) else { Issue.record("accepted"); return }
        #expect(e.message.contains("'bad'"))
        #expect(e.message.contains("10.0.0.1/8"))
        #expect(try AccessSyntax.networks(["192.0.2.1", "192.0.2.1/32"]).get().count == 1)
    }
}
