// Tests for Configuration+Accounts.swift and ConfigParser+Accounts.swift: [accounts], [ldap],
// [autoconfig] keys, and the rules between them.
import Foundation
import Testing

@testable import PetrelConfig

@Suite struct AccountsConfigTests {
    static let base = PetrelConfiguration.developmentDefaults(hostname: "base.test")

    static func parse(_ text: String) -> Result<PetrelConfiguration, ConfigErrors> {
        PetrelConfiguration.parse(text, base: base)
    }

    static func messages(_ text: String) -> [String] {
        switch parse(text) {
        case .success: return []
        case .failure(let e): return e.errors.map { "\($0.key ?? ""): \($0.message)" }
        }
    }

    @Test func defaults() {
        #expect(Self.base.accounts.defaultBackend == "builtin")
        #expect(Self.base.accounts.backend(forDomain: "x.test") == "builtin")
        #expect(Self.base.ldap == nil)
        #expect(!Self.base.autoconfig.enabled && !Self.base.accounts.scram)
    }

    @Test func everyKeyIsApplied() throws {
        let text = """
            [accounts]
            default = "system"
            domains = { "Corp.TEST" = "ldap" }
            pam_service = "petrel-mail"

            [ldap]
            uri = "ldaps://dc1.corp.test:636 ldaps://dc2.corp.test:636"
            tls = "ldaps"
            ca_file = "/etc/petrel/ca.pem"
            bind_dn = "CN=petrel,DC=corp,DC=test"
            bind_password_file = "/etc/petrel/ldap-password"
            base = "DC=corp,DC=test"
            flavor = "ad"
            filter = "(&(objectClass=user)(mail=%s))"
            mail_attribute = "mailPrimary"
            timeout = "2s"
            cache_positive = "5m"
            cache_negative = 0

            [autoconfig]
            enabled = true
            listen = ["127.0.0.1:9443"]
            mail_host = "Mail.Corp.TEST"
            """
        let c = try Self.parse(text).get()
        #expect(c.accounts.defaultBackend == "system" && c.accounts.pamService == "petrel-mail")
        #expect(c.accounts.backend(forDomain: "corp.test") == "ldap" && c.accounts.backend(forDomain: "other.test") == "system")
        let ldap = try #require(c.ldap)
        #expect(ldap.uri.hasPrefix("ldaps://dc1") && ldap.tls == "ldaps" && ldap.flavor == "ad")
        #expect(ldap.bindDN == "CN=petrel,DC=corp,DC=test" && ldap.bindPasswordFile == "/etc/petrel/ldap-password")
        #expect(ldap.filter == "(&(objectClass=user)(mail=%s))" && ldap.mailAttribute == "mailPrimary")
        #expect(ldap.timeout == 2 && ldap.cachePositive == 300 && ldap.cacheNegative == 0)
        #expect(c.autoconfig.enabled && c.autoconfig.listen.first?.port == 9443 && c.autoconfig.mailHost == "mail.corp.test")
    }

    @Test func rulesBetweenKeys() {
        // ldap in use without [ldap], or without uri/base.
        #expect(Self.messages("[accounts]\ndefault = \"ldap\"").first?.contains("needs an [ldap] section") == true)
        #expect(Self.messages("[accounts]\ndefault = \"ldap\"\n[ldap]\ntls = \"starttls\"").contains { $0.hasPrefix("ldap.uri") })
        // Plain LDAP only when allowed.
        let plain = "[ldap]\nuri = \"ldap://h:389\"\nbase = \"dc=x\"\ntls = \"none\""
        #expect(Self.messages(plain).first?.contains("allow_plaintext") == true)
        #expect(Self.messages(plain + "\nallow_plaintext = true").isEmpty)
        // Scheme and tls agree; bind DN and password file come together.
        #expect(!Self.messages("[ldap]\nuri = \"ldaps://h\"\nbase = \"dc=x\"").isEmpty)
        #expect(!Self.messages("[ldap]\nuri = \"ldap://h\"\nbase = \"dc=x\"\ntls = \"ldaps\"").isEmpty)
        #expect(!Self.messages("[ldap]\nuri = \"ldap://h\"\nbase = \"dc=x\"\nbind_dn = \"cn=a\"").isEmpty)
        // SCRAM only with builtin everywhere.
        #expect(Self.messages("[accounts]\nscram = true").isEmpty)
        #expect(!Self.messages("[accounts]\nscram = true\ndefault = \"system\"").isEmpty)
        // Bad values.
        #expect(!Self.messages("[accounts]\ndefault = \"nis\"").isEmpty)
        #expect(!Self.messages("[accounts]\ndomains = { \"not a domain\" = \"ldap\" }").isEmpty)
        #expect(!Self.messages("[accounts]\npam_service = \"../etc/passwd\"").isEmpty)
        #expect(!Self.messages("[ldap]\nfilter = \"mail=%s\"").isEmpty)
        #expect(!Self.messages("[ldap]\nuri = \"http://h\"").isEmpty)
        // The autoconfig listener cannot share a port with a mail listener.
        #expect(!Self.messages("[autoconfig]\nenabled = true\nlisten = [\"127.0.0.1:2525\"]").isEmpty)
    }
}
