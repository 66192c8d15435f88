/// Builds the account backends of `[accounts]` / `[ldap]` (docs/ACCOUNTS.md).
import Foundation
import Logging
import MailAccounts
import MailStore
import NIOPosix
import PetrelConfig

extension MailServer {
    /// The router of every local domain's backend; throws `ServerStartError` for settings that cannot
    /// work (an unreadable password file).
    static func makeAccountRouter(_ configuration: PetrelConfiguration, store: any MailStore,
                                  threadPool: NIOThreadPool) throws -> AccountRouter {
        let logger = Logger(label: "petrel.accounts")
        let accounts = configuration.accounts
        let builtin = BuiltinAccounts(store: store, threadPool: threadPool, logger: logger)
        var backends: [String: any AccountBackend] = ["builtin": builtin]
        if accounts.uses("system") {
            backends["system"] = SystemAccounts(store: store, threadPool: threadPool, service: accounts.pamService, logger: logger)
        }
        if accounts.uses("ldap") {
            guard let ldap = configuration.ldap else { throw ServerStartError(message: "[accounts] uses ldap but [ldap] is missing") }
            backends["ldap"] = LDAPAccounts(settings: try ldapSettings(ldap), store: store, threadPool: threadPool, logger: logger,
                                            servesDomain: { accounts.backend(forDomain: $0) == "ldap" })
        }
        func backend(_ name: String) -> any AccountBackend { backends[name] ?? builtin }
        var perDomain: [String: any AccountBackend] = [:]
        for (domain, name) in accounts.domains { perDomain[domain] = backend(name) }
        return AccountRouter(builtin: builtin, defaultBackend: backend(accounts.defaultBackend), domainBackends: perDomain)
    }

    static func ldapSettings(_ ldap: PetrelConfiguration.LDAP) throws -> LDAPSettings {
        var settings = LDAPSettings(uri: ldap.uri, base: ldap.base)
        settings.transport = LDAPTransport(rawValue: ldap.tls) ?? .starttls
        settings.caFile = ldap.caFile
        settings.bindDN = ldap.bindDN
        if let file = ldap.bindPasswordFile {
            guard let data = FileManager.default.contents(atPath: file), data.count <= 4096,
                  var text = String(data: data, encoding: .utf8) else {
                throw ServerStartError(message: "[ldap] bind_password_file \(file) cannot be read (or is over 4 KiB, or not UTF-8)")
            }
            while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
            guard !text.isEmpty else { throw ServerStartError(message: "[ldap] bind_password_file \(file) is empty") }
            settings.bindPassword = text
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
