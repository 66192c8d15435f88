/// Builds the delivery agent from `[delivery]` (Configuration+Delivery.swift): retry schedule, routes and
/// smarthost, SMTP client settings (TLS policy, timeouts, credentials), hop limit, report settings and
/// the Badmail directory.
import BadmailStore
import CoreMetrics
import Foundation
import Logging
import MailCore
import MailDNS
import MailDelivery
import MailPolicy
import MailQueue
import MailStore
import NIOCore
import SMTPCore

extension MailServer {
    /// The agent for a configuration. Throws when the retry schedule is invalid (the config parser
    /// already rejects such values).
    static func makeDeliveryAgent(
        configuration: PetrelConfiguration, store: any MailStore, resolver: any DNSResolver,
        group: any EventLoopGroup, metricsFactory: any MetricsFactory,
        relayRules: @escaping @Sendable () -> RelayRules = { .closed },
        resolveRecipient: (@Sendable (EmailAddress) async throws -> RecipientResolution)? = nil,
        logger: Logger, clock: any MailClock = WallClock()
    ) throws -> DeliveryAgent {
        let d = configuration.delivery
        let schedule = try RetrySchedule(
            intervals: d.retryIntervals.map(TimeInterval.init), expireAfter: TimeInterval(d.expire),
            delayWarningAfter: d.delayWarning > 0 ? TimeInterval(d.delayWarning) : nil)
        let routes = RouteTable(routes: d.routes, smarthost: d.smarthost, remotePort: d.remotePort)
        let timeouts = SMTPClientConfiguration.Timeouts(
            connect: .seconds(Int64(d.connectTimeout)), greeting: .seconds(Int64(d.commandTimeout)),
            command: .seconds(Int64(d.commandTimeout)), dataCommand: .seconds(Int64(d.commandTimeout)),
            bodyChunk: .seconds(Int64(d.commandTimeout)), finalDot: .seconds(Int64(d.dataTimeout)),
            quit: .seconds(Int64(min(d.commandTimeout, 30))))
        let hostname = configuration.server.hostname
        let client = SMTPClientConfiguration(heloName: hostname, tlsPolicy: policy(d.tls), timeouts: timeouts)
        var smarthostClient = SMTPClientConfiguration(
            heloName: hostname, tlsPolicy: policy(d.smarthostTLS),
            verifyCertificate: d.smarthostTLSVerify, timeouts: timeouts)
        if let user = d.smarthostUsername, let password = d.smarthostPassword {
            smarthostClient.credentials = SMTPClientCredentials(username: user, password: password)
        }
        let badmail = BadmailDirectory(
            path: d.badmailPath(dataDirectory: configuration.server.dataDirectory),
            maxBytes: d.badmailMaxBytes)
        var agentConfiguration = DeliveryAgentConfiguration(
            hostname: hostname, schedule: schedule, routes: routes, client: client, smarthostClient: smarthostClient,
            maxConnections: d.maxConnections, maxConnectionsPerDestination: d.maxConnectionsPerDomain,
            hopCount: HopCount(limit: d.hopLimit), bounceCopyTo: d.bounceCopyTo.flatMap { EmailAddress($0) },
            maxReturnedSize: d.maxReturnedSize, badmail: badmail, pollInterval: .seconds(Int64(d.pollInterval)),
            nodeID: DataDirectoryLock.nodeID(
                configured: configuration.server.nodeID, dataDirectory: configuration.server.dataDirectory,
                hostname: hostname, logger: logger),
            leaseDuration: .seconds(Int64(configuration.queue.leaseSeconds)))
        agentConfiguration.relayRules = relayRules
        agentConfiguration.resolveRecipient = resolveRecipient
        return DeliveryAgent(
            store: store, configuration: agentConfiguration, resolver: resolver, group: group,
            logger: logger, metrics: DeliveryMetrics(factory: metricsFactory), clock: clock)
    }

    private static func policy(_ tls: PetrelConfiguration.OutboundTLS) -> SMTPClientTLSPolicy {
        switch tls {
        case .none: return .none
        case .opportunistic: return .opportunistic
        case .required: return .required
        }
    }
}
