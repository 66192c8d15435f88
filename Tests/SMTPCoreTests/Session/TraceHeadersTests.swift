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
        #expect(
            String(decoding: one, as: UTF8.self)
                == "Return-Path: <>\r\nReceived: from [192.0.2.1] ([unknown])\r\n\tby mx.test (Petrel) with ESMTP id Q\r\n"
                + "\tfor <a@mx.test>; Thu, 1 Jan 1970 00:00:00 +0000\r\n")
        let two = TraceHeaders.build(
            sender: .null, heloName: "h", client: ClientInfo(ip: IPAddress("::1")), hostname: "mx.test",
            protocolName: "SMTP", queueID: "Q",
            recipients: [EmailAddress(localPart: "a", domain: "mx.test"), EmailAddress(localPart: "b", domain: "mx.test")],
            date: Date(timeIntervalSince1970: 0))
        #expect(
            String(decoding: two, as: UTF8.self)
                == "Return-Path: <>\r\nReceived: from h ([IPv6:::1])\r\n\tby mx.test (Petrel) with SMTP id Q; Thu, 1 Jan 1970 00:00:00 +0000\r\n")
    }

    @Test(arguments: [
        (false, false, false, false, "SMTP"), (true, false, false, false, "ESMTP"),
        (true, false, true, false, "ESMTPS"), (true, false, false, true, "ESMTPA"), (true, false, true, true, "ESMTPSA"),
        (false, false, true, false, "ESMTPS"), (false, false, false, true, "ESMTPA"),
        (true, true, false, false, "UTF8SMTP"), (true, true, true, false, "UTF8SMTPS"),
        (true, true, false, true, "UTF8SMTPA"), (true, true, true, true, "UTF8SMTPSA")
    ])
    func protocolNames(extended: Bool, utf8: Bool, tls: Bool, auth: Bool, name: String) {
        #expect(TraceHeaders.protocolName(extended: extended, smtpUTF8: utf8, tls: tls, authenticated: auth) == name)
    }

    @Test func tlsCommentIsSanitised() {
        let trace = TraceHeaders.build(
            sender: .null, heloName: "h", client: ClientInfo(ip: nil), hostname: "mx.test", protocolName: "ESMTPS",
            queueID: "Q", recipients: [], date: Date(timeIntervalSince1970: 0),
            tls: TLSInfo(version: "TLSv1.3)\r\nX-Evil: 1", cipher: ""))
        #expect(
            String(decoding: trace, as: UTF8.self)
                == "Return-Path: <>\r\nReceived: from h ([unknown])\r\n\t(using TLSv1.3___X-Evil: 1 with cipher unknown)\r\n"
                + "\tby mx.test (Petrel) with ESMTPS id Q; Thu, 1 Jan 1970 00:00:00 +0000\r\n")
    }
}
