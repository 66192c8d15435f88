/// Everything an IMAP connection needs from the rest of the server, injected by the composition root: the
/// session settings, the store as an `IMAPMailboxProvider`, the login checks, TLS, connection caps.
import IMAPCore
import Logging
import MailCore
import MailPolicy
import NIOCore

public struct IMAPServerContext: Sendable {
    public var configuration: IMAPServerConfiguration
    /// Opens the mailbox access of a user who logged in, and reports changes for IDLE.
    public var provider: any IMAPMailboxProvider
    public var authenticator: Authenticator
    /// RFC 9051 §5.4: the inactivity timer is at least 30 minutes. Like POP3's, it is a deadline per
    /// command: from the moment the server waits for one, restarted once by its first byte, not by
    /// later bytes of the same command (a client trickling one byte at a time is cut). An IDLE client
    /// must re-issue IDLE within it (RFC 2177 recommends every 29 minutes).
    public var idleTimeout: TimeAmount
    public var connections: ConnectionTracker
    /// TLS for STARTTLS and the implicit-TLS listener; nil when TLS is not set up.
    public var tls: TLSContextProvider?
    public var logger: Logger
    /// Counters (connections, logins); no-op unless injected.
    public var metrics: ServerMetrics = .disabled()
    /// Client networks that may log in without TLS on this listener (`[auth] plaintext_networks`);
    /// `configuration.allowPlaintextAuth` opens the whole listener.
    public var plaintextAuthNetworks: [IPNetwork] = []

    public init(
        configuration: IMAPServerConfiguration, provider: any IMAPMailboxProvider, authenticator: Authenticator,
        idleTimeout: TimeAmount = .minutes(30), connections: ConnectionTracker, tls: TLSContextProvider? = nil,
        logger: Logger
    ) {
        self.configuration = configuration
        self.provider = provider
        self.authenticator = authenticator
        self.idleTimeout = idleTimeout
        self.connections = connections
        self.tls = tls
        self.logger = logger
    }

    /// The context one accepted client's session runs with: plaintext logins allowed when the listener
    /// allows them or the client is in `plaintextAuthNetworks` (MailPolicy `PlaintextLogin`).
    public func admitting(_ client: ClientInfo) -> IMAPServerContext {
        guard !configuration.allowPlaintextAuth,
            PlaintextLogin.allowed(listenerAllows: false, client: client.ip, trustedNetworks: plaintextAuthNetworks)
        else {
            return self
        }
        var context = self
        context.configuration.allowPlaintextAuth = true
        return context
    }

    var protocolKind: MailProtocol { configuration.implicitTLS ? .imaps : .imap }

    /// What a login check comes back with: the opened access, or why not.
    enum LoginOutcome: Sendable {
        case success(any IMAPMailboxAccess)
        case invalidCredentials
        case locked
        case temporaryFailure(String)
    }

    /// Checks the credentials and, on success, opens the user's mailbox access.
    func login(username: String, password: String) async -> LoginOutcome {
        switch await authenticator.verify(username: username, password: password) {
        case .invalidCredentials: return .invalidCredentials
        case .locked: return .locked
        case .temporaryFailure: return .temporaryFailure("account backend unavailable")
        case .success(let mailbox):
            do throws(IMAPBackendError) {
                return .success(try await provider.imapAccess(mailboxID: mailbox.id))
            } catch {
                return .temporaryFailure("cannot open the mailbox: \(error)")
            }
        }
    }
}
