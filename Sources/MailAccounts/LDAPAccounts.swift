/// The `ldap` backend: users live in an LDAPv3 directory (OpenLDAP, Active Directory).
///
/// A login: the service account searches `base` with the filter for the login name (an address, or an
/// AD userPrincipalName); exactly one entry must match; the password is checked by binding as that
/// entry's DN (never by reading a hash). A recipient: the same search, its answer cached for a short
/// time (found / not found, never a failure). The mailbox is the entry's `mail` attribute when it is in
/// a local domain (aliases such as AD `proxyAddresses` deliver there), else the address itself; it is
/// created in the store at the first mail or login. `postmaster@` keeps the store's rules.
///
/// A directory that cannot be reached is a temporary failure (AUTH 454 4.7.0, RCPT 451 4.3.0,
/// POP3 -ERR [SYS/TEMP]) with an error in the log, never "no such user".
import Foundation
import Logging
import MailCore
import MailStore
import NIOCore
import NIOPosix
import Synchronization

public final class LDAPAccounts: AccountBackend {
    public var kind: AccountBackendKind { .ldap }
    let store: any MailStore
    let threadPool: NIOThreadPool
    let pool: LDAPConnectionPool
    let settings: LDAPSettings
    let logger: Logger
    /// True for the (canonical) domains this backend serves: a directory's `mail` value in a domain of
    /// another backend never names the mailbox (it would open a builtin or system mailbox with the
    /// directory's password).
    let servesDomain: @Sendable (String) -> Bool
    let cache = Mutex<[String: CacheEntry]>([:])
    /// The RCPT cache's expiry times (the server's `MailClock`).
    let clock: any MailClock
    /// Cached answers kept at most (oldest dropped first when full).
    static let maxCacheEntries = 10_000

    struct CacheEntry {
        var found: String? // the mailbox key, nil = no such user
        var expires: Date
    }

    public init(
        settings: LDAPSettings, store: any MailStore, threadPool: NIOThreadPool, logger: Logger,
        servesDomain: @escaping @Sendable (String) -> Bool = { _ in true }, clock: any MailClock = WallClock()
    ) {
        self.servesDomain = servesDomain
        self.clock = clock
        self.settings = settings
        self.store = store
        self.threadPool = threadPool
        self.pool = LDAPConnectionPool(settings: settings)
        self.logger = logger
    }

    /// What a directory search for one name found.
    public enum Lookup: Sendable, Equatable {
        case user(dn: String, mailbox: String)
        case noSuchUser
        /// More than one entry matched: refused (never guess which user is meant).
        case ambiguous
    }

    var attributes: [String] { [settings.mailAttribute] }

    /// Searches for a login name or address (blocking; on the thread pool).
    func lookup(_ name: String) async throws -> Lookup {
        let filter = ldapFilter(settings.effectiveFilter, name: name)
        let pool = self.pool
        let attributes = self.attributes
        let entries: [LDAPEntry]
        do {
            entries = try await threadPool.runIfActive { () throws -> [LDAPEntry] in
                try pool.search(filter: filter, attributes: attributes, limit: 2)
            }
        } catch let error as LDAPError {
            logger.error(
                "LDAP directory unavailable: answering with a temporary failure",
                metadata: ["uri": "\(settings.uri)", "error": "\(error)"])
            throw AccountBackendUnavailable("directory unavailable: \(error)")
        }
        switch entries.count {
        case 0: return .noSuchUser
        case 1:
            let entry = entries[0]
            return .user(dn: entry.dn, mailbox: try await mailboxKey(for: entry, name: name))
        default:
            logger.warning("LDAP filter matched more than one entry; refused", metadata: ["filter": "\(filter)"])
            return .ambiguous
        }
    }

    /// The mailbox of an entry: its first `mail` value in a local domain this backend serves, else the
    /// name looked up.
    func mailboxKey(for entry: LDAPEntry, name: String) async throws -> String {
        for value in entry.attributes[settings.mailAttribute] ?? [] {
            if let address = EmailAddress(value), !address.isAddressLiteral, let domain = IDNA.canonicalKey(address.domain),
                servesDomain(domain), try await store.isLocalDomain(domain)
            {
                return address.lookupKey
            }
        }
        return EmailAddress(name)?.lookupKey ?? name.lowercased()
    }

    public func verify(_ address: EmailAddress, password: String) async -> LoginVerdict {
        let found: Lookup
        do {
            found = try await lookup(address.description)
        } catch {
            return .temporaryFailure
        }
        guard case .user(let dn, let key) = found, let mailboxAddress = EmailAddress(key) else { return .invalidCredentials }
        let pool = self.pool
        let accepted: Bool
        do {
            accepted = try await threadPool.runIfActive { () throws -> Bool in
                try pool.checkPassword(dn: dn, password: password)
            }
        } catch {
            logger.error(
                "LDAP directory unavailable during a password check: answering with a temporary failure",
                metadata: ["uri": "\(settings.uri)", "error": "\(error)"])
            return .temporaryFailure
        }
        guard accepted else { return .invalidCredentials }
        do {
            guard try await store.isLocalDomain(IDNA.canonicalKey(mailboxAddress.domain) ?? mailboxAddress.domain) else {
                logger.warning("LDAP user's mailbox is not in a local domain", metadata: ["dn": "\(dn)", "mailbox": "\(key)"])
                return .invalidCredentials
            }
            let mailbox = try await store.provisionMailbox(mailboxAddress)
            return mailbox.isLocked ? .locked : .success(mailbox)
        } catch {
            logger.error("mailbox lookup failed", metadata: ["error": "\(error)"])
            return .temporaryFailure
        }
    }

    public func resolveRecipient(_ address: EmailAddress) async throws -> RecipientResolution {
        guard let domain = IDNA.canonicalKey(address.domain), try await store.isLocalDomain(domain) else { return .notLocal }
        if isPostmaster(address) { return try await store.resolveRecipient(address) }
        let key = address.lookupKey
        let now = clock.now
        let cached: CacheEntry? = cache.withLock { entries in
            guard let entry = entries[key] else { return nil }
            if entry.expires <= now { entries[key] = nil; return nil }
            return entry
        }
        let mailboxKey: String?
        if let cached {
            mailboxKey = cached.found
        } else {
            switch try await lookup(address.description) {
            case .user(_, let mailbox): mailboxKey = mailbox
            case .noSuchUser, .ambiguous: mailboxKey = nil
            }
            let ttl = mailboxKey == nil ? settings.negativeCacheSeconds : settings.positiveCacheSeconds
            if ttl > 0 {
                cache.withLock { entries in
                    if entries.count >= Self.maxCacheEntries {
                        // Drop the expired ones; if none, drop everything (simple and bounded).
                        entries = entries.filter { $0.value.expires > now }
                        if entries.count >= Self.maxCacheEntries { entries.removeAll() }
                    }
                    entries[key] = CacheEntry(found: mailboxKey, expires: now.addingTimeInterval(TimeInterval(ttl)))
                }
            }
        }
        guard let mailboxKey, let mailboxAddress = EmailAddress(mailboxKey) else { return .unknownUser }
        let mailbox = try await store.provisionMailbox(mailboxAddress)
        return .mailbox(id: mailbox.id, address: mailbox.address)
    }
}
