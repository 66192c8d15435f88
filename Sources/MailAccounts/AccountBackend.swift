/// Account backends: where a login's password is checked and whether a local mailbox exists.
///
/// - `builtin`: the mailbox table and its scrypt hashes (MailAuth), as before.
/// - `system`: the machine's accounts through PAM (service `petrel`); mailboxes are the ones the admin
///   added with `petrel mailbox add` (no password needed); the local part is the PAM user name.
/// - `ldap`: an LDAPv3 directory (OpenLDAP, Active Directory): the user is found with a filter by a
///   service account, the password checked by binding as the user's DN; mailboxes exist for every
///   directory user and are created in the store at their first mail or login.
///
/// Each local domain uses one backend (`AccountRouter`); SMTP AUTH, POP3 and RCPT all go through it.
/// Messages always live in the mail store, whatever the backend: the backend only says who may log in
/// and which addresses exist.
import MailCore
import MailStore

/// The answer to a login.
public enum LoginVerdict: Sendable, Equatable {
    case success(MailboxInfo)
    /// Wrong password, unknown user, or a name that is not an address: answered the same way.
    case invalidCredentials
    /// The password was right but the mailbox is locked (only ever told to a caller who knew it).
    case locked
    /// The backend could not answer (directory down, PAM broken): a temporary failure, never a refusal.
    case temporaryFailure
}

/// The kinds of backend, by their config names.
public enum AccountBackendKind: String, Sendable, CaseIterable, Equatable {
    case builtin, system, ldap
}

/// A temporary failure of a backend (the directory is down, a timeout): RCPT answers 451 4.3.0.
public struct AccountBackendUnavailable: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public protocol AccountBackend: Sendable {
    var kind: AccountBackendKind { get }
    /// Checks a login whose user name is an address in a domain this backend serves.
    func verify(_ address: EmailAddress, password: String) async -> LoginVerdict
    /// What RCPT TO this address (in a domain this backend serves, or not local at all) means.
    /// Throws `AccountBackendUnavailable` (or a store error) for a temporary failure.
    func resolveRecipient(_ address: EmailAddress) async throws -> RecipientResolution
}

/// Chooses the backend of each local domain: a per-domain choice, else the server-wide default.
public struct AccountRouter: Sendable {
    public let defaultBackend: any AccountBackend
    /// Canonical domain name (`IDNA.canonicalKey`) → backend.
    public let domainBackends: [String: any AccountBackend]
    let builtin: BuiltinAccounts

    public init(
        builtin: BuiltinAccounts, defaultBackend: (any AccountBackend)? = nil,
        domainBackends: [String: any AccountBackend] = [:]
    ) {
        self.builtin = builtin
        self.defaultBackend = defaultBackend ?? builtin
        self.domainBackends = domainBackends
    }

    public func backend(forDomain domain: String) -> any AccountBackend {
        if let key = IDNA.canonicalKey(domain), let backend = domainBackends[key] { return backend }
        return defaultBackend
    }

    /// A login: the user name must be an address; its domain picks the backend. A name that is not an
    /// address costs the same as a wrong password (the builtin backend's dummy hash).
    public func verify(username: String, password: String) async -> LoginVerdict {
        guard let address = EmailAddress(username), !address.isAddressLiteral else {
            await builtin.burnDummyHash(password)
            return .invalidCredentials
        }
        return await backend(forDomain: address.domain).verify(address, password: password)
    }

    public func resolveRecipient(_ address: EmailAddress) async throws -> RecipientResolution {
        if address.isAddressLiteral { return try await builtin.resolveRecipient(address) }
        return try await backend(forDomain: address.domain).resolveRecipient(address)
    }
}

/// `postmaster` (RFC 5321 §4.5.1) in any case: always resolved by the store's rules, whatever the backend.
func isPostmaster(_ address: EmailAddress) -> Bool {
    address.localPart.lowercased() == "postmaster"
}

extension MailStore {
    /// The store's mailbox for `key` (an address in a local domain), created without a password when it
    /// is not there yet (directory and system users get theirs at their first mail or login).
    func provisionMailbox(_ key: EmailAddress) async throws -> MailboxInfo {
        if let existing = try await mailbox(key) { return existing }
        do {
            return try await addMailbox(key, passwordHash: nil, isAdmin: false)
        } catch StoreError.mailboxExists {
            // Another connection created it at the same moment.
            if let existing = try await mailbox(key) { return existing }
            throw AccountBackendUnavailable("mailbox \(key) vanished while it was created")
        }
    }
}
