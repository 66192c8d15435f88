/// Everything the delivery agent needs to know, as plain values (the composition root builds it from
/// `[delivery]` in the configuration).
import BadmailStore
import Foundation
import MailCore
import MailPolicy
import MailQueue
import MailStore
import SMTPCore

public struct DeliveryAgentConfiguration: Sendable {
    /// This host's name: EHLO, Reporting-MTA, the MX self-check (RFC 5321 §5.1).
    public var hostname: String
    public var schedule: RetrySchedule
    public var routes: RouteTable
    /// The SMTP client for MX hosts, routes and literals.
    public var client: SMTPClientConfiguration
    /// The SMTP client for the smarthost (its own TLS policy and credentials).
    public var smarthostClient: SMTPClientConfiguration
    public var maxConnections: Int
    public var maxConnectionsPerDestination: Int
    /// Messages sent over one connection before the batch ends (others wait for the next batch).
    public var maxMessagesPerConnection: Int
    public var hopCount: HopCount
    /// Also send every failure report to this address, if set.
    public var bounceCopyTo: EmailAddress?
    /// The relay rules in force (relay domains and their valid recipients apply to reports too; a report
    /// may relay to any other domain). The composition root passes the live rules.
    public var relayRules: @Sendable () -> RelayRules = { .closed }
    /// Who exists in a local domain: the domain's account backend (MailAccounts: builtin, system, ldap),
    /// as for SMTP RCPT; nil asks the store directly. The composition root passes the account router.
    public var resolveRecipient: (@Sendable (EmailAddress) async throws -> RecipientResolution)? = nil
    /// Octets of the original returned in a report.
    public var maxReturnedSize: Int
    public var badmail: BadmailDirectory?
    /// Longest wait between queue scans (the fallback when no wake-up comes).
    public var pollInterval: Duration
    /// This node's id: the owner of the queue leases it takes (`[server] node_id`).
    public var nodeID: String
    /// How long claimed entries are leased (`[queue] lease_seconds`); renewed at a third of it.
    public var leaseDuration: Duration

    public init(
        hostname: String, schedule: RetrySchedule = .default, routes: RouteTable = RouteTable(),
        client: SMTPClientConfiguration, smarthostClient: SMTPClientConfiguration? = nil,
        maxConnections: Int = 20, maxConnectionsPerDestination: Int = 4, maxMessagesPerConnection: Int = 100,
        hopCount: HopCount = HopCount(), bounceCopyTo: EmailAddress? = nil,
        maxReturnedSize: Int = DeliveryReport.defaultReturnSizeLimit, badmail: BadmailDirectory? = nil,
        pollInterval: Duration = .seconds(10), nodeID: String = NodeID.generate(), leaseDuration: Duration = .seconds(300)
    ) {
        self.nodeID = nodeID
        self.leaseDuration = max(leaseDuration, .seconds(1))
        self.hostname = hostname
        self.schedule = schedule
        self.routes = routes
        self.client = client
        self.smarthostClient = smarthostClient ?? client
        self.maxConnections = max(1, maxConnections)
        self.maxConnectionsPerDestination = max(1, maxConnectionsPerDestination)
        self.maxMessagesPerConnection = max(1, maxMessagesPerConnection)
        self.hopCount = hopCount
        self.bounceCopyTo = bounceCopyTo
        self.maxReturnedSize = maxReturnedSize
        self.badmail = badmail
        self.pollInterval = pollInterval
    }
}
