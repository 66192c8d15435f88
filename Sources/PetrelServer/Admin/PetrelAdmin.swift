/// The administration API: everything `petrel` commands do to a server's data (domains, mailboxes and
/// their passwords, relay and connection rules, the outbound queue, the Badmail directory), in one type
/// opened from the configuration. The CLI calls only this (and a web admin page can call it later); the
/// store, the password hashing and the Badmail directory stay behind it.
///
/// The store is opened on first use (commands that only read the Badmail directory never create the
/// data directory) and closed by `close()`. Store errors are thrown as they are (`StoreError`); a store
/// that cannot be opened throws `PetrelAdmin.OpenError`.
import BadmailStore
import Foundation
import IMAPCore
import MailAuth
import MailAuthChecks
import MailCore
import MailPolicy
import MailQueue
import MailStore
import Synchronization

public final class PetrelAdmin: Sendable {
    public let configuration: PetrelConfiguration
    private let opened: Mutex<(any MailStore)?>
    private let hasher: PasswordHasher
    /// "Now" for the administration calls (queue retries) and the store it opens.
    public let clock: any MailClock

    /// The data directory could not be opened (created, or its database read).
    public struct OpenError: Error, CustomStringConvertible {
        public let directory: String
        public let underlying: any Error
        public var description: String { "cannot open the data directory \(directory): \(underlying)" }
    }

    /// Works on the SQLite store of `configuration`'s data directory.
    public init(configuration: PetrelConfiguration, clock: any MailClock = WallClock()) {
        self.configuration = configuration
        self.opened = Mutex(nil)
        self.hasher = .default
        self.clock = clock
    }

    /// Works on `store` (tests: the in-memory store), hashing passwords with `hasher`.
    public init(
        configuration: PetrelConfiguration, store: any MailStore, hasher: PasswordHasher = .default, clock: any MailClock = WallClock()
    ) {
        self.configuration = configuration
        self.opened = Mutex(store)
        self.hasher = hasher
        self.clock = clock
    }

    /// The store, opened now if it is not yet.
    private func store() throws -> any MailStore {
        if let store = opened.withLock({ $0 }) { return store }
        let store: any MailStore
        do {
            store = try MailServer.openStore(configuration: configuration, clock: clock)
        } catch {
            throw OpenError(directory: configuration.server.dataDirectory, underlying: error)
        }
        return opened.withLock { current in
            if let current { return current }
            current = store
            return store
        }
    }

    /// Opens the store now (else the first call that needs it does).
    public func open() throws(OpenError) {
        do {
            _ = try store()
        } catch let error as OpenError {
            throw error
        } catch {
            throw OpenError(directory: configuration.server.dataDirectory, underlying: error)
        }
    }

    /// Closes the store if it was opened.
    public func close() async {
        let store = opened.withLock { current -> (any MailStore)? in
            defer { current = nil }
            return current
        }
        try? await store?.close()
    }

    // MARK: - Domains

    public func addDomain(_ name: String) async throws -> DomainInfo {
        try await store().addDomain(name)
    }

    public func removeDomain(_ name: String, force: Bool) async throws {
        try await store().removeDomain(name, force: force)
    }

    public func domains() async throws -> [DomainInfo] {
        try await store().domains()
    }

    public func isLocalDomain(_ name: String) async throws -> Bool {
        try await store().isLocalDomain(name)
    }

    /// Chooses the mailbox that receives postmaster@`domain` (nil: the default). The mailbox must exist.
    public func setPostmaster(domain: String, mailbox: EmailAddress?) async throws {
        let store = try store()
        if let mailbox, try await store.mailbox(mailbox) == nil {
            throw StoreError.mailboxNotFound(mailbox.lookupKey)
        }
        try await store.setPostmaster(domain: domain, mailbox: mailbox?.lookupKey)
    }

    /// The account backend ([accounts]) that serves `domain`.
    public func accountBackend(forDomain domain: String) -> String {
        "\(configuration.accounts.backend(forDomain: domain))"
    }

    // MARK: - Mailboxes

    /// Adds a mailbox; with a password, stores only its slow salted hash and its SCRAM-SHA-256 verifier.
    public func addMailbox(_ address: EmailAddress, password: String?, isAdmin: Bool) async throws -> MailboxInfo {
        let hash = try password.map { try hasher.hash($0) }
        let scram = password.flatMap { SCRAMVerifier.make(password: $0) }
        let store = try store()
        let info = try await store.addMailbox(address, passwordHash: hash, isAdmin: isAdmin)
        if let scram { try await store.setSCRAMVerifier(scram, for: address) }
        return info
    }

    /// Sets a mailbox's password (its hash and a new SCRAM-SHA-256 verifier; the old verifier goes).
    public func setPassword(_ password: String, for address: EmailAddress) async throws {
        let hash = try hasher.hash(password)
        let scram = SCRAMVerifier.make(password: password)
        let store = try store()
        try await store.setPasswordHash(hash, for: address)
        if let scram { try await store.setSCRAMVerifier(scram, for: address) }
    }

    public func removeMailbox(_ address: EmailAddress) async throws {
        try await store().removeMailbox(address)
    }

    public func setLocked(_ locked: Bool, for address: EmailAddress) async throws {
        try await store().setLocked(locked, for: address)
    }

    /// Sets a mailbox's quota (`.unlimited` removes it): octets and messages over all its folders.
    public func setQuota(_ quota: MailboxQuota, for address: EmailAddress) async throws {
        try await store().setQuota(quota, for: address)
    }

    public func mailboxes(domain: String?) async throws -> [MailboxInfo] {
        try await store().mailboxes(domain: domain)
    }

    /// The mailbox, or `StoreError.mailboxNotFound`.
    public func mailbox(_ address: EmailAddress) async throws -> MailboxInfo {
        guard let box = try await store().mailbox(address) else { throw StoreError.mailboxNotFound(address.lookupKey) }
        return box
    }

    public func messages(in mailbox: MailboxInfo) async throws -> [MailboxMessage] {
        try await store().messages(mailboxID: mailbox.id)
    }

    /// One IMAP folder of a mailbox with its counts (`petrel mailbox show`).
    public struct FolderSummary: Sendable, Hashable {
        public var name: String
        public var specialUse: [String]
        public var messages: UInt32
        public var unseen: UInt32
        public var size: UInt64
    }

    /// The mailbox's IMAP folders (INBOX and the default folders are created if the mailbox has none
    /// yet), sorted by name; empty for a store without folders.
    public func folders(in mailbox: MailboxInfo) async throws -> [FolderSummary] {
        guard let provider = try store() as? any IMAPMailboxProvider else { return [] }
        do throws(IMAPBackendError) {
            let access = try await provider.imapAccess(mailboxID: mailbox.id)
            var out: [FolderSummary] = []
            for folder in try await access.listMailboxes() where folder.exists {
                let status = try await access.status(folder.name)
                out.append(
                    FolderSummary(
                        name: folder.name, specialUse: folder.specialUse, messages: status.messages, unseen: status.unseen, size: status.size))
            }
            return out
        } catch {
            throw StoreError.backend("cannot list the folders: \(error)")
        }
    }

    /// Up to `maxLength` bytes of a stored message from `offset` (empty at the end).
    public func readMessage(in mailbox: MailboxInfo, deliveryID: Int64, offset: Int64, maxLength: Int) async throws -> [UInt8] {
        try await store().readMessage(mailboxID: mailbox.id, deliveryID: deliveryID, offset: offset, maxLength: maxLength)
    }

    // MARK: - Relay and connection rules (the data directory's lists; the configuration adds more)

    /// Adds an entry; false when it was there already.
    public func addAccessEntry(_ value: String, to list: AccessList) async throws -> Bool {
        try await store().addAccessEntry(value, to: list)
    }

    /// Removes an entry; false when it was not there.
    public func removeAccessEntry(_ value: String, from list: AccessList) async throws -> Bool {
        try await store().removeAccessEntry(value, from: list)
    }

    public func accessEntries() async throws -> [AccessEntry] {
        try await store().accessEntries()
    }

    /// The syntax of what the relay and access lists hold (MailPolicy.AccessSyntax), for callers that take
    /// text from people.
    public static func network(_ text: String) -> Result<IPNetwork, AccessSyntaxError> { AccessSyntax.network(text) }
    public static func clientDomain(_ text: String) -> Result<String, AccessSyntaxError> { AccessSyntax.clientDomain(text) }
    public static func recipientDomain(_ text: String) -> Result<RelayDomain, AccessSyntaxError> {
        AccessSyntax.recipientDomain(text)
    }
    public static func recipientAddress(_ text: String) -> Result<String, AccessSyntaxError> {
        AccessSyntax.recipientAddress(text)
    }

    // MARK: - Outbound queue

    public func queueEntries() async throws -> [QueueEntry] {
        try await store().queueEntries()
    }

    /// The entries an entry id or a queue id names.
    /// Every queue row for `petrel queue list`: entries, and damaged rows by id.
    public func queueListing() async throws -> [QueueListing] {
        try await store().queueListing()
    }

    public func queueEntries(matching id: String) async throws -> [QueueEntry] {
        try await store().queueEntries(matching: id)
    }

    /// Makes entries due at `now` (default: the clock's time; nil ids: every active entry); returns how
    /// many changed.
    public func retryQueueEntries(_ entryIDs: [Int64]?, now: Date? = nil) async throws -> Int {
        try await store().retryQueueEntries(entryIDs, now: now ?? clock.now)
    }

    public func deleteQueueEntries(_ entryIDs: [Int64]) async throws -> Int {
        try await store().deleteQueueEntries(entryIDs)
    }

    public func setQueueHeld(_ held: Bool, entryIDs: [Int64]) async throws -> Int {
        try await store().setQueueHeld(held, entryIDs: entryIDs)
    }

    // MARK: - Badmail

    /// The Badmail directory of the configuration (`[delivery] badmail_dir`, capped at `badmail_max_size`).
    public var badmail: BadmailDirectory {
        let delivery = configuration.delivery
        return BadmailDirectory(
            path: delivery.badmailPath(dataDirectory: configuration.server.dataDirectory),
            maxBytes: delivery.badmailMaxBytes)
    }

    // MARK: - DKIM keys and DNS checks

    /// The DKIM keys of the data directory (`<data_dir>/dkim/<domain>/`).
    public var dkimKeys: DKIMKeyStore {
        DKIMKeyStore(dataDirectory: configuration.server.dataDirectory)
    }

    /// Verifies every DKIM signature of `message`, asking the `[dns]` nameserver for the keys.
    public func verifyDKIM(_ message: [UInt8]) async throws -> [DKIMVerification] {
        try await MailServer.withResolver(configuration) { resolver in
            await DKIMVerifier(resolver: resolver).verify(.bytes(message))
        }
    }

    /// Compares the records a domain should publish with what the `[dns]` nameserver answers.
    public func checkDNS(_ records: DomainRecords) async throws -> [DoctorResult] {
        try await MailServer.withResolver(configuration) { resolver in
            await records.check(resolver: resolver)
        }
    }
}
