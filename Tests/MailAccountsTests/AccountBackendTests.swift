/// The account backends without a directory server: LDAP filter escaping (RFC 4515), the result
/// parser, routing per domain, and an unreachable directory (a temporary failure, never "no such
/// user"). The real slapd tests are in e2e/interop/test_ldap_accounts.py.
import Logging
import MailAccounts
import MailAuth
import MailCore
import MailStore
import NIOPosix
import Testing

@Suite struct AccountBackendTests {
    @Test func filterValuesAreEscaped() {
        #expect(ldapFilterEscape("a*b(c)d\\e") == "a\\2ab\\28c\\29d\\5ce")
        #expect(ldapFilterEscape("jörg@example.test") == "jörg@example.test")
        #expect(ldapFilter("(mail=%s)", name: "x*)(uid=*") == "(mail=x\\2a\\29\\28uid=\\2a)")
        #expect(ldapFilter("(|(uid=%u)(mail=%s))", name: "ann@corp.test") == "(|(uid=ann)(mail=ann@corp.test))")
        #expect(ldapFilter("(&(uid=%u)(dc=%d)(x=100%%))", name: "ann@corp.test") == "(&(uid=ann)(dc=corp.test)(x=100%))")
        #expect(LDAPSettings.Flavor.activedirectory.defaultFilter == "(|(userPrincipalName=%s)(mail=%s)(proxyAddresses=smtp:%s))")
    }

    static func makeStore() async throws -> InMemoryMailStore {
        let store = InMemoryMailStore()
        _ = try await store.addDomain("example.test")
        _ = try await store.addDomain("corp.test")
        let hash = try PasswordHasher.fastForTests.hash("right")
        _ = try await store.addMailbox(try #require(EmailAddress("ann@example.test")), passwordHash: hash, isAdmin: false)
        return store
    }

    @Test func routerSendsEachDomainToItsBackend() async throws {
        let store = try await Self.makeStore()
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        defer { Task { try? await pool.shutdownGracefully() } }
        let logger = Logger(label: "test")
        let builtin = BuiltinAccounts(store: store, threadPool: pool, logger: logger)
        var settings = LDAPSettings(uri: "ldap://127.0.0.1:1", base: "dc=corp,dc=test")
        settings.transport = .none
        settings.timeoutMilliseconds = 2000
        let ldap = LDAPAccounts(settings: settings, store: store, threadPool: pool, logger: logger)
        let router = AccountRouter(builtin: builtin, domainBackends: ["corp.test": ldap])
        #expect(router.backend(forDomain: "CORP.test").kind == .ldap)
        #expect(router.backend(forDomain: "example.test").kind == .builtin)

        if case .success(let mailbox) = await router.verify(username: "ann@example.test", password: "right") {
            #expect(mailbox.address == "ann@example.test")
            // The first successful password login made the SCRAM verifier.
            #expect(try await store.mailbox(try #require(EmailAddress("ann@example.test")))?.scramVerifier != nil)
        } else {
            Issue.record("builtin login failed")
        }
        #expect(await router.verify(username: "ann@example.test", password: "wrong") == .invalidCredentials)
        #expect(await router.verify(username: "not an address", password: "x") == .invalidCredentials)
        // Nothing listens on port 1: the directory is down, so the answer is temporary, never "no such user".
        #expect(await router.verify(username: "ann@corp.test", password: "x") == .temporaryFailure)
        await #expect(throws: AccountBackendUnavailable.self) {
            _ = try await router.resolveRecipient(try #require(EmailAddress("ann@corp.test")))
        }
        // postmaster@ keeps the store's rules, and other domains are not local.
        guard case .mailbox = try await router.resolveRecipient(try #require(EmailAddress("postmaster@corp.test"))) else {
            Issue.record("postmaster@corp.test did not resolve to a mailbox")
            return
        }
        #expect(try await router.resolveRecipient(try #require(EmailAddress("x@elsewhere.test"))) == .notLocal)
    }

    @Test func plainConnectionRefusedIsUnavailable() throws {
        var settings = LDAPSettings(uri: "ldap://127.0.0.1:1", base: "dc=x")
        settings.transport = .starttls
        settings.timeoutMilliseconds = 2000
        let pool = LDAPConnectionPool(settings: settings)
        #expect(throws: LDAPError.self) { _ = try pool.search(filter: "(mail=a)", attributes: ["mail"]) }
        #expect(throws: LDAPError.self) { _ = try pool.checkPassword(dn: "uid=a,dc=x", password: "p") }
    }
}
