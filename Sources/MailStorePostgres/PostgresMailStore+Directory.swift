/// The `UserDirectory` half of the PostgreSQL store: domains, mailboxes and the postmaster rules of
/// RFC 5321 §4.5.1 / §4.1.1.3, with the same answers as the SQLite store (MailStoreSQLite) on the
/// same calls. Uniqueness is the database's (UNIQUE + ON CONFLICT), so two nodes adding the same name
/// at once get one row and one `.…Exists` error, never two rows.
import Foundation
import Logging
import MailCore
import MailStore
import PostgresNIO

extension PostgresMailStore {
    public func addDomain(_ name: String) async throws -> DomainInfo {
        let normalized = try StoreNames.domain(name)
        let created = self.now
        let rows = try await rows(
            """
            INSERT INTO domains (name, created_at) VALUES (\(normalized), \(created))
            ON CONFLICT (name) DO NOTHING RETURNING id
            """)
        guard !rows.isEmpty else { throw StoreError.domainExists(normalized) }
        return DomainInfo(name: normalized, postmaster: nil, createdAt: Date(timeIntervalSince1970: created))
    }

    public func removeDomain(_ name: String, force: Bool) async throws {
        let normalized = try StoreNames.domain(name)
        let logger = self.logger
        try await write { conn in
            guard
                let id = try await conn.scalar(
                    "SELECT id FROM domains WHERE name = \(normalized) FOR UPDATE", as: Int64.self, logger: logger)
            else {
                throw StoreError.domainNotFound(normalized)
            }
            let mailboxIDs = try await conn.rows("SELECT id FROM mailboxes WHERE domain_id = \(id) FOR UPDATE", logger: logger)
                .map { try $0.decode(Int64.self) }
            if !mailboxIDs.isEmpty && !force {
                throw StoreError.domainNotEmpty(normalized, mailboxes: mailboxIDs.count)
            }
            for mailboxID in mailboxIDs { try await Self.deleteMailbox(conn, id: mailboxID, logger: logger) }
            try await conn.query("DELETE FROM domains WHERE id = \(id)", logger: logger)
        }
        recipientCache.clear()
    }

    public func domains() async throws -> [DomainInfo] {
        try await rows(
            """
            SELECT d.name, m.address, d.created_at FROM domains d
            LEFT JOIN mailboxes m ON m.id = d.postmaster_id ORDER BY d.name
            """
        ).map { row in
            let (name, postmaster, created) = try row.decode((String, String?, Double).self)
            return DomainInfo(name: name, postmaster: postmaster, createdAt: Date(timeIntervalSince1970: created))
        }
    }

    public func isLocalDomain(_ name: String) async throws -> Bool {
        guard let normalized = try? StoreNames.domain(name) else { return false }
        // MAIL FROM asks this for every message (the anti-spoofing check).
        if recipientCache.isLocalDomain(normalized) { return true }
        let generation = recipientCache.generation
        let local = try await !execute(DomainLookup(domain: normalized)).isEmpty
        if local { recipientCache.rememberLocalDomain(normalized, generation: generation) }
        return local
    }

    public func setPostmaster(domain: String, mailbox: String?) async throws {
        let normalized = try StoreNames.domain(domain)
        let key = mailbox.map(StoreNames.mailboxKey)
        let logger = self.logger
        try await write { conn in
            guard let domainID = try await conn.scalar("SELECT id FROM domains WHERE name = \(normalized)", as: Int64.self, logger: logger)
            else {
                throw StoreError.domainNotFound(normalized)
            }
            var chosen: Int64?
            if let key {
                guard let id = try await conn.scalar("SELECT id FROM mailboxes WHERE address = \(key)", as: Int64.self, logger: logger) else {
                    throw StoreError.mailboxNotFound(key)
                }
                chosen = id
            }
            try await conn.query("UPDATE domains SET postmaster_id = \(chosen) WHERE id = \(domainID)", logger: logger)
        }
    }

    public func addMailbox(_ address: EmailAddress, passwordHash: String?, isAdmin: Bool) async throws -> MailboxInfo {
        let key = address.lookupKey
        let domain = StoreNames.domainKey(of: address)
        let typed = address.domain
        let logger = self.logger
        let created = self.now
        return try await write { conn in
            guard let domainID = try await conn.scalar("SELECT id FROM domains WHERE name = \(domain)", as: Int64.self, logger: logger) else {
                throw StoreError.notLocalDomain(typed)
            }
            guard
                let id = try await conn.scalar(
                    """
                    INSERT INTO mailboxes (domain_id, address, password_hash, locked, is_admin, created_at)
                    VALUES (\(domainID), \(key), \(passwordHash), false, \(isAdmin), \(created))
                    ON CONFLICT (address) DO NOTHING RETURNING id
                    """, as: Int64.self, logger: logger)
            else {
                throw StoreError.mailboxExists(key)
            }
            return MailboxInfo(
                id: id, address: key, domain: domain, passwordHash: passwordHash,
                isLocked: false, isAdmin: isAdmin, createdAt: Date(timeIntervalSince1970: created))
        }
    }

    public func removeMailbox(_ address: EmailAddress) async throws {
        let key = address.lookupKey
        let logger = self.logger
        try await write { conn in
            guard let id = try await conn.scalar("SELECT id FROM mailboxes WHERE address = \(key) FOR UPDATE", as: Int64.self, logger: logger)
            else {
                throw StoreError.mailboxNotFound(key)
            }
            try await Self.deleteMailbox(conn, id: id, logger: logger)
        }
        recipientCache.clear()
    }

    /// Deletes a mailbox, its deliveries and the bodies nothing else references.
    static func deleteMailbox(_ conn: PostgresConnection, id: Int64, logger: Logger) async throws {
        let messageIDs = try await conn.rows("DELETE FROM deliveries WHERE mailbox_id = \(id) RETURNING message_id", logger: logger)
            .map { try $0.decode(Int64.self) }
        try await PGFolders.deleteAll(conn, mailboxID: id, logger: logger)
        try await deleteUnreferencedMessages(conn, among: messageIDs, logger: logger)
        try await conn.query("DELETE FROM mailboxes WHERE id = \(id)", logger: logger)
    }

    static let mailboxSelect = """
        SELECT m.id, m.address, d.name, m.password_hash, m.scram_sha256, m.locked, m.is_admin, m.created_at,
               (SELECT COUNT(*) FROM deliveries dl WHERE dl.mailbox_id = m.id),
               (SELECT COALESCE(SUM(dl.size), 0)::bigint FROM deliveries dl WHERE dl.mailbox_id = m.id),
               m.quota_storage, m.quota_messages
        FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        """

    static func mailboxInfo(_ row: PostgresRow) throws -> MailboxInfo {
        let (id, address, domain, hash, scram, locked, admin, created, count, size, storageLimit, messageLimit) = try row.decode(
            (Int64, String, String, String?, String?, Bool, Bool, Double, Int64, Int64, Int64?, Int64?).self)
        return MailboxInfo(
            id: id, address: address, domain: domain, passwordHash: hash, isLocked: locked, isAdmin: admin,
            createdAt: Date(timeIntervalSince1970: created), messageCount: Int(count), totalSize: size, scramVerifier: scram,
            quota: MailboxQuota(storageLimit: storageLimit, messageLimit: messageLimit))
    }

    public func setQuota(_ quota: MailboxQuota, for address: EmailAddress) async throws {
        let key = address.lookupKey
        try await updated(
            key,
            rows(
                """
                UPDATE mailboxes SET quota_storage = \(quota.storageLimit), quota_messages = \(quota.messageLimit)
                WHERE address = \(key) RETURNING id
                """))
        recipientCache.clear()
    }

    public func quotaStatus(mailboxID: Int64, usageOnlyIfLimited: Bool) async throws -> MailboxQuotaStatus? {
        // RCPT's check right after the look-up: a mailbox just seen without limits needs no round trip.
        if usageOnlyIfLimited && recipientCache.isUnlimited(mailboxID) {
            return MailboxQuotaStatus(quota: .unlimited, usage: MailboxUsage(messages: 0, storage: 0))
        }
        return try await rows(Self.quotaQuery(mailboxID, usageOnlyIfLimited: usageOnlyIfLimited)).first.map(Self.quotaStatus)
    }

    /// The quota and usage of a mailbox; the usage is a sum over the covering index
    /// `deliveries_mailbox_size` (migration 5).
    /// `usageOnlyIfLimited`: no sum for a mailbox without limits (CASE runs its subquery only when taken).
    static func quotaQuery(_ mailboxID: Int64, usageOnlyIfLimited: Bool = false) -> PostgresQuery {
        """
        SELECT quota_storage, quota_messages,
               CASE WHEN \(usageOnlyIfLimited) AND quota_storage IS NULL AND quota_messages IS NULL THEN 0
                    ELSE (SELECT COUNT(*) FROM deliveries WHERE mailbox_id = \(mailboxID)) END,
               CASE WHEN \(usageOnlyIfLimited) AND quota_storage IS NULL AND quota_messages IS NULL THEN 0::bigint
                    ELSE (SELECT COALESCE(SUM(size), 0)::bigint FROM deliveries WHERE mailbox_id = \(mailboxID)) END
        FROM mailboxes WHERE id = \(mailboxID)
        """
    }

    static func quotaStatus(_ row: PostgresRow) throws -> MailboxQuotaStatus {
        let (storageLimit, messageLimit, count, size) = try row.decode((Int64?, Int64?, Int64, Int64).self)
        return MailboxQuotaStatus(
            quota: MailboxQuota(storageLimit: storageLimit, messageLimit: messageLimit), usage: MailboxUsage(messages: count, storage: size))
    }

    public func mailboxes(domain: String?) async throws -> [MailboxInfo] {
        if let domain {
            let filter = (try? StoreNames.domain(domain)) ?? domain.lowercased()
            return try await rows(
                PostgresQuery(unsafeSQL: Self.mailboxSelect + " WHERE d.name = $1 ORDER BY m.address", binds: Self.binds(filter))
            ).map(Self.mailboxInfo)
        }
        return try await rows(PostgresQuery(unsafeSQL: Self.mailboxSelect + " ORDER BY m.address")).map(Self.mailboxInfo)
    }

    public func mailbox(_ address: EmailAddress) async throws -> MailboxInfo? {
        try await rows(PostgresQuery(unsafeSQL: Self.mailboxSelect + " WHERE m.address = $1", binds: Self.binds(address.lookupKey)))
            .first.map(Self.mailboxInfo)
    }

    public func mailbox(id: Int64) async throws -> MailboxInfo? {
        try await rows(PostgresQuery(unsafeSQL: Self.mailboxSelect + " WHERE m.id = $1", binds: Self.binds(id))).first.map(Self.mailboxInfo)
    }

    /// Bindings of one value (for statements built from a constant SQL text and `$1`).
    static func binds<T: PostgresDynamicTypeEncodable>(_ value: T) -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(value, context: .default)
        return binds
    }

    public func setPasswordHash(_ hash: String, for address: EmailAddress) async throws {
        let key = address.lookupKey
        try await updated(key, rows("UPDATE mailboxes SET password_hash = \(hash), scram_sha256 = NULL WHERE address = \(key) RETURNING id"))
    }

    public func setSCRAMVerifier(_ verifier: String?, for address: EmailAddress) async throws {
        let key = address.lookupKey
        try await updated(key, rows("UPDATE mailboxes SET scram_sha256 = \(verifier) WHERE address = \(key) RETURNING id"))
    }

    public func setLocked(_ locked: Bool, for address: EmailAddress) async throws {
        let key = address.lookupKey
        try await updated(key, rows("UPDATE mailboxes SET locked = \(locked) WHERE address = \(key) RETURNING id"))
    }

    public func setAdmin(_ isAdmin: Bool, for address: EmailAddress) async throws {
        let key = address.lookupKey
        try await updated(key, rows("UPDATE mailboxes SET is_admin = \(isAdmin) WHERE address = \(key) RETURNING id"))
    }

    private func updated(_ key: String, _ rows: [PostgresRow]) throws {
        if rows.isEmpty { throw StoreError.mailboxNotFound(key) }
    }

    public func resolveRecipient(_ address: EmailAddress) async throws -> RecipientResolution {
        let key = address.lookupKey
        let domain = StoreNames.domainKey(of: address)
        let isPostmaster = StoreNames.isPostmaster(address)
        let logger = self.logger
        if let cached = recipientCache.mailbox(key) { return .mailbox(id: cached, address: key) }
        let generation = recipientCache.generation
        // One prepared statement for the common case (an existing mailbox or an unknown one).
        guard let (domainID, mailboxID, unlimited) = try await execute(RecipientLookup(key: key, domain: domain)).first else {
            return .notLocal
        }
        if let mailboxID {
            recipientCache.remember(key, mailboxID: mailboxID, unlimited: unlimited, generation: generation)
            return .mailbox(id: mailboxID, address: key)
        }
        guard isPostmaster else { return .unknownUser }
        return try await write { conn in
            try await Self.postmaster(conn, domainID: domainID, domain: domain, now: now, logger: logger)
        }
    }

    public func resolveBarePostmaster() async throws -> RecipientResolution {
        let logger = self.logger
        return try await write { conn in
            if let admin = try await Self.firstAdmin(conn, logger: logger) { return admin }
            guard let row = try await conn.rows("SELECT id, name FROM domains ORDER BY id LIMIT 1", logger: logger).first else {
                return .notLocal
            }
            let (id, name) = try row.decode((Int64, String).self)
            return try await Self.postmaster(conn, domainID: id, domain: name, now: now, logger: logger)
        }
    }

    static func firstAdmin(_ conn: PostgresConnection, logger: Logger) async throws -> RecipientResolution? {
        guard let row = try await conn.rows("SELECT id, address FROM mailboxes WHERE is_admin ORDER BY id LIMIT 1", logger: logger).first
        else { return nil }
        let (id, address) = try row.decode((Int64, String).self)
        return .mailbox(id: id, address: address)
    }

    /// postmaster@domain: the real mailbox, else the chosen one, else the first admin, else a new
    /// password-less `postmaster@domain` (created at most once, whichever node gets there first).
    static func postmaster(
        _ conn: PostgresConnection, domainID: Int64, domain: String, now: Double, logger: Logger
    ) async throws -> RecipientResolution {
        let key = "postmaster@\(domain)"
        if let id = try await conn.scalar("SELECT id FROM mailboxes WHERE address = \(key)", as: Int64.self, logger: logger) {
            return .mailbox(id: id, address: key)
        }
        if let row = try await conn.rows(
            "SELECT m.id, m.address FROM domains d JOIN mailboxes m ON m.id = d.postmaster_id WHERE d.id = \(domainID)", logger: logger
        ).first {
            let (id, address) = try row.decode((Int64, String).self)
            return .mailbox(id: id, address: address)
        }
        if let admin = try await firstAdmin(conn, logger: logger) { return admin }
        try await conn.query(
            """
            INSERT INTO mailboxes (domain_id, address, password_hash, locked, is_admin, created_at)
            VALUES (\(domainID), \(key), NULL, false, false, \(now)) ON CONFLICT (address) DO NOTHING
            """, logger: logger)
        guard let id = try await conn.scalar("SELECT id FROM mailboxes WHERE address = \(key)", as: Int64.self, logger: logger) else {
            return .unknownUser
        }
        return .mailbox(id: id, address: key)
    }
}

/// The look-ups every accepted message makes (MAIL FROM's sender domain, each RCPT), prepared once per
/// pooled connection: the server parses and plans them once, not per message.
struct DomainLookup: PostgresPreparedStatement {
    static let name = "petrel_domain_lookup_v1"
    static let sql = "SELECT id FROM domains WHERE name = $1"
    typealias Row = Int64

    var domain: String

    func makeBindings() -> PostgresBindings {
        var binds = PostgresBindings(capacity: 1)
        binds.append(domain)
        return binds
    }

    func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
}

/// The domain's id and, when it exists, the mailbox's (`LEFT JOIN`) and whether it has no quota limits: no
/// row for a domain that is not local.
struct RecipientLookup: PostgresPreparedStatement {
    static let name = "petrel_recipient_lookup_v2"
    static let sql = """
        SELECT d.id, m.id, (m.quota_storage IS NULL AND m.quota_messages IS NULL)
        FROM domains d LEFT JOIN mailboxes m ON m.address = $1 WHERE d.name = $2
        """
    typealias Row = (Int64, Int64?, Bool)

    var key: String
    var domain: String

    func makeBindings() -> PostgresBindings {
        var binds = PostgresBindings(capacity: 2)
        binds.append(key)
        binds.append(domain)
        return binds
    }

    func decodeRow(_ row: PostgresRow) throws -> (Int64, Int64?, Bool) {
        let (domain, mailbox, unlimited) = try row.decode((Int64, Int64?, Bool?).self)
        return (domain, mailbox, unlimited ?? false)
    }
}
