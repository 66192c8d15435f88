/// Everything an SMTP connection needs from the rest of the server, injected by the composition root.
import Logging
import MailAccounts
import MailCore
import MailPolicy
import MailQueue
import MailStore
import NIOCore
import NIOPosix
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
    /// Runs at end of DATA before the store (message authentication: DKIM signing, SPF/DKIM/DMARC); nil:
    /// store as received. See MessageCheck.swift.
    public var messageCheck: MessageCheck?

    /// Client networks that may log in without TLS on this listener (`[auth] plaintext_networks`);
    /// `configuration.allowPlaintextAuth` opens the whole listener.
    public var plaintextAuthNetworks: [IPNetwork] = []

    /// The relay rules in force now.
    public var currentRelayRules: RelayRules { access?.relayRules ?? relayRules }

    /// Where spool files are created, written and deleted (never on the event loop); nil: the
    /// authenticator's pool (shared with the password hashing).
    public var spoolThreadPool: NIOThreadPool?

    /// The pool spool file work runs on.
    var spoolPool: NIOThreadPool { spoolThreadPool ?? authenticator.threadPool }

    /// The context one accepted client's session runs with: plaintext logins allowed when the listener
    /// allows them or the client is in `plaintextAuthNetworks` (MailPolicy `PlaintextLogin`).
    public func admitting(_ client: ClientInfo) -> SMTPServerContext {
        guard !configuration.allowPlaintextAuth,
            PlaintextLogin.allowed(listenerAllows: false, client: client.ip, trustedNetworks: plaintextAuthNetworks)
        else {
            return self
        }
        var context = self
        context.configuration.allowPlaintextAuth = true
        return context
    }

    public init(
        configuration: SMTPServerConfiguration, store: any MailStore, relayRules: RelayRules = .closed,
        spoolDirectory: String, commandTimeout: TimeAmount = .minutes(5), dataTimeout: TimeAmount = .minutes(3),
        maxSessionBytes: Int64 = 0, connections: ConnectionTracker, authenticator: Authenticator,
        tls: TLSContextProvider? = nil, logger: Logger
    ) {
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

    /// Answers RCPT with THE recipient decision (MailPolicy `RecipientRouting`: local mailbox, relay
    /// domain, relay permission of this client, or refused) under the relay rules in force now; a local
    /// mailbox then faces its quota (MailPolicy `MailboxQuotaPolicy`, with the SIZE declared on MAIL FROM).
    public func decide(
        _ query: RecipientQuery, client: ClientInfo, isAuthenticated: Bool, declaredSize: Int? = nil
    ) async -> RecipientDecision {
        let route: RecipientRoute
        do {
            switch query {
            case .address(let address):
                let origin = RecipientOrigin.smtp(RelayContext(client: client, isAuthenticated: isAuthenticated))
                // Through the domain's account backend (a directory may say who exists) when one is set.
                if let accounts = authenticator.accounts {
                    route = try await RecipientRouting.route(
                        address, origin: origin, rules: currentRelayRules,
                        resolve: { try await accounts.resolveRecipient($0) })
                } else {
                    route = try await RecipientRouting.route(address, origin: origin, rules: currentRelayRules, directory: store)
                }
            case .barePostmaster:
                route = try await RecipientRouting.routeBarePostmaster(directory: store)
            }
        } catch {
            logger.error("recipient lookup failed", metadata: ["error": "\(error)"])
            return .temporaryFailure
        }
        switch route {
        case .local(let id):
            let status: MailboxQuotaStatus?
            do {
                status = try await store.quotaStatus(mailboxID: id, usageOnlyIfLimited: true)
            } catch {
                logger.error("quota lookup failed", metadata: ["error": "\(error)"])
                return .temporaryFailure
            }
            switch MailboxQuotaPolicy.decide(status, declaredSize: declaredSize.map(Int64.init)) {
            case .accept:
                return .localMailbox(id: id)
            case .mailboxFull:
                logger.info("smtp recipient over quota", metadata: ["rcpt": "<\(query)>"])
                return .mailboxFull
            }
        case .relay(let domain, let reason):
            logger.debug(
                "relay permitted",
                metadata: [
                    "client": "\(client.addressLiteral)", "recipient": "\(query)",
                    "because": "\(reason)"
                ])
            return .relay(domain: domain)
        case .refuse(.unknownUser):
            return .unknownUser
        case .refuse(.unknownRelayRecipient):
            return .unknownRelayRecipient
        case .refuse(.relayDenied), .refuse(.invalidDomain):
            // An invalid IDN is refused by the session (553 5.1.3) before it gets here; never relayed if it does.
            return .relayDenied
        }
    }
}

/// How the SMTP server makes and records the "delivered" report for local NOTIFY=SUCCESS recipients:
/// `make` renders and addresses it (nil: nobody can receive it); the handler then stores it in the same
/// transaction as the message and calls `stored`.
public struct SuccessReports: Sendable {
    public var make: @Sendable (_ report: DeliveryReport, _ original: [UInt8], _ originalSize: Int64) async -> IncomingMessage?
    public var stored: @Sendable (_ message: IncomingMessage, _ report: DeliveryReport) -> Void

    public init(
        make: @escaping @Sendable (DeliveryReport, [UInt8], Int64) async -> IncomingMessage?,
        stored: @escaping @Sendable (IncomingMessage, DeliveryReport) -> Void = { _, _ in }
    ) {
        self.make = make
        self.stored = stored
    }
}
