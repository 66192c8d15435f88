/// Relay-control wiring of the composition root: the shared DNS resolver from `[dns]`
/// (`MailServer.makeResolver`, also for the delivery agent's MX look-ups), the forward-confirmed reverse
/// DNS check of SMTP clients (RFC 8601 §3 iprev) with a time limit, and the live access rules
/// (`[relay]`, `[smtp] connection_*` and the data directory's lists, AccessControl.swift).
import Foundation
import Logging
import MailCore
import MailDNS
import MailPolicy
import MailServerNIO
import MailStore
import NIOPosix

extension MailServer {
    /// The resolver every DNS user of the server shares: `LibresolvResolver` asking `[dns] nameserver`
    /// (default: the first `nameserver` line of /etc/resolv.conf, else 127.0.0.1:53) with `[dns] timeout`,
    /// its blocking calls on `runner` (the server's DNS thread pool).
    public static func makeResolver(_ configuration: PetrelConfiguration, runner: any BlockingCallRunner) -> any DNSResolver {
        let (ip, port) = nameserverAddress(configuration.dns)
        return LibresolvResolver(nameserver: ip, port: port, timeout: .seconds(configuration.dns.timeout), runner: runner)
    }

    /// The server's DNS thread pool, started: its threads bound the lookups waiting at once.
    static func makeDNSPool(threads: Int = LibresolvResolver.defaultConcurrentLookups) -> NIOThreadPool {
        let pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        return pool
    }

    /// For one-shot users (the CLI): `makeResolver` on a small pool of its own, shut down when `body` ends.
    public static func withResolver<T>(
        _ configuration: PetrelConfiguration,
        _ body: (any DNSResolver) async throws -> T
    ) async throws -> T {
        let pool = makeDNSPool(threads: 8)
        do {
            let result = try await body(makeResolver(configuration, runner: pool))
            try? await pool.shutdownGracefully()
            return result
        } catch {
            try? await pool.shutdownGracefully()
            throw error
        }
    }

    /// The nameserver `makeResolver` uses.
    public static func nameserverAddress(
        _ dns: PetrelConfiguration.DNS,
        resolvConf: String = "/etc/resolv.conf"
    ) -> (IPAddress, Int) {
        if let configured = dns.nameserver, let ip = IPAddress(configured.host) {
            return (ip, configured.port)
        }
        if let text = try? String(contentsOfFile: resolvConf, encoding: .utf8), let ip = firstNameserver(inResolvConf: text) {
            return (ip, 53)
        }
        return (loopback, 53)
    }

    private static var loopback: IPAddress {
        guard let ip = IPAddress(bytes: [127, 0, 0, 1]) else { preconditionFailure("127.0.0.1 is a valid address") }
        return ip
    }

    /// The first `nameserver ADDRESS` line of a resolv.conf text (a `%zone` suffix is dropped).
    static func firstNameserver(inResolvConf text: String) -> IPAddress? {
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0] == "nameserver" else { continue }
            let address = fields[1].split(separator: "%").first.map(String.init) ?? ""
            if let ip = IPAddress(address) { return ip }
        }
        return nil
    }

    /// FCrDNS of a client, bounded by `timeout`: the verified name, or nil ("not verified") on any failure.
    static func makeClientHostVerifier(resolver: any DNSResolver, timeout: Duration, logger: Logger) -> @Sendable (IPAddress) async -> String? {
        let fcrdns = ForwardConfirmedReverseDNS(resolver: resolver)
        return { ip in
            await withTaskGroup(of: String?.self) { group in
                group.addTask {
                    let result = await fcrdns.check(ip: ip)
                    if case .tempError(let reason) = result {
                        logger.debug("client host not verified (DNS)", metadata: ["client": "\(ip)", "reason": "\(reason)"])
                    }
                    return result.verifiedName
                }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
        }
    }

    /// The configured relay and connection rules as policy values (the values were validated by the parser).
    static func configuredAccess(_ configuration: PetrelConfiguration, logger: Logger) -> (RelayRules, ConnectionRules) {
        func networks(_ key: String, _ items: [String]) -> [IPNetwork] {
            switch AccessSyntax.networks(items) {
            case .success(let list): return list
            case .failure(let error):
                logger.error("ignoring invalid networks", metadata: ["key": "\(key)", "error": "\(error)"])
                return []
            }
        }
        var recipientDomains: [RelayDomain] = []
        for text in configuration.relay.allowRecipientDomains {
            switch AccessSyntax.recipientDomain(text) {
            case .success(let domain): if !recipientDomains.contains(domain) { recipientDomains.append(domain) }
            case .failure(let error):
                logger.error("ignoring invalid relay domain", metadata: ["key": "relay.allow_recipient_domains", "error": "\(error)"])
            }
        }
        var recipients: Set<String> = []
        for text in configuration.relay.allowRecipients {
            switch AccessSyntax.recipientAddress(text) {
            case .success(let key): recipients.insert(key)
            case .failure(let error):
                logger.error("ignoring invalid relay recipient", metadata: ["key": "relay.allow_recipients", "error": "\(error)"])
            }
        }
        let relay = RelayRules(
            allowAuthenticated: configuration.relay.allowAuthenticated,
            allowedNetworks: networks("relay.allow_networks", configuration.relay.allowNetworks),
            allowedClientDomains: configuration.relay.allowClientDomains,
            recipientDomains: recipientDomains, validRecipients: recipients)
        let connections = ConnectionRules(
            allow: networks("smtp.connection_allow", configuration.smtp.connectionAllow),
            deny: networks("smtp.connection_deny", configuration.smtp.connectionDeny))
        return (relay, connections)
    }
}
