import Foundation
import Logging
import MailCore
import MailPolicy
import MailServerNIO
import MailStore
import MailTestSupport
import NIOCore
import NIOEmbedded
import NIOPosix
import SMTPCore
import Testing

/// The abuse defences of the SMTP adapter on an in-memory channel: greeting delay and early talkers,
/// the client-host check before the greeting, the invalid-recipient throttle and the anti-spoofing lookup.
@Suite struct SMTPConnectionHandlerAbuseTests {
    typealias Harness = SMTPHandlerHarness

    func makeHarness(
        configure: (inout SMTPServerConfiguration) -> Void = { _ in },
        context change: (inout SMTPServerContext) -> Void = { _ in }
    ) async throws -> Harness {
        try await .start(configure: configure, context: change)
    }

    @Test func earlyTalkerGets554AndIsClosed() async throws {
        let h = try await makeHarness(context: { $0.greetingDelay = .seconds(2) })
        try await h.send("EHLO eager.test\r\n")
        let replies = try await h.replies(1)
        #expect(replies == ["554 5.5.0 mx.test Error: SMTP protocol synchronization (data sent before the greeting)"])
        #expect(h.logs.all.contains { $0.contains("smtp connection refused") && $0.contains("before the greeting") })
        try await h.finish()
    }

    @Test func patientClientIsGreetedAfterTheDelay() async throws {
        let h = try await makeHarness(context: { $0.greetingDelay = .seconds(2) })
        await h.channel.testingEventLoop.advanceTime(by: .seconds(1))
        #expect(try await h.channel.readOutbound(as: ByteBuffer.self) == nil)
        await h.channel.testingEventLoop.advanceTime(by: .seconds(1))
        #expect(try await h.replies(1) == ["220 mx.test ESMTP Petrel"])
        try await h.send("EHLO patient.test\r\n")
        #expect(try await h.replies(1).first == "250-mx.test")
        try await h.finish()
    }

    @Test func verifiedHostNameIsUsedForRelay() async throws {
        let h = try await makeHarness(context: {
            $0.relayRules = RelayRules(allowAuthenticated: true, allowedClientDomains: ["partner.example"])
            $0.verifyClientHost = { ip in ip == IPAddress("192.0.2.7") ? "mx1.partner.example" : nil }
        })
        #expect(try await h.replies(1) == ["220 mx.test ESMTP Petrel"])
        try await h.send("HELO mx1.partner.example\r\nMAIL FROM:<a@partner.example>\r\nRCPT TO:<b@elsewhere.test>\r\n")
        let replies = try await h.replies(3)
        #expect(replies.last == "250 2.1.5 Ok")
        try await h.finish()
    }

    @Test func unverifiedClientIsDeniedRelay() async throws {
        let h = try await makeHarness(context: {
            $0.relayRules = RelayRules(allowAuthenticated: true, allowedClientDomains: ["partner.example"])
            $0.verifyClientHost = { _ in nil }
        })
        #expect(try await h.replies(1) == ["220 mx.test ESMTP Petrel"])
        try await h.send("HELO mx1.partner.example\r\nMAIL FROM:<a@partner.example>\r\nRCPT TO:<b@elsewhere.test>\r\n")
        #expect(try await h.replies(3).last == "550 5.7.1 <b@elsewhere.test>: Relay access denied")
        try await h.finish()
    }

    @Test func invalidRecipientsEndTheSession() async throws {
        let h = try await makeHarness(context: {
            $0.invalidRecipients = .init(delayAfter: 5, disconnectAt: 3, delay: .zero)
        })
        _ = try await h.replies(1)
        try await h.send(
            "HELO c.test\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<v@elsewhere.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<none2@example.test>\r\n"
        )
        let replies = try await h.replies(7)
        #expect(replies.map { String($0.prefix(9)) } == ["250 mx.te", "250 2.1.0", "550 5.1.1", "550 5.7.1", "250 2.1.5", "550 5.1.1", "421 4.7.0"])
        #expect(replies.last?.contains("too many invalid recipients") == true)
        #expect(h.logs.all.contains { $0.contains("smtp recipient refused") && $0.contains("reason=relay access denied") })
        try await h.finish()
    }

    @Test func invalidRecipientsAreDelayed() async throws {
        let h = try await makeHarness(context: {
            $0.invalidRecipients = .init(delayAfter: 1, disconnectAt: 0, delay: .seconds(3))
        })
        _ = try await h.replies(1)
        try await h.send("HELO c.test\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<n1@example.test>\r\n")
        #expect(try await h.replies(3).last?.hasPrefix("550") == true)
        try await h.send("RCPT TO:<n2@example.test>\r\n")
        // The second refusal waits 3 s (the test clock).
        try await Task.sleep(for: .milliseconds(100))
        await h.channel.testingEventLoop.advanceTime(by: .seconds(2))
        #expect(try await h.channel.readOutbound(as: ByteBuffer.self) == nil)
        await h.channel.testingEventLoop.advanceTime(by: .seconds(1))
        #expect(try await h.replies(1).last?.hasPrefix("550 5.1.1") == true)
        try await h.finish()
    }

    @Test func localSenderNeedsAuthWhenEnabled() async throws {
        let h = try await makeHarness(configure: { $0.rejectUnauthenticatedLocalSender = true })
        _ = try await h.replies(1)
        try await h.send("HELO c.test\r\nMAIL FROM:<alice@Example.TEST>\r\nMAIL FROM:<x@remote.test>\r\n")
        let replies = try await h.replies(3)
        #expect(replies[1].hasPrefix("550 5.7.1 <alice@example.test>: Sender address rejected"))
        #expect(replies[2] == "250 2.1.0 Ok")
        try await h.finish()
    }
}
