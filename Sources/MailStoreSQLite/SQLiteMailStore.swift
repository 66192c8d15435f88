/// The embedded default store: one SQLite file (`<directory>/petrel.sqlite`) through GRDB's
/// `DatabasePool` (WAL: readers never block the writer). Durable: `PRAGMA synchronous=FULL` on the
/// writer, so every COMMIT is fsync'd; `deliver()` uses group commit (GroupCommitter.swift).
/// Several processes may use the same file at once (the CLI next to a running server): writes take
/// `BEGIN IMMEDIATE` and wait up to `busyTimeout` for the lock.
///
/// This file: opening, options, errors and the `UserDirectory` half (domains, mailboxes, the postmaster
/// rules of RFC 5321 §4.5.1 / §4.1.1.3). Messages are in SQLiteMailStore+Messages.swift.
import Foundation
import GRDB
import IMAPCore
import MailCore
import MailStore
import NIOPosix
import Synchronization

public final class SQLiteMailStore: MailStore {
    public struct Options: Sendable {
        /// Most deliveries committed in one transaction.
        public var maxBatch: Int = 256
        /// How long a write waits for another connection's lock (seconds).
        public var busyTimeout: TimeInterval = 10
        /// Open without writing (no migrations); every write fails.
        public var readOnly = false
        /// How long the answers "this mailbox exists (with or without quota limits)" of RCPT and "this
        /// domain is ours" of MAIL FROM are reused before the store is asked again (`RecipientCache`: what
        /// another process changes is seen after at most this); zero: every look-up reads.
        public var recipientCacheTTL: Duration = .seconds(2)
        /// Most messages IMAP SELECT keeps the index data of for large folders, for the next SELECT and FETCH
        /// of index data (`IMAPSelectCache`; about 32 octets each).
        public var selectCacheUIDs = 1_000_000
        /// Folders with fewer messages are read again at each SELECT.
        public var selectCacheMinimumCount = 1000
        /// Octets of the database file each connection reads through a memory map (`PRAGMA mmap_size`,
        /// https://sqlite.org/mmap.html): message bodies are copied from the page cache once, not read
        /// page by page with pread into SQLite's cache first. SQLite caps it (Debian: 2 GiB); pages past
        /// it are read as before. Off (0) by default: the mapped pages count in the process's RSS once per
        /// connection that mapped them (docs/OPERATIONS.md). SQLite maps read-only; writes still go
        /// through write(2) and the WAL.
        public var mmapSize = 0

        public init(
            maxBatch: Int = 256, busyTimeout: TimeInterval = 10, readOnly: Bool = false, recipientCacheTTL: Duration = .seconds(2),
            selectCacheUIDs: Int = 1_000_000, selectCacheMinimumCount: Int = 1000, mmapSize: Int = 0
        ) {
            self.maxBatch = maxBatch
            self.busyTimeout = busyTimeout
            self.readOnly = readOnly
            self.recipientCacheTTL = recipientCacheTTL
            self.selectCacheUIDs = selectCacheUIDs
            self.selectCacheMinimumCount = selectCacheMinimumCount
            self.mmapSize = mmapSize
        }
    }

    /// The database file name inside the store directory.
    public static let fileName = "petrel.sqlite"

    /// Path of the database file.
    public let path: String
    let pool: DatabasePool
    let committer: GroupCommitter
    /// Wakes IMAP sessions watching a folder this process changed (`IMAPMailboxProvider.mailboxChanges`).
    let imapChanges = IMAPChangeHub()
    private let closedFlag = ClosedFlag()
    /// The time of the rows the store stamps itself (domains, mailboxes, access entries, held/released
    /// queue entries): the server's `MailClock`.
    let clock: any MailClock
    /// Where the blocking reads run: POP3's BLOB reads (SQLiteMailStore+Retrieval.swift) and the
    /// per-message look-ups (`lookUp`).
    let readPool: NIOThreadPool = .singleton
    /// The group commit's thread (GroupCommitter.swift): one, as SQLite has one writer. Shut down by
    /// `close()` (or when the store is released unclosed).
    let writeThread: NIOThreadPool
    /// The "exists" answers of RCPT's and MAIL FROM's look-ups (`resolveRecipient`, `isLocalDomain`), and
    /// RCPT's "no quota limits" (`quotaStatus(usageOnlyIfLimited: true)`): no hand-off to a reading thread
    /// for a recipient seen less than `recipientCacheTTL` ago.
    let recipientCache: RecipientCache
    /// SELECT's answers for large folders, by folder state (`IMAPSelectCache`).
    let selectCache: IMAPSelectCache

    /// Opens (creating if needed) `<directory>/petrel.sqlite` and runs the migrations.
    public init(directory: String, options: Options = .init(), clock: any MailClock = WallClock()) throws {
        self.clock = clock
        let writeThread = NIOThreadPool(numberOfThreads: 1)
        writeThread.start()
        self.writeThread = writeThread
        self.recipientCache = RecipientCache(ttl: options.recipientCacheTTL)
        self.selectCache = IMAPSelectCache(maxUIDs: options.selectCacheUIDs, minimumCount: options.selectCacheMinimumCount)
        if !options.readOnly {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw StoreError.backend("cannot create store directory \(directory): \(error)")
            }
        }
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        var config = Configuration()
        config.readonly = options.readOnly
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(max(0, options.busyTimeout))
        config.label = "petrel-store"
        let mmapSize = max(0, options.mmapSize)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA mmap_size = \(mmapSize)")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: config)
            if !options.readOnly {
                try Schema.migrator().migrate(pool)
                // GRDB sets synchronous=NORMAL in WAL mode; mail must survive power loss once acknowledged.
                try pool.writeWithoutTransaction { db in
                    try db.execute(sql: "PRAGMA synchronous = FULL")
                }
            }
        } catch {
            throw Self.storeError(error)
        }
        self.pool = pool
        self.committer = GroupCommitter.sqlite(writer: pool, thread: writeThread, maxBatch: options.maxBatch) { db, message in
            try SQLiteMailStore.insert(message, into: db, now: clock.now.timeIntervalSince1970)
        }
    }

    deinit {
        // A store released without `close()` (a failed start, a test) must not leak its thread.
        writeThread.shutdownGracefully { _ in }
    }

    /// Number of write transactions `deliver()` has run (each covers one or more deliveries).
    public var deliverTransactionCount: Int { committer.batchCount }

    public func close() async throws {
        guard closedFlag.close() else { return }
        await committer.close()
        try? await writeThread.shutdownGracefully()
        do {
            try pool.close()
        } catch {
            throw Self.storeError(error)
        }
    }

    /// Reads an integer PRAGMA on the writer connection, or on a reader (for tests: `synchronous`,
    /// `foreign_keys`, `mmap_size`).
    func pragma(_ name: String, onReader: Bool = false) async throws -> Int? {
        guard name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }) else { return nil }
        try checkOpen()
        let sql = "PRAGMA \(name)"
        do {
            if onReader { return try await pool.read { db in try Int.fetchOne(db, sql: sql) } }
            return try await pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: sql) }
        } catch {
            throw Self.storeError(error)
        }
    }

    func checkOpen() throws {
        if closedFlag.isClosed { throw StoreError.backend("store is closed") }
    }

    /// Any error as a `StoreError` (store errors pass through; the rest becomes `.backend`).
    static func storeError(_ error: any Error) -> StoreError {
        if let e = error as? StoreError { return e }
        if let e = error as? DatabaseError { return .backend("\(e.resultCode): \(e.message ?? "database error")") }
        return .backend(String(describing: error))
    }

    /// Runs a read through GRDB's async API, mapping errors.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try checkOpen()
        do { return try await pool.read(body) } catch { throw Self.storeError(error) }
    }

    /// Runs a look-up without a transaction of its own (each statement is its own read): for the lookups
    /// every message makes (MAIL FROM's domain, RCPT's recipient), which need no snapshot shared between
    /// their statements. It spares the BEGIN and COMMIT a `read` prepares and runs each time. It runs
    /// on `readPool` through GRDB's synchronous read (on the calling thread): one hand-off there and one
    /// back, where GRDB's async read hops through its reader pool's and its connection's queues.
    func lookUp<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try checkOpen()
        do { return try await readPool.runIfActive { try self.pool.unsafeRead(body) } } catch { throw Self.storeError(error) }
    }

    /// Runs a write transaction through GRDB's async API, mapping errors.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try checkOpen()
        do { return try await pool.write(body) } catch { throw Self.storeError(error) }
    }

    /// Now in seconds since the epoch, as the store's time columns hold it.
    var nowSeconds: Double { clock.now.timeIntervalSince1970 }

    // MARK: - UserDirectory

    public func addDomain(_ name: String) async throws -> DomainInfo {
        let normalized = try StoreNames.domain(name)
        return try await write { db in
            if try Int64.fetchOne(db, sql: "SELECT id FROM domains WHERE name = ?", arguments: [normalized]) != nil {
                throw StoreError.domainExists(normalized)
            }
            let created = self.nowSeconds
            try db.execute(sql: "INSERT INTO domains (name, created_at) VALUES (?, ?)", arguments: [normalized, created])
            return DomainInfo(name: normalized, postmaster: nil, createdAt: Date(timeIntervalSince1970: created))
        }
    }

    public func removeDomain(_ name: String, force: Bool) async throws {
        let normalized = try StoreNames.domain(name)
        try await write { db in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM domains WHERE name = ?", arguments: [normalized]) else {
                throw StoreError.domainNotFound(normalized)
            }
            let mailboxIDs = try Int64.fetchAll(db, sql: "SELECT id FROM mailboxes WHERE domain_id = ?", arguments: [id])
            if !mailboxIDs.isEmpty && !force {
                throw StoreError.domainNotEmpty(normalized, mailboxes: mailboxIDs.count)
            }
            for mailboxID in mailboxIDs { try Self.deleteMailbox(db, id: mailboxID) }
            try db.execute(sql: "DELETE FROM domains WHERE id = ?", arguments: [id])
        }
        recipientCache.clear()
    }

    public func domains() async throws -> [DomainInfo] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT d.name, m.address AS postmaster, d.created_at FROM domains d
                    LEFT JOIN mailboxes m ON m.id = d.postmaster_id ORDER BY d.name
                    """
            ).map { row in
                DomainInfo(
                    name: try row.decode(String.self, forColumn: "name"),
                    postmaster: try row.decode(String?.self, forColumn: "postmaster"),
                    createdAt: Date(timeIntervalSince1970: try row.decode(Double.self, forColumn: "created_at")))
            }
        }
    }

    public func isLocalDomain(_ name: String) async throws -> Bool {
        guard let normalized = try? StoreNames.domain(name) else { return false }
        // MAIL FROM asks this for every message (the anti-spoofing check).
        if recipientCache.isLocalDomain(normalized) { return true }
        let generation = recipientCache.generation
        let local = try await lookUp { db in
            try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM domains WHERE name = ?"), arguments: [normalized]) != nil
        }
        if local { recipientCache.rememberLocalDomain(normalized, generation: generation) }
        return local
    }

    public func setPostmaster(domain: String, mailbox: String?) async throws {
        let normalized = try StoreNames.domain(domain)
        let key = mailbox.map(StoreNames.mailboxKey)
        try await write { db in
            guard let domainID = try Int64.fetchOne(db, sql: "SELECT id FROM domains WHERE name = ?", arguments: [normalized]) else {
                throw StoreError.domainNotFound(normalized)
            }
            var chosen: Int64?
            if let key {
                guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM mailboxes WHERE address = ?", arguments: [key]) else {
                    throw StoreError.mailboxNotFound(key)
                }
                chosen = id
            }
            try db.execute(sql: "UPDATE domains SET postmaster_id = ? WHERE id = ?", arguments: [chosen, domainID])
        }
    }

    public func addMailbox(_ address: EmailAddress, passwordHash: String?, isAdmin: Bool) async throws -> MailboxInfo {
        let key = address.lookupKey
        let domain = StoreNames.domainKey(of: address)
        let typed = address.domain
        return try await write { db in
            guard let domainID = try Int64.fetchOne(db, sql: "SELECT id FROM domains WHERE name = ?", arguments: [domain]) else {
                throw StoreError.notLocalDomain(typed)
            }
            if try Int64.fetchOne(db, sql: "SELECT id FROM mailboxes WHERE address = ?", arguments: [key]) != nil {
                throw StoreError.mailboxExists(key)
            }
            let created = self.nowSeconds
            try db.execute(
                sql: """
                    INSERT INTO mailboxes (domain_id, address, password_hash, locked, is_admin, created_at)
                    VALUES (?, ?, ?, 0, ?, ?)
                    """, arguments: [domainID, key, passwordHash, isAdmin, created])
            return MailboxInfo(
                id: db.lastInsertedRowID, address: key, domain: domain, passwordHash: passwordHash,
                isLocked: false, isAdmin: isAdmin, createdAt: Date(timeIntervalSince1970: created))
        }
    }

    public func removeMailbox(_ address: EmailAddress) async throws {
        let key = address.lookupKey
        try await write { db in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM mailboxes WHERE address = ?", arguments: [key]) else {
                throw StoreError.mailboxNotFound(key)
            }
            try Self.deleteMailbox(db, id: id)
        }
        recipientCache.clear()
    }

    /// Deletes a mailbox, its deliveries and the bodies nothing else references.
    static func deleteMailbox(_ db: Database, id: Int64) throws {
        let messageIDs = try Int64.fetchAll(
            db, sql: "SELECT DISTINCT message_id FROM deliveries WHERE mailbox_id = ?",
            arguments: [id])
        try db.execute(sql: "DELETE FROM deliveries WHERE mailbox_id = ?", arguments: [id])
        try SQLiteFolders.deleteAll(db, mailboxID: id)
        try deleteUnreferencedMessages(db, among: messageIDs)
        try db.execute(sql: "DELETE FROM mailboxes WHERE id = ?", arguments: [id])
    }

    static let mailboxSelect = """
        SELECT m.id, m.address, d.name AS domain, m.password_hash, m.scram_sha256, m.locked, m.is_admin, m.created_at,
               m.quota_storage, m.quota_messages,
               (SELECT COUNT(*) FROM deliveries dl WHERE dl.mailbox_id = m.id) AS message_count,
               (SELECT COALESCE(SUM(dl.size), 0) FROM deliveries dl WHERE dl.mailbox_id = m.id) AS total_size
        FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        """

    static func mailboxInfo(_ row: Row) throws -> MailboxInfo {
        MailboxInfo(
            id: try row.decode(Int64.self, forColumn: "id"),
            address: try row.decode(String.self, forColumn: "address"),
            domain: try row.decode(String.self, forColumn: "domain"),
            passwordHash: try row.decode(String?.self, forColumn: "password_hash"),
            isLocked: try row.decode(Bool.self, forColumn: "locked"),
            isAdmin: try row.decode(Bool.self, forColumn: "is_admin"),
            createdAt: Date(timeIntervalSince1970: try row.decode(Double.self, forColumn: "created_at")),
            messageCount: try row.decode(Int.self, forColumn: "message_count"),
            totalSize: try row.decode(Int64.self, forColumn: "total_size"),
            scramVerifier: try row.decode(String?.self, forColumn: "scram_sha256"),
            quota: MailboxQuota(
                storageLimit: try row.decode(Int64?.self, forColumn: "quota_storage"),
                messageLimit: try row.decode(Int64?.self, forColumn: "quota_messages")))
    }

    public func setQuota(_ quota: MailboxQuota, for address: EmailAddress) async throws {
        let key = address.lookupKey
        try await write { db in
            try db.execute(
                sql: "UPDATE mailboxes SET quota_storage = ?, quota_messages = ? WHERE address = ?",
                arguments: [quota.storageLimit, quota.messageLimit, key])
            if db.changesCount == 0 { throw StoreError.mailboxNotFound(key) }
        }
        recipientCache.clear()
    }

    public func quotaStatus(mailboxID: Int64, usageOnlyIfLimited: Bool) async throws -> MailboxQuotaStatus? {
        // RCPT's check right after the look-up: a mailbox just seen without limits needs no second read.
        if usageOnlyIfLimited && recipientCache.isUnlimited(mailboxID) {
            return MailboxQuotaStatus(quota: .unlimited, usage: MailboxUsage(messages: 0, storage: 0))
        }
        // One statement (its own snapshot): a look-up like RCPT's own, for the mailboxes with limits.
        return try await lookUp { db in try Self.quotaStatus(db, mailboxID: mailboxID, usageOnlyIfLimited: usageOnlyIfLimited) }
    }

    /// The quota and usage of a mailbox; the usage is a sum over the covering index
    /// `deliveries_mailbox_size` (migration "v9-quota"), so it reads no message rows.
    /// `usageOnlyIfLimited`: no sum for a mailbox without limits (CASE evaluates its subquery only when taken).
    static func quotaStatus(_ db: Database, mailboxID: Int64, usageOnlyIfLimited: Bool = false) throws -> MailboxQuotaStatus? {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT quota_storage, quota_messages,
                               CASE WHEN ? AND quota_storage IS NULL AND quota_messages IS NULL THEN 0
                                    ELSE (SELECT COUNT(*) FROM deliveries WHERE mailbox_id = mailboxes.id) END,
                               CASE WHEN ? AND quota_storage IS NULL AND quota_messages IS NULL THEN 0
                                    ELSE (SELECT COALESCE(SUM(size), 0) FROM deliveries WHERE mailbox_id = mailboxes.id) END
                        FROM mailboxes WHERE id = ?
                        """), arguments: [usageOnlyIfLimited, usageOnlyIfLimited, mailboxID])
        else { return nil }
        return MailboxQuotaStatus(
            quota: MailboxQuota(storageLimit: try row.decode(Int64?.self, atIndex: 0), messageLimit: try row.decode(Int64?.self, atIndex: 1)),
            usage: MailboxUsage(messages: try row.decode(Int64.self, atIndex: 2), storage: try row.decode(Int64.self, atIndex: 3)))
    }

    public func mailboxes(domain: String?) async throws -> [MailboxInfo] {
        let filter = domain.map { (try? StoreNames.domain($0)) ?? $0.lowercased() }
        return try await read { db in
            let rows: [Row]
            if let filter {
                rows = try Row.fetchAll(db, sql: Self.mailboxSelect + " WHERE d.name = ? ORDER BY m.address", arguments: [filter])
            } else {
                rows = try Row.fetchAll(db, sql: Self.mailboxSelect + " ORDER BY m.address")
            }
            return try rows.map(Self.mailboxInfo)
        }
    }

    public func mailbox(_ address: EmailAddress) async throws -> MailboxInfo? {
        let key = address.lookupKey
        return try await read { db in
            try Row.fetchOne(db, sql: Self.mailboxSelect + " WHERE m.address = ?", arguments: [key]).map(Self.mailboxInfo)
        }
    }

    public func mailbox(id: Int64) async throws -> MailboxInfo? {
        try await read { db in
            try Row.fetchOne(db, sql: Self.mailboxSelect + " WHERE m.id = ?", arguments: [id]).map(Self.mailboxInfo)
        }
    }

    public func setPasswordHash(_ hash: String, for address: EmailAddress) async throws {
        try await updateMailbox(address, sql: "UPDATE mailboxes SET password_hash = ?, scram_sha256 = NULL WHERE address = ?", hash)
    }

    public func setSCRAMVerifier(_ verifier: String?, for address: EmailAddress) async throws {
        try await updateMailbox(address, sql: "UPDATE mailboxes SET scram_sha256 = ? WHERE address = ?", verifier)
    }

    public func setLocked(_ locked: Bool, for address: EmailAddress) async throws {
        try await updateMailbox(address, sql: "UPDATE mailboxes SET locked = ? WHERE address = ?", locked)
    }

    public func setAdmin(_ isAdmin: Bool, for address: EmailAddress) async throws {
        try await updateMailbox(address, sql: "UPDATE mailboxes SET is_admin = ? WHERE address = ?", isAdmin)
    }

    private func updateMailbox(_ address: EmailAddress, sql: String, _ value: some DatabaseValueConvertible & Sendable) async throws {
        let key = address.lookupKey
        try await write { db in
            try db.execute(sql: sql, arguments: [value, key])
            if db.changesCount == 0 { throw StoreError.mailboxNotFound(key) }
        }
    }

    public func resolveRecipient(_ address: EmailAddress) async throws -> RecipientResolution {
        let key = address.lookupKey
        let domain = StoreNames.domainKey(of: address)
        let isPostmaster = StoreNames.isPostmaster(address)
        if let cached = recipientCache.mailbox(key) { return .mailbox(id: cached, address: key) }
        let recipientCache = self.recipientCache
        let generation = recipientCache.generation
        // No transaction around the two statements: a domain or mailbox changed between them gives an
        // answer that was true a moment ago, as a change just after the look-up would.
        let found: RecipientResolution? = try await lookUp { db in
            // Cached statements: every RCPT runs these two, so they are prepared once per connection.
            let domainStatement = try db.cachedStatement(sql: "SELECT id FROM domains WHERE name = ?")
            guard let domainID = try Int64.fetchOne(domainStatement, arguments: [domain]) else {
                return .notLocal
            }
            // With whether it has quota limits: RCPT's quota check then needs no read of its own.
            let mailboxStatement = try db.cachedStatement(
                sql: "SELECT id, quota_storage IS NULL AND quota_messages IS NULL FROM mailboxes WHERE address = ?")
            if let row = try Row.fetchOne(mailboxStatement, arguments: [key]) {
                let id: Int64 = try row.decode(Int64.self, atIndex: 0)
                recipientCache.remember(key, mailboxID: id, unlimited: try row.decode(Bool.self, atIndex: 1), generation: generation)
                return .mailbox(id: id, address: key)
            }
            guard isPostmaster else { return .unknownUser }
            return try Self.postmaster(db, domainID: domainID, domain: domain, createdAt: nil)
        }
        if let found { return found }
        // The postmaster mailbox has to be created: do it (again checking everything) in a write.
        return try await write { db in
            guard let domainID = try Int64.fetchOne(db, sql: "SELECT id FROM domains WHERE name = ?", arguments: [domain]) else {
                return .notLocal
            }
            return try Self.postmaster(db, domainID: domainID, domain: domain, createdAt: self.nowSeconds) ?? .unknownUser
        }
    }

    public func resolveBarePostmaster() async throws -> RecipientResolution {
        let found: RecipientResolution? = try await read { db in
            try Self.barePostmaster(db, createdAt: nil)
        }
        if let found { return found }
        return try await write { db in try Self.barePostmaster(db, createdAt: self.nowSeconds) ?? .notLocal }
    }

    static func barePostmaster(_ db: Database, createdAt: Double?) throws -> RecipientResolution? {
        if let admin = try firstAdmin(db) { return admin }
        guard let row = try Row.fetchOne(db, sql: "SELECT id, name FROM domains ORDER BY id LIMIT 1") else { return .notLocal }
        return try postmaster(
            db, domainID: try row.decode(Int64.self, forColumn: "id"),
            domain: try row.decode(String.self, forColumn: "name"), createdAt: createdAt)
    }

    static func firstAdmin(_ db: Database) throws -> RecipientResolution? {
        guard let row = try Row.fetchOne(db, sql: "SELECT id, address FROM mailboxes WHERE is_admin = 1 ORDER BY id LIMIT 1")
        else { return nil }
        return .mailbox(id: try row.decode(Int64.self, forColumn: "id"), address: try row.decode(String.self, forColumn: "address"))
    }

    /// postmaster@domain: the real mailbox, else the chosen one, else the first admin, else (only when
    /// `createdAt` is given: stamped with it) a new password-less `postmaster@domain`. Nil when it would have to be created.
    static func postmaster(_ db: Database, domainID: Int64, domain: String, createdAt: Double?) throws -> RecipientResolution? {
        let key = "postmaster@\(domain)"
        if let id = try Int64.fetchOne(db, sql: "SELECT id FROM mailboxes WHERE address = ?", arguments: [key]) {
            return .mailbox(id: id, address: key)
        }
        if let row = try Row.fetchOne(
            db,
            sql: """
                SELECT m.id, m.address FROM domains d JOIN mailboxes m ON m.id = d.postmaster_id WHERE d.id = ?
                """, arguments: [domainID])
        {
            return .mailbox(id: try row.decode(Int64.self, forColumn: "id"), address: try row.decode(String.self, forColumn: "address"))
        }
        if let admin = try firstAdmin(db) { return admin }
        guard let createdAt else { return nil }
        try db.execute(
            sql: """
                INSERT INTO mailboxes (domain_id, address, password_hash, locked, is_admin, created_at)
                VALUES (?, ?, NULL, 0, 0, ?)
                """, arguments: [domainID, key, createdAt])
        return .mailbox(id: db.lastInsertedRowID, address: key)
    }
}

/// Set once by `close()`.
final class ClosedFlag: Sendable {
    private let closed = Mutex(false)

    var isClosed: Bool {
        closed.withLock { $0 }
    }

    /// Marks closed; false when it already was.
    func close() -> Bool {
        closed.withLock { closed in
            if closed { return false }
            closed = true
            return true
        }
    }
}
