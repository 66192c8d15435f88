/// `SMTPServerContext.admitting`: the per-connection context of `[auth] plaintext_networks` (MailPolicy
/// `PlaintextLogin`), which decides whether the session takes a password before STARTTLS.
import Foundation
import Logging
import MailCore
import MailPolicy
import MailServerNIO
import MailStore
import NIOPosix
import SMTPCore
import Testing

@Suite struct SMTPServerContextPlaintextTests {
    static let stranger = ClientInfo(ip: IPAddress("203.0.113.9"))

    func context() -> SMTPServerContext {
        let store = InMemoryMailStore()
        let pool = NIOThreadPool(numberOfThreads: 1)
        let logger = Logger(label: "test")
        return SMTPServerContext(
            configuration: SMTPServerConfiguration(hostname: "mx.test"), store: store, spoolDirectory: NSTemporaryDirectory(),
            connections: ConnectionTracker(limits: .init(maxConnections: 1, maxConnectionsPerIP: 1)),
            authenticator: Authenticator(store: store, threadPool: pool, throttle: AuthThrottle(), logger: logger), logger: logger)
    }

    /// `[auth] plaintext_networks`: each accepted client's session gets plaintext logins only when it is in one.
    @Test func plaintextLoginsPerClientNetwork() throws {
        var c = context()
        c.plaintextAuthNetworks = [IPNetwork("10.0.0.0/8")].compactMap { $0 }
        #expect(c.admitting(ClientInfo(ip: IPAddress("10.9.8.7"))).configuration.allowPlaintextAuth)
        #expect(!c.admitting(Self.stranger).configuration.allowPlaintextAuth)
        #expect(!c.admitting(ClientInfo(ip: nil)).configuration.allowPlaintextAuth)
        // A listener that allows it already (plaintext_auth_listen) stays open for everybody.
        c.configuration.allowPlaintextAuth = true
        #expect(c.admitting(Self.stranger).configuration.allowPlaintextAuth)
    }

}
