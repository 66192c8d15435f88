/// What a SIGHUP reload can apply to a running server and what needs a restart.
///
/// Applied live: `log.level` (every logger follows `LogLevelControl.shared`), `server.shutdown_deadline`
/// (read when the stop begins) and the TLS certificate and key *contents* (re-read from the same paths).
/// The data directory's relay and connection lists (`petrel relay`, `petrel access`) are not configuration:
/// the server re-reads them every 2 s by itself.
/// Everything else — listen addresses, `data_dir`, `hostname`, limits, timeouts, auth settings, the TLS file
/// paths, `log.format`, `[admin]` — is baked into the listeners and sessions at start: a change is reported
/// in the log as "<key> changed; restart to apply" and the running value stays.
import Logging

public struct ConfigReloadPlan: Sendable, Equatable {
    /// Dotted keys whose new value is now in effect.
    public var applied: [String]
    /// Dotted keys whose new value waits for a restart.
    public var needsRestart: [String]

    /// Compares the running configuration with the one just read.
    public static func compare(running old: PetrelConfiguration, new: PetrelConfiguration) -> ConfigReloadPlan {
        var applied: [String] = []
        var restart: [String] = []
        if old.log.level != new.log.level { applied.append("log.level") }
        if old.server.shutdownDeadline != new.server.shutdownDeadline { applied.append("server.shutdown_deadline") }
        for (key, value) in restartKeys where value(old) != value(new) { restart.append(key) }
        return ConfigReloadPlan(applied: applied, needsRestart: restart)
    }

    /// Keys that only take effect at start, with a comparable rendering of their value.
    static let restartKeys: [(String, @Sendable (PetrelConfiguration) -> String)] = mailRestartKeys + accountRestartKeys

    static let mailRestartKeys: [(String, @Sendable (PetrelConfiguration) -> String)] = [
        ("server.hostname", { $0.server.hostname }),
        ("server.data_dir", { $0.server.dataDirectory }),
        ("server.node_id", { $0.server.nodeID ?? "" }),
        ("server.event_loops", { $0.server.eventLoops.map(String.init) ?? "automatic" }),
        ("queue.lease_seconds", { "\($0.queue.leaseSeconds)" }),
        ("smtp.listen", { "\($0.smtp.listen)" }),
        ("smtp.max_message_size", { "\($0.smtp.maxMessageSize)" }),
        ("smtp.max_recipients", { "\($0.smtp.maxRecipients)" }),
        ("smtp.max_messages_per_connection", { "\($0.smtp.maxMessagesPerConnection)" }),
        ("smtp.max_errors", { "\($0.smtp.maxErrors)" }),
        ("smtp.max_command_line_length", { "\($0.smtp.maxCommandLineLength)" }),
        ("smtp.max_text_line_length", { "\($0.smtp.maxTextLineLength)" }),
        ("smtp.max_session_bytes", { "\($0.smtp.maxSessionBytes)" }),
        ("smtp.max_connections", { "\($0.smtp.maxConnections)" }),
        ("smtp.max_connections_per_ip", { "\($0.smtp.maxConnectionsPerIP)" }),
        ("smtp.command_timeout", { "\($0.smtp.commandTimeout)" }),
        ("smtp.data_timeout", { "\($0.smtp.dataTimeout)" }),
        ("smtp.connection_allow", { "\($0.smtp.connectionAllow)" }),
        ("smtp.connection_deny", { "\($0.smtp.connectionDeny)" }),
        ("smtp.max_connection_rate_per_ip", { "\($0.smtp.maxConnectionRatePerIP)" }),
        ("smtp.invalid_recipient_delay_after", { "\($0.smtp.invalidRecipientDelayAfter)" }),
        ("smtp.max_invalid_recipients", { "\($0.smtp.maxInvalidRecipients)" }),
        ("smtp.invalid_recipient_delay", { "\($0.smtp.invalidRecipientDelay)" }),
        ("smtp.greeting_delay", { "\($0.smtp.greetingDelay)" }),
        ("smtp.reject_unauthenticated_local_sender", { "\($0.smtp.rejectUnauthenticatedLocalSender)" }),
        ("relay.allow_authenticated", { "\($0.relay.allowAuthenticated)" }),
        ("relay.allow_networks", { "\($0.relay.allowNetworks)" }),
        ("relay.allow_client_domains", { "\($0.relay.allowClientDomains)" }),
        ("relay.allow_recipient_domains", { "\($0.relay.allowRecipientDomains)" }),
        ("relay.allow_recipients", { "\($0.relay.allowRecipients)" }),
        ("dns.nameserver", { $0.dns.nameserver.map { "\($0)" } ?? "" }),
        ("dns.timeout", { "\($0.dns.timeout)" }),
        ("submission.listen", { "\($0.submission.listen)" }),
        ("submission.tls_listen", { "\($0.submission.tlsListen)" }),
        ("submission.require_sender_match", { "\($0.submission.requireSenderMatch)" }),
        ("pop3.listen", { "\($0.pop3.listen)" }),
        ("pop3.tls_listen", { "\($0.pop3.tlsListen)" }),
        ("pop3.idle_timeout", { "\($0.pop3.idleTimeout)" }),
        ("pop3.max_connections", { "\($0.pop3.maxConnections)" }),
        ("pop3.max_connections_per_ip", { "\($0.pop3.maxConnectionsPerIP)" }),
        ("pop3.max_session_bytes", { "\($0.pop3.maxSessionBytes)" }),
        ("pop3.lock_lease", { "\($0.pop3.lockLease)" }),
        ("imap.listen", { "\($0.imap.listen)" }),
        ("imap.tls_listen", { "\($0.imap.tlsListen)" }),
        ("imap.plaintext_auth_listen", { "\($0.imap.plaintextAuthListen)" }),
        ("imap.idle_timeout", { "\($0.imap.idleTimeout)" }),
        ("imap.max_connections", { "\($0.imap.maxConnections)" }),
        ("imap.max_connections_per_ip", { "\($0.imap.maxConnectionsPerIP)" }),
        ("imap.compress", { "\($0.imap.compress)" }),
        ("tls.certificate", { $0.tls.certificate ?? "" }),
        ("tls.private_key", { $0.tls.privateKey ?? "" }),
        ("auth.allow_plaintext", { "\($0.auth.allowPlaintext)" }),
        ("auth.plaintext_networks", { "\($0.auth.plaintextNetworks)" }),
        ("smtp.plaintext_auth_listen", { "\($0.smtp.plaintextAuthListen)" }),
        ("submission.plaintext_auth_listen", { "\($0.submission.plaintextAuthListen)" }),
        ("pop3.plaintext_auth_listen", { "\($0.pop3.plaintextAuthListen)" }),
        ("auth.max_failures", { "\($0.auth.maxFailures)" }),
        ("auth.failure_delay", { "\($0.auth.failureDelay)" }),
        ("auth.max_failure_delay", { "\($0.auth.maxFailureDelay)" }),
        ("auth.max_concurrent_logins_per_ip", { "\($0.auth.maxConcurrentLoginsPerIP)" }),
        ("auth.max_concurrent_logins_per_account", { "\($0.auth.maxConcurrentLoginsPerAccount)" }),
        ("log.format", { $0.log.format.rawValue }),
        ("admin.listen", { $0.admin.listen.map { "\($0)" } ?? "" }),
        ("delivery.retry_intervals", { "\($0.delivery.retryIntervals)" }),
        ("delivery.expire", { "\($0.delivery.expire)" }),
        ("delivery.delay_warning", { "\($0.delivery.delayWarning)" }),
        ("delivery.max_connections", { "\($0.delivery.maxConnections)" }),
        ("delivery.max_connections_per_domain", { "\($0.delivery.maxConnectionsPerDomain)" }),
        ("delivery.remote_port", { "\($0.delivery.remotePort)" }),
        ("delivery.tls", { $0.delivery.tls.rawValue }),
        ("delivery.hop_limit", { "\($0.delivery.hopLimit)" }),
        ("delivery.bounce_copy_to", { $0.delivery.bounceCopyTo ?? "" }),
        ("delivery.max_returned_size", { "\($0.delivery.maxReturnedSize)" }),
        ("delivery.badmail_dir", { $0.delivery.badmailDirectory ?? "" }),
        ("delivery.badmail_max_size", { "\($0.delivery.badmailMaxBytes)" }),
        ("delivery.poll_interval", { "\($0.delivery.pollInterval)" }),
        ("delivery.connect_timeout", { "\($0.delivery.connectTimeout)" }),
        ("delivery.command_timeout", { "\($0.delivery.commandTimeout)" }),
        ("delivery.data_timeout", { "\($0.delivery.dataTimeout)" }),
        ("delivery.smarthost", { $0.delivery.smarthost.map { "\($0.host):\($0.port)" } ?? "" }),
        ("delivery.smarthost_username", { $0.delivery.smarthostUsername ?? "" }),
        ("delivery.smarthost_password", { $0.delivery.smarthostPassword ?? "" }),
        ("delivery.smarthost_tls", { $0.delivery.smarthostTLS.rawValue }),
        ("delivery.smarthost_tls_verify", { "\($0.delivery.smarthostTLSVerify)" }),
        ("delivery.pickup_dir", { $0.delivery.pickupDirectory ?? "" }),
        ("authentication.sign_outbound", { "\($0.authentication.signOutbound)" }),
        ("authentication.check_inbound", { "\($0.authentication.checkInbound)" }),
        ("authentication.dmarc_reject", { "\($0.authentication.dmarcReject)" }),
        ("authentication.authserv_id", { $0.authentication.authservID }),
        ("authentication.no_reject_domains", { "\($0.authentication.noRejectDomains)" }),
        ("authentication.unchecked_domains", { "\($0.authentication.uncheckedDomains)" }),
        ("authentication.unsigned_domains", { "\($0.authentication.unsignedDomains)" }),
        ("authentication.spf_timeout", { "\($0.authentication.spfTimeout)" }),
        (
            "delivery.routes",
            { $0.delivery.routes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.host):\($0.value.port)" }.joined(separator: ",") }
        )
    ]

    /// `[accounts]`, `[ldap]`, `[autoconfig]`: the backends and the set-up listener are built at start.
    static let accountRestartKeys: [(String, @Sendable (PetrelConfiguration) -> String)] = [
        ("accounts.default", { $0.accounts.defaultBackend }),
        (
            "accounts.domains",
            { config in
                let pairs: [String] = config.accounts.domains.keys.sorted().map { key in "\(key)=\(config.accounts.domains[key] ?? "")" }
                return pairs.joined(separator: ",")
            }
        ),
        ("accounts.pam_service", { $0.accounts.pamService }),
        ("accounts.scram", { "\($0.accounts.scram)" }),
        ("ldap.uri", { $0.ldap?.uri ?? "" }),
        ("ldap.tls", { $0.ldap?.tls ?? "" }),
        ("ldap.allow_plaintext", { "\($0.ldap?.allowPlaintext ?? false)" }),
        ("ldap.ca_file", { $0.ldap?.caFile ?? "" }),
        ("ldap.bind_dn", { $0.ldap?.bindDN ?? "" }),
        ("ldap.bind_password_file", { $0.ldap?.bindPasswordFile ?? "" }),
        ("ldap.base", { $0.ldap?.base ?? "" }),
        ("ldap.flavor", { $0.ldap?.flavor ?? "" }),
        ("ldap.filter", { $0.ldap?.filter ?? "" }),
        ("ldap.mail_attribute", { $0.ldap?.mailAttribute ?? "" }),
        ("ldap.timeout", { "\($0.ldap?.timeout ?? 0)" }),
        ("ldap.cache_positive", { "\($0.ldap?.cachePositive ?? 0)" }),
        ("ldap.cache_negative", { "\($0.ldap?.cacheNegative ?? 0)" }),
        ("autoconfig.enabled", { "\($0.autoconfig.enabled)" }),
        ("autoconfig.listen", { config in config.autoconfig.listen.map { listener in "\(listener)" }.joined(separator: ",") }),
        ("autoconfig.mail_host", { $0.autoconfig.mailHost ?? "" }),
        // [store]: the store is opened once, at start.
        ("store.backend", { $0.store.backend.rawValue }),
        ("store.host", { $0.store.host }),
        ("store.port", { "\($0.store.port)" }),
        ("store.database", { $0.store.database }),
        ("store.user", { $0.store.user }),
        ("store.password_file", { $0.store.passwordFile ?? "" }),
        ("store.tls", { $0.store.tls.rawValue }),
        ("store.ca_file", { $0.store.caFile ?? "" }),
        ("store.pool_size", { "\($0.store.poolSize)" }),
        ("store.sqlite_mmap_mib", { "\($0.store.sqliteMmapMiB)" }),
        ("store.recipient_cache", { "\($0.store.recipientCache)" })
    ]

    /// Logs the outcome: one notice per applied key, one warning per key that needs a restart.
    public func log(to logger: Logger) {
        for key in applied { logger.notice("\(key) changed; applied") }
        for key in needsRestart { logger.warning("\(key) changed; restart to apply", metadata: ["key": "\(key)"]) }
        if applied.isEmpty && needsRestart.isEmpty { logger.info("configuration reloaded; no setting changed") }
    }
}
