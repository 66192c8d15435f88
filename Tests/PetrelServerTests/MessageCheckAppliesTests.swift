/// The end-of-DATA hook decides on the event loop whether a message needs it at all
/// (`MessageCheck.applies`, from `MessageAuthentication.work(for:inbound:)`): mail from an authenticated
/// user is signed, other mail on port 25 is checked when inbound checks are on, and the rest is stored
/// as received without a task started for it. The signing and the checks themselves are tested end to
/// end in e2e/interop/test_authentication.py.
import Foundation
import Logging
import MailCore
import MailDNS
import MailServerNIO
import MailStore
import PetrelConfig
import Testing

@testable import PetrelServer
@testable import SMTPCore

@Suite struct MessageCheckAppliesTests {
    static func authentication(checkInbound: Bool, signOutbound: Bool = true) -> MessageAuthentication {
        var configuration = PetrelConfiguration.developmentDefaults(hostname: "mx.example.test")
        configuration.authentication.checkInbound = checkInbound
        configuration.authentication.signOutbound = signOutbound
        return MessageAuthentication(
            configuration: configuration, resolver: StaticResolver(), store: InMemoryMailStore(), access: nil,
            logger: Logger(label: "test"))
    }

    static func request(user: String?, ip: IPAddress? = IPAddress("192.0.2.7")) throws -> MessageCheckRequest {
        let recipient = try #require(EmailAddress("alice@example.test"))
        let envelope = SMTPEnvelope(
            queueID: "Q1", sender: .null, recipients: [recipient], localMailboxIDs: [1], traceHeaders: [],
            receivedAt: Date(), bodyType: .sevenBit, smtpUTF8: false, declaredSize: nil, bodySize: 3,
            authenticatedUser: user)
        return MessageCheckRequest(envelope: envelope, body: .bytes(Array("x\r\n".utf8)), client: ClientInfo(ip: ip))
    }

    @Test func whatTheHookDoesWithEachMessage() throws {
        let checking = Self.authentication(checkInbound: true)
        #expect(checking.work(for: try Self.request(user: "bob@example.test"), inbound: true) == .sign)
        #expect(checking.work(for: try Self.request(user: nil), inbound: true) == .check)
        #expect(checking.work(for: try Self.request(user: nil), inbound: false) == nil)
        #expect(checking.work(for: try Self.request(user: nil, ip: nil), inbound: true) == nil)

        let notChecking = Self.authentication(checkInbound: false)
        #expect(notChecking.work(for: try Self.request(user: "bob@example.test"), inbound: true) == .sign)
        #expect(notChecking.work(for: try Self.request(user: nil), inbound: true) == nil)
    }

    @Test func theHookAppliesOnlyWhereItHasWork() throws {
        let hook = try #require(Self.authentication(checkInbound: false).hook(inbound: true))
        #expect(hook.applies(try Self.request(user: "bob@example.test")))
        #expect(!hook.applies(try Self.request(user: nil)))
        #expect(try #require(Self.authentication(checkInbound: true).hook(inbound: true)).applies(try Self.request(user: nil)))
        #expect(Self.authentication(checkInbound: false, signOutbound: false).hook(inbound: true) == nil)
    }
}
