/// Everything an SMTP connection needs from the rest of the server, injected by the composition root.
import Logging
import MailCore
import MailPolicy
import MailStore
import NIOCore
import SMTPCore

public struct SMTPServerContext: Sendable {
    public var configuration: SMTPServerConfiguration
    public var store: any MailStore
    public var relayRules: RelayRules
    /// Directory for bodies too large to keep in memory while they arrive.
    public var spoolDirectory: String
    /// Idle time allowed while waiting for a command (RFC 5321 §4.5.3.2.7: 5 minutes).
    public var commandTimeout: TimeAmount
    /// Idle time allowed between DATA/BDAT reads (RFC 5321 §4.5.3.2.5/6: 3 minutes).
    public var dataTimeout: TimeAmount
    /// Octets a client may send in one session (0 = unlimited).
    public var maxSessionBytes: Int64
    public var connections: ConnectionTracker
    /// Checks SMTP AUTH credentials.
    public var authenticator: Authenticator
    /// TLS for STARTTLS and the implicit-TLS listener; nil when TLS is not set up.
    public var tls: TLSContextProvider?
    public var logger: Logger
    /// Counters (connections, transactions, bytes, auth failures, store latency); no-op unless injected.
    public var metrics: ServerMetrics = .disabled()

    public init(configuration: SMTPServerConfiguration, store: any MailStore, relayRules: RelayRules = .closed,
                spoolDirectory: String, commandTimeout: TimeAmount = .minutes(5), dataTimeout: TimeAmount = .minutes(3),
                maxSessionBytes: Int64 = 0, connections: ConnectionTracker, authenticator: Authenticator,
                tls: TLSContextProvider? = nil, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.relayRules = relayRules
        self.spoolDirectory = spoolDirectory
        self.commandTimeout = commandTimeout
        self.dataTimeout = dataTimeout
        self.maxSessionBytes = maxSessionBytes
        self.connections = connections
        self.authenticator = authenticator
        self.tls = tls
        self.logger = logger
    }

    /// Answers RCPT: local mailbox, unknown local user, or (for other domains) the relay rules.
    public func decide(_ query: RecipientQuery, client: ClientInfo, isAuthenticated: Bool) async -> RecipientDecision {
        do {
            let resolution: RecipientResolution
            switch query {
            case .address(let address): resolution = try await store.resolveRecipient(address)
            case .barePostmaster: resolution = try await store.resolveBarePostmaster()
            }
            switch resolution {
            case .mailbox(let id, _): return .localMailbox(id: id)
            case .unknownUser: return .unknownUser
            case .notLocal:
                // Relaying needs the outbound queue, which is not built yet: every non-local recipient is
                // refused, so no mail is accepted that could not be sent. (RelayPolicy decides once it exists.)
                return .relayDenied
            }
        } catch {
            logger.error("recipient lookup failed", metadata: ["error": "\(error)"])
            return .temporaryFailure
        }
    }
}
