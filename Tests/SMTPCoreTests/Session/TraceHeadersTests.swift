import Foundation
import MailCore
import Testing
@testable import SMTPCore

@Suite struct TraceHeadersTests {
    @Test func forClauseOnlyWithOneRecipient() {
        let one = TraceHeaders.build(
            sender: .null, heloName: "[192.0.2.1]", client: ClientInfo(ip: nil), hostname: "mx.test",
            protocolName: "ESMTP", queueID: "Q", recipients: [EmailAddress(localPart: "a", domain: "mx.test")],
            date: Date(timeIntervalSince1970: 0))
        #expect(String(decoding: one, as: UTF8.self) ==
            "Return-Path: <>\r\nReceived: from [192.0.2.1] ([unknown])\r\n\tby mx.test (Petrel) with ESMTP id Q\r\n"
            + "\tfor <a@mx.test>; Thu, 1 Jan 1970 00:00:00 +0000\r\n")
        let two = TraceHeaders.build(
            sender: .null, heloName: "h", client: ClientInfo(ip: IPAddress("::1")), hostname: "mx.test",
            protocolName: "SMTP", queueID: "Q",
            recipients: [EmailAddress(localPart: "a", domain: "mx.test"), EmailAddress(localPart: "b", domain: "mx.test")],
            date: Date(timeIntervalSince1970: 0))
        #expect(String(decoding: two, as: UTF8.self) ==
            "Return-Path: <>\r\nReceived: from h ([IPv6:::1])\r\n\tby mx.test (Petrel) with SMTP id Q; Thu, 1 Jan 1970 00:00:00 +0000\r\n")
    }
}
