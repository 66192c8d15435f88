/// `[accounts]` (which account backend each local domain uses), `[ldap]` (the directory of the `ldap`
/// backend) and `[autoconfig]` (the HTTPS listener for mail-client set-up). Read by
/// ConfigParser+Accounts.swift; documented in docs/CONFIGURATION.md, docs/ACCOUNTS.md, docs/CLIENTS.md.
import MailCore

extension PetrelConfiguration {
    public struct Accounts: Sendable, Equatable {
        /// The backend of every local domain not named in `domains`: "builtin", "system" or "ldap".
        public var defaultBackend: String = "builtin"
        /// Canonical domain → backend name.
        public var domains: [String: String] = [:]
        /// The PAM service of the `system` backend (`/etc/pam.d/<name>`).
        public var pamService: String = "petrel"
        /// Offer SASL SCRAM-SHA-256 in SMTP AUTH and POP3 AUTH (only when every domain is builtin).
        public var scram: Bool = false

        public static let backendNames = ["builtin", "system", "ldap"]

        public init() {}

        /// The backend name of a (canonical) domain.
        public func backend(forDomain domain: String) -> String {
            domains[IDNA.canonicalKey(domain) ?? domain.lowercased()] ?? defaultBackend
        }

        /// True when some domain (or the default) uses `name`.
        public func uses(_ name: String) -> Bool {
            defaultBackend == name || domains.values.contains(name)
        }
    }

    public struct LDAP: Sendable, Equatable {
        /// `ldap://host:port` / `ldaps://host:port`.
        public var uri: String = ""
        /// "starttls" (default), "ldaps" or "none" (plain; needs `allow_plaintext = true`).
        public var tls: String = "starttls"
        public var allowPlaintext: Bool = false
        public var caFile: String?
        public var bindDN: String?
        /// A file holding the service account's password (one line; trailing newline ignored).
        public var bindPasswordFile: String?
        public var base: String = ""
        /// "openldap" (filter `(mail=%s)`) or "ad" (`(|(userPrincipalName=%s)(mail=%s)(proxyAddresses=smtp:%s))`).
        public var flavor: String = "openldap"
        public var filter: String?
        public var mailAttribute: String = "mail"
        /// Seconds.
        public var timeout: Int = 5
        public var cachePositive: Int = 60
        public var cacheNegative: Int = 30

        public init() {}
    }

    public struct Autoconfig: Sendable, Equatable {
        /// Serve client set-up over HTTPS (off by default).
        public var enabled: Bool = false
        /// Where it listens (production: 443, behind the names autoconfig.<domain> and autodiscover.<domain>).
        public var listen: [Listener] = [Listener(host: "127.0.0.1", port: 8443)]
        /// The host name clients are told to connect to; nil = `[server] hostname`.
        public var mailHost: String?

        public init() {}
    }
}
