import MailCore
import MailDNS
import Testing

@testable import MailAuthChecks

@Suite struct AuthenticationResultsTests {
    @Test func rendering() {
        let ar = AuthenticationResults(authservID: "mx.example.org")
        #expect(ar.render([]) == "Authentication-Results: mx.example.org; none\r\n")
        let text = ar.render([
            .init(method: "spf", result: "pass", comment: "matched 'ip4:(x)' of a.example", properties: [("smtp.mailfrom", "a.example")]),
            .init(method: "dkim", result: "fail", comment: "2048-bit key", properties: [("header.d", "a.example"), ("header.b", "abc/+=")]),
            .init(method: "dmarc", result: "pass", properties: [("header.from", "a.example"), ("smtp.mailfrom", "user name@a.example")])
        ])
        #expect(
            text == """
                Authentication-Results: mx.example.org;\r
                \tspf=pass (matched 'ip4:x' of a.example) smtp.mailfrom=a.example;\r
                \tdkim=fail (2048-bit key) header.d=a.example header.b="abc/+=";\r
                \tdmarc=pass header.from=a.example smtp.mailfrom="user name@a.example"\r

                """)
    }

    @Test func forgedFieldsAreFound() {
        let msg = Array(
            """
            Authentication-Results: MX.example.org; spf=pass smtp.mailfrom=x.example\r
            Authentication-Results: (comment) mx.example.org; dkim=pass\r
            Authentication-Results: "mx.example.org"; dkim=pass\r
            Authentication-Results: other.example; dkim=pass\r
            Authentication-Results: mx.example.org.evil; dkim=pass\r
            From: a@x.example\r
            \r
            body\r

            """.utf8)
        let header = MessageHeader.parse(msg)
        let forged = AuthenticationResults(authservID: "mx.example.org").forged(in: header)
        #expect(forged.count == 3)
        #expect(forged.allSatisfy { msg[$0.range].starts(with: Array("Authentication-Results".utf8)) })
    }

    @Test func inboundVerdictEndToEnd() async throws {
        // SPF pass for the MAIL FROM domain, which is the From: domain: DMARC passes; the A-R lists all.
        let resolver = StaticResolver(
            addresses: ["mail.a.example": [IPAddress("192.0.2.1")!]],
            txt: [
                "a.example": ["v=spf1 ip4:192.0.2.0/24 -all"],
                "mail.a.example": ["v=spf1 a -all"],
                "_dmarc.a.example": ["v=DMARC1; p=reject"]
            ])
        let checker = InboundAuthenticator(resolver: resolver, authservID: "mx.example.org")
        let msg = Array("From: x@a.example\r\nSubject: s\r\n\r\nhi\r\n".utf8)
        let ip = try #require(IPAddress("192.0.2.1"))
        let verdict = await checker.check(
            .bytes(msg), header: MessageHeader.parse(msg),
            transaction: InboundTransaction(clientIP: ip, helo: "mail.a.example", mailFrom: "x@a.example"))
        #expect(verdict.spf.result == .pass)
        #expect(verdict.spfHelo?.result == .pass)
        #expect(verdict.dmarc.map(\.result) == [.pass])
        #expect(verdict.disposition == .none)
        #expect(verdict.authenticationResults.contains("dmarc=pass"))
        // From another address: SPF fails, DMARC p=reject.
        let other = try #require(IPAddress("198.51.100.7"))
        let bad = await checker.check(
            .bytes(msg), header: MessageHeader.parse(msg),
            transaction: InboundTransaction(clientIP: other, helo: "evil.example", mailFrom: "x@a.example"))
        #expect(bad.spf.result == .fail)
        #expect(bad.disposition == .reject)
        var capped = checker
        capped.maximumDisposition = ["*": .quarantine]
        let softened = await capped.check(
            .bytes(msg), header: MessageHeader.parse(msg),
            transaction: InboundTransaction(clientIP: other, helo: "evil.example", mailFrom: "x@a.example"))
        #expect(softened.disposition == .quarantine)
    }
}
