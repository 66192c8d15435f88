import Logging
import MailCore

/// Petrel's runtime configuration as plain values, with the development defaults.
///
/// The TOML reader is in ConfigParser.swift, listener syntax in ConfigListener.swift, errors in ConfigError.swift.
/// Limits and their defaults follow RFC 5321 §4.5.3.1 (size limits: command line ≥ 512 octets, text line
/// ≥ 1000 octets, ≥ 100 recipients), RFC 5321 §4.5.3.2 (server timeouts: 5 minutes between commands,
/// 3 minutes of data) and RFC 1939 §3 (POP3 autologout timer of at least 10 minutes).
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

public struct PetrelConfiguration: Sendable, Equatable {
    // `Listener` (one address to listen on, MailCore's `HostPort`) is declared in ConfigListener.swift.

    /// `[server]`: identity and storage location.
    public struct Server: Sendable, Equatable {
        /// The name this server uses for itself (SMTP greeting, EHLO reply, Received: headers). Lower-cased.
        public var hostname: String
        /// The directory that holds the mail database.
        public var dataDirectory: String
        /// Seconds a graceful shutdown waits for open sessions before closing them.
        public var shutdownDeadline: Int
        /// This node's id (MailCore `NodeID`): the owner of its queue leases, in logs and `petrel queue
        /// list`. nil: generated at each start from the host name and random digits.
        public var nodeID: String?
        /// Event-loop threads (`[server] event_loops`, 1–256): the threads that run every connection's
        /// protocol work. nil: automatic (`eventLoopCount(cores:)`).
        public var eventLoops: Int?
        public init(hostname: String, dataDirectory: String, shutdownDeadline: Int = 30) {
            self.hostname = hostname
            self.dataDirectory = dataDirectory
            self.shutdownDeadline = shutdownDeadline
        }

        /// The event loops to run on a machine with `cores` cores: the configured number, else half the
        /// cores, at least one. The other half is left to the threads that are not event loops (the
        /// store's reads and group commits, password hashes, fsync) and to the kernel's network work: with
        /// a loop per core they contend with them, and every hand-off between them is a context switch.
        /// Measured on two cores (BENCHMARKS.md, 2026-12-06): one loop instead of two took 12–17 % off
        /// the server's CPU per SMTP message and a quarter off per POP3 RETR of 4 KiB.
        public func eventLoopCount(cores: Int) -> Int {
            eventLoops ?? max(1, cores / 2)
        }
    }

    /// `[smtp]`: the relay/MX listener (port 25 in production) and the limits shared with submission.
    public struct SMTP: Sendable, Equatable {
        public var listen: [Listener]
        /// More port-25 listeners where AUTH is offered before STARTTLS too (an internal interface).
        public var plaintextAuthListen: [Listener] = []
        /// Largest accepted message in octets (announced with EHLO SIZE, RFC 1870).
        public var maxMessageSize: Int
        /// Recipients per transaction (RFC 5321 §4.5.3.1.8 asks for at least 100).
        public var maxRecipients: Int
        public var maxMessagesPerConnection: Int
        /// Protocol errors tolerated before the connection is closed.
        public var maxErrors: Int
        /// Longest command line in octets including CRLF (RFC 5321 §4.5.3.1.4: at least 512).
        public var maxCommandLineLength: Int
        /// Longest line of message text in octets including CRLF (RFC 5321 §4.5.3.1.6: at least 1000).
        public var maxTextLineLength: Int
        /// Total octets a client may send on one connection; 0 means unlimited.
        public var maxSessionBytes: Int64
        /// Concurrent connections on all SMTP listeners together.
        public var maxConnections: Int
        /// Concurrent SMTP connections from one client IP address.
        public var maxConnectionsPerIP: Int
        /// Seconds to wait for the next command (RFC 5321 §4.5.3.2.7: 5 minutes).
        public var commandTimeout: Int
        /// Seconds to wait for the next chunk of message data (RFC 5321 §4.5.3.2.5/.6: 3 minutes).
        public var dataTimeout: Int
        /// Connection control (all SMTP listeners): when non-empty, only these networks may connect.
        /// CIDR text, normalised ("192.0.2.0/24", "2001:db8::/32"; a single address as /32 or /128).
        public var connectionAllow: [String] = []
        /// Networks that may never connect (554 5.7.1 at greeting time); wins over every allow list.
        public var connectionDeny: [String] = []
        /// New connections per client IP (IPv6: per /64) per minute on the SMTP listeners; 0 = unlimited.
        public var maxConnectionRatePerIP: Int = 0
        /// Refused recipients (unknown user, relay denied) answered at once in one session; each further
        /// one waits `invalidRecipientDelay` × (count − this), at most 10 s.
        public var invalidRecipientDelayAfter: Int = 3
        /// At this many refused recipients the session gets 421 4.7.0 and is closed; 0 = never.
        public var maxInvalidRecipients: Int = 8
        /// The delay step for refused recipients, in milliseconds.
        public var invalidRecipientDelay: Int = 1000
        /// Seconds the port-25 listener waits before the 220 greeting; data sent earlier ends the session
        /// with 554 5.5.0. 0 = greet at once (never applied to submission ports).
        public var greetingDelay: Int = 0
        /// Port 25: an unauthenticated MAIL FROM with a local domain gets 550 5.7.1.
        public var rejectUnauthenticatedLocalSender: Bool = false

        public init(
            listen: [Listener], maxMessageSize: Int, maxRecipients: Int, maxMessagesPerConnection: Int,
            maxErrors: Int, maxCommandLineLength: Int, maxTextLineLength: Int, maxSessionBytes: Int64,
            maxConnections: Int, commandTimeout: Int, dataTimeout: Int, maxConnectionsPerIP: Int = 50
        ) {
            self.listen = listen
            self.maxMessageSize = maxMessageSize
            self.maxRecipients = maxRecipients
            self.maxMessagesPerConnection = maxMessagesPerConnection
            self.maxErrors = maxErrors
            self.maxCommandLineLength = maxCommandLineLength
            self.maxTextLineLength = maxTextLineLength
            self.maxSessionBytes = maxSessionBytes
            self.maxConnections = maxConnections
            self.maxConnectionsPerIP = maxConnectionsPerIP
            self.commandTimeout = commandTimeout
            self.dataTimeout = dataTimeout
        }
    }

    /// `[submission]`: message submission for authenticated users (RFC 6409): `listen` with STARTTLS
    /// (port 587 in production), `tls_listen` with implicit TLS (RFC 8314, port 465).
    public struct Submission: Sendable, Equatable {
        public var listen: [Listener]
        public var tlsListen: [Listener]
        /// More STARTTLS submission listeners where AUTH is allowed before STARTTLS too (an internal
        /// interface for devices that cannot do TLS). AUTH is still required to send.
        public var plaintextAuthListen: [Listener] = []
        /// MAIL FROM must be the authenticated mailbox's own address.
        public var requireSenderMatch: Bool
        public init(listen: [Listener], tlsListen: [Listener] = [], requireSenderMatch: Bool = true) {
            self.listen = listen
            self.tlsListen = tlsListen
            self.requireSenderMatch = requireSenderMatch
        }
    }

    /// `[tls]`: the certificate for STARTTLS, STLS and the implicit-TLS ports. With neither path set,
    /// Petrel generates a self-signed certificate in `<data_dir>/tls/` at first start.
    public struct TLS: Sendable, Equatable {
        /// PEM certificate chain file, or nil for the generated self-signed one.
        public var certificate: String?
        /// PEM private key file (set together with `certificate`).
        public var privateKey: String?
        public init(certificate: String? = nil, privateKey: String? = nil) {
            self.certificate = certificate
            self.privateKey = privateKey
        }
    }

    /// `[auth]`: SMTP AUTH and POP3 logins.
    public struct Auth: Sendable, Equatable {
        /// Allow passwords over connections without TLS on EVERY listener (useful on loopback for testing;
        /// off by default). Narrower: `plaintext_auth_listen` per listener, `plaintextNetworks` per client.
        public var allowPlaintext: Bool
        /// Client networks (CIDR text, normalised) that may log in without TLS on any listener, like
        /// Dovecot's `login_trusted_networks`. Empty by default: TLS required everywhere.
        public var plaintextNetworks: [String] = []
        /// Failed attempts in one session before the server closes the connection.
        public var maxFailures: Int
        /// Delay before answering the first failure, in milliseconds; it doubles per further failure
        /// from the same IP or to the same account, up to `maxFailureDelay`.
        public var failureDelay: Int
        public var maxFailureDelay: Int
        /// Logins (SMTP AUTH, POP3 USER/PASS/AUTH) being checked or waiting out their failure delay at
        /// once, per client IP (IPv6: per /64) and per account; over either: 421 4.7.0 / -ERR [SYS/TEMP].
        /// 0: no bound.
        public var maxConcurrentLoginsPerIP: Int = 8
        public var maxConcurrentLoginsPerAccount: Int = 4
        public init(allowPlaintext: Bool = false, maxFailures: Int = 3, failureDelay: Int = 1000, maxFailureDelay: Int = 30000) {
            self.allowPlaintext = allowPlaintext
            self.maxFailures = maxFailures
            self.failureDelay = failureDelay
            self.maxFailureDelay = maxFailureDelay
        }
    }

    /// `[pop3]`: the POP3 listener (RFC 1939, port 110 in production).
    public struct POP3: Sendable, Equatable {
        public var listen: [Listener]
        /// Implicit-TLS POP3 listeners (POP3S, RFC 8314, port 995 in production).
        public var tlsListen: [Listener] = []
        /// More POP3 listeners where USER/PASS and AUTH work before STLS too (an internal interface).
        public var plaintextAuthListen: [Listener] = []
        /// Seconds of inactivity before the server closes the connection (RFC 1939 §3: at least 10 minutes).
        public var idleTimeout: Int
        public var maxConnections: Int
        /// Concurrent POP3 connections from one client IP address.
        public var maxConnectionsPerIP: Int
        /// Octets one connection may send (commands only; POP3 clients send little); 0 means unlimited.
        public var maxSessionBytes: Int64 = 10_485_760
        /// Seconds a POP3 maildrop lock lasts without renewal (a session renews it every third of this;
        /// a node killed while holding it blocks the mailbox at most this long; docs/SCALING.md).
        public var lockLease: Int = 60
        public init(listen: [Listener], idleTimeout: Int, maxConnections: Int, maxConnectionsPerIP: Int = 50) {
            self.listen = listen
            self.idleTimeout = idleTimeout
            self.maxConnections = maxConnections
            self.maxConnectionsPerIP = maxConnectionsPerIP
        }
    }

    /// `[imap]`: the IMAP listeners (RFC 9051; 143 with STARTTLS and 993 with implicit TLS in production). They
    /// run only when the store serves IMAP (`IMAPMailboxProvider`); `petrel serve` logs why when not.
    public struct IMAP: Sendable, Equatable {
        /// IMAP listeners with STARTTLS; LOGIN/AUTHENTICATE need TLS first (LOGINDISABLED) unless plaintext
        /// logins are allowed (`[auth] allow_plaintext`, `plaintext_networks`, or `plaintext_auth_listen`).
        public var listen: [Listener]
        /// Implicit-TLS IMAP listeners (IMAPS, RFC 8314, port 993 in production).
        public var tlsListen: [Listener] = []
        /// More IMAP listeners where logins work before STARTTLS too (an internal interface).
        public var plaintextAuthListen: [Listener] = []
        /// Seconds a client may take for one command, or stay idle, before the server says BYE
        /// (RFC 9051 §5.4: at least 30 minutes; lower values are for tests).
        public var idleTimeout: Int = 1800
        public var maxConnections: Int = 10_000
        /// Concurrent IMAP connections from one client IP address (a client opens several: IDLE on a few
        /// folders plus one to work with).
        public var maxConnectionsPerIP: Int = 50
        /// Whether COMPRESS=DEFLATE (RFC 4978) is offered after login. It costs about 310 KiB (zlib's
        /// state) only on the connections that ask for it.
        public var compress = true
        public init(listen: [Listener], tlsListen: [Listener] = []) {
            self.listen = listen
            self.tlsListen = tlsListen
        }
    }

    /// `[relay]`: who may send to non-local domains (RFC 5321 §3.6), and which foreign domains anyone may
    /// send to (relay domains, a backup MX). Closed by default except for authenticated clients. The data
    /// directory holds more entries (`petrel relay …`), merged at run time.
    public struct Relay: Sendable, Equatable {
        /// Clients that authenticated with SMTP AUTH may relay.
        public var allowAuthenticated: Bool
        /// Client networks (CIDR text, normalised) that may relay without authentication.
        public var allowNetworks: [String]
        /// Client host domains (lower case) that may relay; the client's name must be verified by
        /// forward-confirmed reverse DNS. A domain covers its subdomains.
        public var allowClientDomains: [String]
        /// Relay (recipient) domains: foreign domains ANY client may send to; the mail is queued and
        /// forwarded by route or MX. `name` is that domain only, `.name` its subdomains only. Canonical
        /// text (lower case, A-labels), e.g. `["backup.example", ".backup.example"]`.
        public var allowRecipientDomains: [String] = []
        /// Valid recipients of relay domains (`local@domain`, local part lower-cased, domain canonical): a
        /// relay domain with any address here accepts only those addresses.
        public var allowRecipients: [String] = []
        public init(allowAuthenticated: Bool = true, allowNetworks: [String] = [], allowClientDomains: [String] = []) {
            self.allowAuthenticated = allowAuthenticated
            self.allowNetworks = allowNetworks
            self.allowClientDomains = allowClientDomains
        }
    }

    /// `[dns]`: the one recursive nameserver Petrel asks (client verification, MX look-ups).
    public struct DNS: Sendable, Equatable {
        /// IP address and port; nil = the first `nameserver` of /etc/resolv.conf, else 127.0.0.1:53.
        public var nameserver: Listener?
        /// Seconds a question may take before it counts as a temporary failure.
        public var timeout: Int
        public init(nameserver: Listener? = nil, timeout: Int = 5) {
            self.nameserver = nameserver
            self.timeout = timeout
        }
    }

    /// `[log]`: what is logged and how it is written to standard error.
    public struct Log: Sendable, Equatable {
        /// `text`: one `key=value` line per event; `json`: one JSON object per line.
        public enum Format: String, Sendable, CaseIterable {
            case text, json
        }
        public var level: Logger.Level
        public var format: Format
        public init(level: Logger.Level, format: Format) {
            self.level = level
            self.format = format
        }
    }

    /// `[admin]`: the loopback HTTP endpoint for `/metrics` (Prometheus) and `/status` (JSON, `petrel status`).
    public struct Admin: Sendable, Equatable {
        /// Where the admin endpoint listens (loopback only: it has no authentication); nil disables it.
        public var listen: Listener?
        public init(listen: Listener? = Listener(host: "127.0.0.1", port: 2026)) {
            self.listen = listen
        }
    }

    public var server: Server
    public var smtp: SMTP
    public var submission: Submission
    public var pop3: POP3
    /// `[imap]`: development defaults until `developmentDefaults` or the file says otherwise.
    public var imap = IMAP(
        listen: [Listener(host: "127.0.0.1", port: 2143)], tlsListen: [Listener(host: "127.0.0.1", port: 2993)])
    public var log: Log
    public var tls: TLS
    public var auth: Auth
    public var admin: Admin
    /// `[delivery]`: see Configuration+Delivery.swift.
    public var delivery = Delivery()
    /// `[relay]` and `[dns]`: relay control (ConfigAccess.swift).
    public var relay = Relay()
    public var dns = DNS()
    /// `[authentication]`: ConfigAuthentication.swift.
    public var authentication = Authentication()
    /// `[accounts]`, `[ldap]` and `[autoconfig]`: see Configuration+Accounts.swift.
    public var accounts = Accounts()
    public var ldap: LDAP?
    public var autoconfig = Autoconfig()
    /// `[store]`: SQLite or PostgreSQL (Configuration+Store.swift).
    public var store = Store()
    /// `[queue]`: leases on queue work (Configuration+Delivery.swift).
    public var queue = Queue()

    public init(
        server: Server, smtp: SMTP, submission: Submission, pop3: POP3, log: Log, tls: TLS = TLS(), auth: Auth = Auth(),
        admin: Admin = Admin()
    ) {
        self.server = server
        self.smtp = smtp
        self.submission = submission
        self.pop3 = pop3
        self.log = log
        self.tls = tls
        self.auth = auth
        self.admin = admin
    }

    /// Defaults for development: unprivileged ports on 127.0.0.1, data in ./petrel-data,
    /// hostname from the system (gethostname) or "localhost".
    public static func developmentDefaults() -> PetrelConfiguration {
        developmentDefaults(hostname: systemHostname() ?? "localhost")
    }

    /// The development defaults with a fixed host name (deterministic, for tests).
    public static func developmentDefaults(hostname: String) -> PetrelConfiguration {
        PetrelConfiguration(
            server: Server(hostname: hostname, dataDirectory: "./petrel-data", shutdownDeadline: 30),
            smtp: SMTP(
                listen: [Listener(host: "127.0.0.1", port: 2525)],
                maxMessageSize: 52_428_800,
                maxRecipients: 100,
                maxMessagesPerConnection: 100,
                maxErrors: 10,
                maxCommandLineLength: 512,
                maxTextLineLength: 1000,
                maxSessionBytes: 1_073_741_824,
                maxConnections: 10_000,
                commandTimeout: 300,
                dataTimeout: 180,
                maxConnectionsPerIP: 50
            ),
            submission: Submission(
                listen: [Listener(host: "127.0.0.1", port: 2587)],
                tlsListen: [Listener(host: "127.0.0.1", port: 2465)]),
            pop3: {
                var pop3 = POP3(
                    listen: [Listener(host: "127.0.0.1", port: 2110)], idleTimeout: 600, maxConnections: 10_000,
                    maxConnectionsPerIP: 50)
                pop3.tlsListen = [Listener(host: "127.0.0.1", port: 2995)]
                return pop3
            }(),
            log: Log(level: .info, format: .text),
            tls: TLS(),
            auth: Auth(),
            admin: Admin(listen: Listener(host: "127.0.0.1", port: 2026))
        )
    }

    /// The machine's host name if it is a valid domain name (lower-cased), else nil.
    static func systemHostname() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        guard let name = String(validating: bytes, as: UTF8.self) else { return nil }
        return MailboxSyntax.normalizeDomain(name)
    }
}
