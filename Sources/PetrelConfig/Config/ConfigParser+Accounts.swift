/// The `[accounts]`, `[ldap]` and `[autoconfig]` keys (see Configuration+Accounts.swift).
import MailCore
import TOMLKit

extension ConfigReader {
    static let accountsKeys: [String: Apply] = [
        "default": { c, v in assign(backendName(v)) { c.accounts.defaultBackend = $0 } },
        "domains": { c, v in assign(domainBackends(v)) { c.accounts.domains = $0 } },
        "pam_service": { c, v in assign(pamService(v)) { c.accounts.pamService = $0 } },
        "scram": { c, v in assign(boolean(v)) { c.accounts.scram = $0 } }
    ]

    static let ldapKeys: [String: Apply] = [
        "uri": { c, v in assign(ldapURI(v)) { c.ldapSection.uri = $0 } },
        "tls": { c, v in assign(oneOf(v, ["starttls", "ldaps", "none"])) { c.ldapSection.tls = $0 } },
        "allow_plaintext": { c, v in assign(boolean(v)) { c.ldapSection.allowPlaintext = $0 } },
        "ca_file": { c, v in assign(filePath(v)) { c.ldapSection.caFile = $0 } },
        "bind_dn": { c, v in assign(nonEmpty(v)) { c.ldapSection.bindDN = $0 } },
        "bind_password_file": { c, v in assign(filePath(v)) { c.ldapSection.bindPasswordFile = $0 } },
        "base": { c, v in assign(nonEmpty(v)) { c.ldapSection.base = $0 } },
        "flavor": { c, v in assign(oneOf(v, ["openldap", "ad"])) { c.ldapSection.flavor = $0 } },
        "filter": { c, v in assign(ldapFilterTemplate(v)) { c.ldapSection.filter = $0 } },
        "mail_attribute": { c, v in assign(nonEmpty(v)) { c.ldapSection.mailAttribute = $0 } },
        "timeout": { c, v in assign(duration(v, 1...300)) { c.ldapSection.timeout = $0 } },
        "cache_positive": { c, v in assign(duration(v, 0...86400)) { c.ldapSection.cachePositive = $0 } },
        "cache_negative": { c, v in assign(duration(v, 0...86400)) { c.ldapSection.cacheNegative = $0 } }
    ]

    static let autoconfigKeys: [String: Apply] = [
        "enabled": { c, v in assign(boolean(v)) { c.autoconfig.enabled = $0 } },
        "listen": { c, v in assign(listeners(v)) { c.autoconfig.listen = $0 } },
        "mail_host": { c, v in assign(hostname(v)) { c.autoconfig.mailHost = $0 } }
    ]

    static func backendName(_ value: any TOMLValueConvertible) -> Result<String, ValueError> {
        oneOf(value, PetrelConfiguration.Accounts.backendNames)
    }

    static func oneOf(_ value: any TOMLValueConvertible, _ names: [String]) -> Result<String, ValueError> {
        guard let text = value.string, names.contains(text) else {
            return .failure(ValueError(message: "must be one of \(names.map { "\"\($0)\"" }.joined(separator: ", ")), got \(describe(value))"))
        }
        return .success(text)
    }

    static func nonEmpty(_ value: any TOMLValueConvertible) -> Result<String, ValueError> {
        string(value).flatMap { text in
            guard !text.isEmpty, !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                return .failure(ValueError(message: "must be a non-empty string without control characters, got \(quoted(text))"))
            }
            return .success(text)
        }
    }

    static func pamService(_ value: any TOMLValueConvertible) -> Result<String, ValueError> {
        string(value).flatMap { text in
            let allowed = text.utf8.allSatisfy { b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F || b == 0x2E
            }
            guard !text.isEmpty, text.utf8.count <= 64, allowed, text != ".", text != ".." else {
                return .failure(ValueError(message: "must be a PAM service name (letters, digits, - _ .), got \(quoted(text))"))
            }
            return .success(text)
        }
    }

    /// ldap-uri = ("ldap://" / "ldaps://") hostport, one or more separated by spaces.
    static func ldapURI(_ value: any TOMLValueConvertible) -> Result<String, ValueError> {
        nonEmpty(value).flatMap { text in
            let parts = text.split(separator: " ")
            for part in parts where !(part.hasPrefix("ldap://") || part.hasPrefix("ldaps://")) || part.count <= 8 {
                return .failure(ValueError(message: "must be ldap://host:port or ldaps://host:port, got \(quoted(String(part)))"))
            }
            return .success(text)
        }
    }

    /// A filter template: parenthesised, with at least one %s / %u / %d.
    static func ldapFilterTemplate(_ value: any TOMLValueConvertible) -> Result<String, ValueError> {
        nonEmpty(value).flatMap { text in
            guard text.hasPrefix("("), text.hasSuffix(")"),
                text.contains("%s") || text.contains("%u") || text.contains("%d")
            else {
                return .failure(
                    ValueError(
                        message: "must be an LDAP filter in parentheses using %s (address), %u (local part) or %d (domain), got \(quoted(text))"))
            }
            return .success(text)
        }
    }

    /// domains = { "example.org" = "ldap", ... }
    static func domainBackends(_ value: any TOMLValueConvertible) -> Result<[String: String], ValueError> {
        guard let table = value.table else {
            return .failure(ValueError(message: "must be a table such as { \"corp.example\" = \"ldap\" }, got \(describe(value))"))
        }
        var result: [String: String] = [:]
        for (key, item) in table {
            guard let domain = IDNA.canonicalKey(key), MailboxSyntax.normalizeDomain(domain) != nil else {
                return .failure(ValueError(message: "key \(quoted(key)) is not a domain name"))
            }
            switch backendName(item) {
            case .success(let name): result[domain] = name
            case .failure(let error): return .failure(ValueError(message: "backend of \(domain) \(error.message)"))
            }
        }
        return .success(result)
    }

    mutating func checkAccountRules(seen: Set<String>, failed: Set<String>) {
        if config.accounts.scram, config.accounts.uses("ldap") || config.accounts.uses("system"), !failed.contains("accounts.scram") {
            fail(
                "accounts.scram",
                "SCRAM-SHA-256 needs a stored verifier, which only builtin accounts have: accounts.scram = true needs every domain on the builtin backend"
            )
        }
        if config.accounts.uses("ldap"), !failed.contains("accounts.default"), !failed.contains("accounts.domains") {
            guard let ldap = config.ldap else {
                fail(
                    seen.contains("accounts.default") ? "accounts.default" : "accounts.domains",
                    "the ldap backend needs an [ldap] section (uri, base)")
                return
            }
            if ldap.uri.isEmpty, !failed.contains("ldap.uri") { fail("ldap.uri", "ldap.uri is required") }
            if ldap.base.isEmpty, !failed.contains("ldap.base") { fail("ldap.base", "ldap.base is required") }
        }
        if let ldap = config.ldap, !failed.contains("ldap.tls") {
            if ldap.tls == "none", !ldap.allowPlaintext {
                fail("ldap.tls", "ldap.tls = \"none\" sends passwords in plain text: set ldap.allow_plaintext = true to allow it")
            }
            if ldap.tls == "ldaps", ldap.uri.split(separator: " ").contains(where: { $0.hasPrefix("ldap://") }) {
                fail("ldap.uri", "ldap.tls = \"ldaps\" needs ldaps:// URIs")
            }
            if ldap.tls != "ldaps", ldap.uri.split(separator: " ").contains(where: { $0.hasPrefix("ldaps://") }) {
                fail("ldap.uri", "an ldaps:// URI needs ldap.tls = \"ldaps\"")
            }
            if (ldap.bindDN == nil) != (ldap.bindPasswordFile == nil), !failed.contains("ldap.bind_dn") {
                fail(
                    ldap.bindDN == nil ? "ldap.bind_password_file" : "ldap.bind_dn",
                    "ldap.bind_dn and ldap.bind_password_file must be set together")
            }
        }
    }
}

extension PetrelConfiguration {
    /// `[ldap]`, created with its defaults when the first key of it is read.
    var ldapSection: LDAP {
        get { ldap ?? LDAP() }
        set { ldap = newValue }
    }
}
