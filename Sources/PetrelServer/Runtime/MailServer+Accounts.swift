/// Builds the account backends of `[accounts]` / `[ldap]` (docs/ACCOUNTS.md).
import Foundation
import Logging
import MailAccounts
import MailCore
import MailStore
import NIOPosix
import PetrelConfig
import Synchronization

extension MailServer {
    /// Threads for directory and PAM calls: they wait on the network (up to `ldap.timeout` each), so they
    /// get their own pool and a directory that hangs never holds up the scrypt logins of builtin domains.
    static let directoryThreads = 8

    /// The router of every local domain's backend; throws `ServerStartError` for settings that cannot
    /// work (an unreadable password file). The directory pool, when one was started, is handed to
    /// `accountsRuntime` by the caller, which shuts it down with the server.
    static func makeAccountRouter(
        _ configuration: PetrelConfiguration, store: any MailStore,
        threadPool: NIOThreadPool, clock: any MailClock = WallClock()
    ) throws -> (AccountRouter, NIOThreadPool?) {
        let logger = Logger(label: "petrel.accounts")
        let accounts = configuration.accounts
        let builtin = BuiltinAccounts(store: store, threadPool: threadPool, logger: logger)
        var backends: [String: any AccountBackend] = ["builtin": builtin]
        let directorySettings = accounts.uses("ldap") ? try configuration.ldap.map(ldapSettings) : nil
        var directoryPool: NIOThreadPool?
        if accounts.uses("system") || accounts.uses("ldap") {
            let pool = NIOThreadPool(numberOfThreads: directoryThreads)
            pool.start()
            directoryPool = pool
        }
        if accounts.uses("system"), let pool = directoryPool {
            backends["system"] = SystemAccounts(store: store, threadPool: pool, service: accounts.pamService, logger: logger)
        }
        if accounts.uses("ldap"), let pool = directoryPool {
            guard let directorySettings else {
                try? pool.syncShutdownGracefully()
                throw ServerStartError(message: "[accounts] uses ldap but [ldap] is missing")
            }
            backends["ldap"] = LDAPAccounts(
                settings: directorySettings, store: store, threadPool: pool, logger: logger,
                servesDomain: { accounts.backend(forDomain: $0) == "ldap" }, clock: clock)
        }
        func backend(_ name: String) -> any AccountBackend { backends[name] ?? builtin }
        var perDomain: [String: any AccountBackend] = [:]
        for (domain, name) in accounts.domains { perDomain[domain] = backend(name) }
        return (
            AccountRouter(builtin: builtin, defaultBackend: backend(accounts.defaultBackend), domainBackends: perDomain),
            directoryPool
        )
    }

    static func ldapSettings(_ ldap: PetrelConfiguration.LDAP) throws -> LDAPSettings {
        var settings = LDAPSettings(uri: ldap.uri, base: ldap.base)
        settings.transport = LDAPTransport(rawValue: ldap.tls) ?? .starttls
        settings.caFile = ldap.caFile
        settings.bindDN = ldap.bindDN
        if let file = ldap.bindPasswordFile {
            settings.bindPassword = try SecretFile.read(file, key: "[ldap] bind_password_file")
        }
        settings.flavor = LDAPSettings.Flavor(rawValue: ldap.flavor) ?? .openldap
        settings.filter = ldap.filter
        settings.mailAttribute = ldap.mailAttribute
        settings.timeoutMilliseconds = ldap.timeout * 1000
        settings.positiveCacheSeconds = ldap.cachePositive
        settings.negativeCacheSeconds = ldap.cacheNegative
        return settings
    }
}

/// What the account backends own at run time: the directory/PAM thread pool, shut down with the server.
public final class AccountsRuntime: Sendable {
    private let pools = Mutex<[NIOThreadPool]>([])

    public init() {}

    func adopt(_ pool: NIOThreadPool?) {
        guard let pool else { return }
        pools.withLock { $0.append(pool) }
    }

    func shutdown() async {
        let owned = pools.withLock { list -> [NIOThreadPool] in
            defer { list.removeAll() }
            return list
        }
        for pool in owned { try? await pool.shutdownGracefully() }
    }
}
