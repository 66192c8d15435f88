/// Everything an SMTP connection needs from the rest of the server, injected by the composition root.
import Logging
import MailCore
import MailPolicy
import MailQueue
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
    /// Called after a message with non-local recipients was stored (wakes the delivery agent).
    public var outboundQueued: @Sendable () -> Void = {}
    /// "Delivered" reports for local recipients that asked for NOTIFY=SUCCESS (RFC 3461 §5.2.3); nil:
    /// none are made. The composition root wires the delivery agent's `localDeliveryReport`.
    public var successReports: SuccessReports?
    /// Live relay and connection rules (config + data directory); when set, its relay rules replace
    /// `relayRules` and its screen runs at connect (AccessControl.swift).
    public var access: AccessControl?
    /// Slow-down and disconnect after refused RCPTs (unknown user, relay denied).
    public var invalidRecipients = InvalidRecipientThrottle.Settings()
    /// Wait this long before the 220 greeting; a client that sends anything earlier gets 554 5.5.0 and
    /// is closed. Zero: greet at once.
    public var greetingDelay: TimeAmount = .zero
    /// Forward-confirmed reverse DNS of a client (nil: not verified). Asked at connect, before the
    /// greeting, when the relay rules name client domains; the result becomes `ClientInfo.verifiedHostName`.
    public var verifyClientHost: (@Sendable (IPAddress) async -> String?)?

    /// The relay rules in force now.
    public var currentRelayRules: RelayRules { access?.relayRules ?? relayRules }

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

    /// Answers the anti-spoofing lookup of MAIL FROM (`.checkSenderDomain`).
    public func checkSenderDomain(_ domain: String) async -> SenderDomainCheck {
        do {
            return try await store.isLocalDomain(domain.lowercased()) ? .local : .notLocal
        } catch {
            logger.error("sender domain lookup failed", metadata: ["error": "\(error)"])
            return .temporaryFailure
        }
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
                // RFC 5321 §3.6: relay only for clients the rules allow; the sender address plays no part.
                let relayContext = RelayContext(client: client, isAuthenticated: isAuthenticated)
                guard let permission = RelayPolicy.permission(relayContext, rules: currentRelayRules),
                      case .address(let address) = query else {
                    return .relayDenied
                }
                logger.debug("relay permitted", metadata: ["client": "\(client.addressLiteral)",
                                                           "recipient": "\(address)", "because": "\(permission)"])
                // The routing domain in canonical (A-label) form; a domain that has none (bad Punycode) is
                // refused by the session before it gets here, and never relayed if it does.
                guard let domain = IDNA.canonicalKey(address.domain) else { return .relayDenied }
                return .relay(domain: domain)
            }
        } catch {
            logger.error("recipient lookup failed", metadata: ["error": "\(error)"])
            return .temporaryFailure
        }
    }
}

/// How the SMTP server makes and records the "delivered" report for local NOTIFY=SUCCESS recipients:
/// `make` renders and addresses it (nil: nobody can receive it); the handler then stores it in the same
/// transaction as the message and calls `stored`.
public struct SuccessReports: Sendable {
    public var make: @Sendable (_ report: DeliveryReport, _ original: [UInt8], _ originalSize: Int64) async -> IncomingMessage?
    public var stored: @Sendable (_ message: IncomingMessage, _ report: DeliveryReport) -> Void

    public init(make: @escaping @Sendable (DeliveryReport, [UInt8], Int64) async -> IncomingMessage?,
                stored: @escaping @Sendable (IncomingMessage, DeliveryReport) -> Void = { _, _ in }) {
        self.make = make
        self.stored = stored
    }
}
