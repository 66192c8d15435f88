/// The store for several nodes: PostgreSQL through postgres-nio's `PostgresClient` (a connection pool).
///
/// - Every statement is parameterised (postgres-nio's extended query protocol: the SQL text and the
///   values travel apart; `PostgresQuery` interpolation binds, it never splices text).
/// - Durable: the connections start with `synchronous_commit=on` (a startup parameter, which wins over
///   any database or role default), so a COMMIT returns only once the WAL is flushed; `deliver()`
///   returns after its COMMIT, and concurrent deliveries share one transaction (PostgresGroupCommitter.swift).
/// - The client runs inside the store (its `run()` in a task the store owns, ended by `close()`), so the
///   server and every CLI command use it the same way.
/// - The schema is migrated once, before the first statement (PostgresSchema.swift; a newer schema is
///   refused). `prepare()` does it eagerly so `petrel serve` fails at start-up, not at the first mail.
///
/// This file: configuration, opening, the query helpers, errors and the `UserDirectory` half.
import Foundation
import IMAPCore
import Logging
import MailCore
import MailStore
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Where and how to reach the database.
public struct PostgresStoreConfiguration: Sendable, Equatable {
    public enum TLSMode: String, Sendable, Equatable, CaseIterable {
        /// Plain TCP (a loopback or otherwise private link).
        case disable
        /// TLS when the server offers it, plain otherwise, the certificate not checked (libpq's
        /// `sslmode=prefer`: no protection against an active attacker).
        case prefer
        /// TLS with the server's certificate checked against `caFile` (or the system's CAs) and `host`
        /// (libpq's `sslmode=verify-full`).
        case require
    }

    public var host: String
    public var port: Int
    public var database: String
    public var user: String
    /// The password (read by the caller from a file; never from the configuration itself).
    public var password: String?
    public var tls: TLSMode
    /// PEM file of the CA(s) that sign the server's certificate, for `require`; nil: the system's CAs.
    public var caFile: String?
    /// Most connections this store opens.
    public var poolSize: Int
    /// The schema the tables live in (`search_path`); nil: the server's default (`public`).
    public var schema: String?
    /// Most deliveries committed in one transaction.
    public var maxBatch: Int
    /// How long a statement waits for a pooled connection. When PostgreSQL is unreachable the pool keeps
    /// trying to connect; past this wait the operation fails (`StoreError`, so SMTP answers 451 4.3.0
    /// and POP3/IMAP a temporary error) instead of holding the client until postgres-nio's own 60 s
    /// circuit breaker trips.
    public var connectionWait: Duration = .seconds(10)
    /// How long the "exists" answers of RCPT's and MAIL FROM's look-ups are reused before asking the
    /// database again (MailStore's `RecipientCache`); zero: every look-up asks.
    public var recipientCacheTTL: Duration
    /// SELECT keeps the answer for folders of at least this many messages (`IMAPSelectCache`).
    public var selectCacheMinimumCount = 1000

    public init(
        host: String = "127.0.0.1", port: Int = 5432, database: String = "petrel", user: String = "petrel",
        password: String? = nil, tls: TLSMode = .disable, caFile: String? = nil, poolSize: Int = 10, schema: String? = nil,
        maxBatch: Int = 256, recipientCacheTTL: Duration = .seconds(2)
    ) {
        self.caFile = caFile
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
        self.tls = tls
        self.poolSize = poolSize
        self.schema = schema
        self.maxBatch = maxBatch
        self.recipientCacheTTL = recipientCacheTTL
    }
}

public final class PostgresMailStore: MailStore {
    /// Largest body part stored in one `message_parts` row.
    public static let partSize = 256 * 1024

    let client: PostgresClient
    let configuration: PostgresStoreConfiguration
    let logger: Logger
    /// The client's `run()` in a task of the store's own (CLI commands, tests), or nil when the owner runs
    /// it as a service of its ServiceGroup (`clientService`, as `petrel serve` does).
    private let runTask: Task<Void, Never>?
    /// Opens when the client's `run()` has been called: `prepare()` waits for it, so no query is sent to
    /// a client that is not running yet.
    private let clientRunning = OneTimeGate()
    private let migrated = Mutex<Task<Void, any Error>?>(nil)
    private let closed = Mutex(false)
    let committer: PostgresGroupCommitter
    let commitCounters = PostgresCommitCounters()
    /// RCPT's recent "this mailbox exists" answers.
    let recipientCache: RecipientCache
    /// Wakes IMAP sessions of this process watching a folder it changed (`IMAPMailboxProvider.mailboxChanges`).
    let imapChanges: IMAPChangeHub
    /// SELECT's answers for large folders, by folder state (`IMAPSelectCache`; a folder changed on another
    /// node has a higher HIGHESTMODSEQ, so its entry no longer matches).
    let selectCache: IMAPSelectCache
    /// One connection's settings (migrations): a connection error surfaces at once
    /// instead of the pool's retries.
    let connectionConfiguration: PostgresConnection.Configuration
    /// The one source of "now" for the timestamps the store makes itself (docs/ARCHITECTURE.md "Time").
    let clock: any MailClock
    /// The channel queued work is announced on (`NOTIFY` in the enqueue transaction).
    let queueChannel: String
    /// The dedicated `LISTEN` connection for `queueWakeUps()` (opened at the first subscriber).
    let queueListener: PostgresNotificationListener
    /// The channel IMAP folder changes are announced on, and the dedicated `LISTEN` connection that feeds
    /// other nodes' changes into `imapChanges` (started by the first IMAP login or watch).
    let imapChannel: String
    let imapListener: PostgresNotificationListener

    /// Creates the store; nothing is sent to the server until `prepare()` or the first call.
    /// `runsClient: false` leaves the PostgreSQL client's `run()` to the caller's ServiceGroup
    /// (`clientService`); until that service runs, `prepare()` waits.
    public init(
        configuration: PostgresStoreConfiguration, logger: Logger = Logger(label: "petrel.store.postgres"), clock: any MailClock = WallClock(),
        runsClient: Bool = true
    ) throws {
        self.clock = clock
        guard (1...65535).contains(configuration.port) else { throw StoreError.backend("invalid PostgreSQL port \(configuration.port)") }
        guard configuration.poolSize >= 1 else { throw StoreError.backend("the PostgreSQL pool size must be at least 1") }
        if let schema = configuration.schema, !Self.isPlainIdentifier(schema) {
            throw StoreError.backend("invalid PostgreSQL schema name '\(schema.prefix(80))'")
        }
        let tls: PostgresClient.Configuration.TLS
        switch configuration.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(Self.tlsConfiguration(configuration))
        case .require: tls = .require(Self.tlsConfiguration(configuration))
        }
        var config = PostgresClient.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.user,
            password: configuration.password, database: configuration.database, tls: tls)
        config.options.maximumConnections = configuration.poolSize
        config.options.minimumConnections = 0
        var startup: [(String, String)] = [("synchronous_commit", "on"), ("application_name", "petrel")]
        if let schema = configuration.schema { startup.append(("search_path", schema)) }
        config.options.additionalStartupParameters = startup
        var single = PostgresConnection.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.user,
            password: configuration.password, database: configuration.database, tls: try Self.connectionTLS(configuration))
        single.options.additionalStartupParameters = startup
        self.connectionConfiguration = single
        let client = PostgresClient(configuration: config, backgroundLogger: logger)
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.recipientCache = RecipientCache(ttl: configuration.recipientCacheTTL)
        self.selectCache = IMAPSelectCache(minimumCount: configuration.selectCacheMinimumCount)
        if runsClient {
            let gate = clientRunning
            self.runTask = Task {
                gate.open()
                await client.run()
            }
        } else {
            self.runTask = nil
        }
        let channel = Self.queueChannel(schema: configuration.schema)
        self.queueChannel = channel
        self.committer = PostgresGroupCommitter.postgres(
            client: client, logger: logger, maxBatch: configuration.maxBatch, clock: clock, queueChannel: channel,
            connectionWait: configuration.connectionWait, counters: commitCounters)
        self.queueListener = PostgresNotificationListener(channel: channel, configuration: single, logger: logger, clock: clock)
        let hub = IMAPChangeHub()
        self.imapChanges = hub
        self.imapChannel = Self.imapChannel(schema: configuration.schema)
        self.imapListener = PostgresNotificationListener(
            channel: imapChannel, configuration: single, logger: logger, clock: clock,
            onPayload: { payload in
                if let payload { hub.notify(IMAPFolderNotification.folderIDs(payload)) } else { hub.notifyAll() }
            })
    }

    /// `prefer` encrypts without checking the certificate (as libpq's `sslmode=prefer`); `require` checks
    /// it against `caFile` or the system's CAs and the host name or address (`verify-full`).
    static func tlsConfiguration(_ configuration: PostgresStoreConfiguration) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch configuration.tls {
        case .disable, .prefer: tls.certificateVerification = .none
        case .require:
            tls.certificateVerification = .fullVerification
            if let file = configuration.caFile { tls.trustRoots = .file(file) }
        }
        return tls
    }

    static func connectionTLS(_ configuration: PostgresStoreConfiguration) throws -> PostgresConnection.Configuration.TLS {
        if let file = configuration.caFile, configuration.tls == .require, !FileManager.default.isReadableFile(atPath: file) {
            throw StoreError.backend("cannot read the PostgreSQL CA file \(file) ([store] ca_file)")
        }
        do {
            switch configuration.tls {
            case .disable: return .disable
            case .prefer: return .prefer(try NIOSSLContext(configuration: tlsConfiguration(configuration)))
            case .require: return .require(try NIOSSLContext(configuration: tlsConfiguration(configuration)))
            }
        } catch {
            throw StoreError.backend("cannot set up TLS for PostgreSQL: \(error)")
        }
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`, at most 63 octets: a name needing no quoting.
    static func isPlainIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 63 else { return false }
        func letter(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F }
        return letter(first) && name.utf8.allSatisfy { letter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    /// Connects and brings the schema up to date (once; later calls return at once). Fails when the
    /// database cannot be reached or was migrated by a newer Petrel.
    public func prepare() async throws {
        await clientRunning.wait()
        let task = migrated.withLock { task -> Task<Void, any Error> in
            if let task { return task }
            let made = Task { try await self.migrate() }
            task = made
            return made
        }
        do {
            try await task.value
        } catch {
            // Let a later call try again (the server may have been down), unless the schema is too new.
            migrated.withLock { current in
                if case .backend(let text) = error as? StoreError, text.contains("newer Petrel") { return }
                current = nil
            }
            throw Self.storeError(error)
        }
    }

    /// Runs the migrations on a connection of its own (not the pool, which retries a failing connection
    /// forever): a wrong password or an unreachable server fails `prepare()` at once, with its reason.
    private func migrate() async throws {
        let conn = try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.any(), configuration: connectionConfiguration, id: 1, logger: logger)
        do {
            try await migrate(on: conn)
        } catch {
            try? await conn.close()
            throw error
        }
        try? await conn.close()
    }

    private func migrate(on conn: PostgresConnection) async throws {
        try await conn.query("BEGIN", logger: logger)
        do {
            try await migrateSteps(conn)
        } catch {
            _ = try? await conn.query("ROLLBACK", logger: logger)
            throw error
        }
        try await conn.query("COMMIT", logger: logger)
    }

    private func migrateSteps(_ conn: PostgresConnection) async throws {
        do {
            try await conn.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock))", logger: self.logger)
            if let schema = self.configuration.schema {
                try await conn.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema)"), logger: self.logger)
            }
            try await conn.query(
                """
                CREATE TABLE IF NOT EXISTS petrel_migrations (
                    version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)
                """, logger: self.logger)
            let applied =
                try await conn.scalar("SELECT COALESCE(MAX(version), 0)::bigint FROM petrel_migrations", as: Int.self, logger: self.logger) ?? 0
            guard applied <= PostgresSchema.latestVersion else {
                throw StoreError.backend(
                    "the database schema is version \(applied), newer than this Petrel knows (\(PostgresSchema.latestVersion)); "
                        + "it was migrated by a newer Petrel: run that version")
            }
            for migration in PostgresSchema.migrations where migration.version > applied {
                for statement in migration.statements {
                    try await conn.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                }
                try await conn.query(
                    """
                    INSERT INTO petrel_migrations (version, name, applied_at)
                    VALUES (\(migration.version), \(migration.name), \(self.now))
                    """, logger: self.logger)
            }
        }
    }

    /// The schema version the database records (for tests and `petrel doctor`).
    public func schemaVersion() async throws -> Int {
        try await prepare()
        let rows = try await rows("SELECT COALESCE(MAX(version), 0)::bigint FROM petrel_migrations")
        return try rows.first?.decode(Int.self) ?? 0
    }

    /// A run-time setting as a pooled connection of this store sees it (`current_setting`), e.g.
    /// `synchronous_commit` (for tests and `petrel doctor`).
    public func serverSetting(_ name: String) async throws -> String {
        let rows = try await rows("SELECT current_setting(\(name))")
        return try rows.first?.decode(String.self) ?? ""
    }

    /// The newest schema version this build knows.
    public static var latestSchemaVersion: Int { PostgresSchema.latestVersion }

    /// Number of write transactions `deliver()` has run (each covers one or more deliveries).
    public var deliverTransactionCount: Int { committer.batchCount }

    /// Messages `deliver()` wrote with the one batch statement, and batches it redid one savepoint per
    /// message because that statement failed (PostgresGroupCommitter.swift).
    public var deliverBatchStatistics: (batchedMessages: Int, fallbacks: Int) {
        commitCounters.counts.withLock { ($0.batchedMessages, $0.fallbacks) }
    }

    public func close() async throws {
        let first = closed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        await committer.close()
        await queueListener.close()
        await imapListener.close()
        runTask?.cancel()
        await runTask?.value
    }

    func checkOpen() throws {
        if closed.withLock({ $0 }) { throw StoreError.backend("store is closed") }
    }

    var now: Double { clock.now.timeIntervalSince1970 }

    // MARK: - Query helpers

    /// Runs one statement on a pooled connection and collects its rows.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try checkOpen()
        try await prepare()
        let logger = self.logger
        do {
            return try await Self.withPooledConnection(client, wait: configuration.connectionWait, clock: clock) { conn in
                try await conn.query(query, logger: logger).collect()
            }
        } catch {
            throw Self.storeError(error)
        }
    }

    /// Runs one prepared statement on a pooled connection (prepared there on first use) and decodes its rows.
    func execute<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> [Statement.Row] where Statement.Row: Sendable {
        try checkOpen()
        try await prepare()
        let logger = self.logger
        do {
            return try await Self.withPooledConnection(client, wait: configuration.connectionWait, clock: clock) { conn in
                var out: [Statement.Row] = []
                for try await row in try await conn.execute(statement, logger: logger) { out.append(row) }
                return out
            }
        } catch {
            throw Self.storeError(error)
        }
    }

    /// Runs `body` in one transaction (BEGIN … COMMIT on one pooled connection; ROLLBACK when it
    /// throws). Returns after the COMMIT, which `synchronous_commit=on` makes durable.
    func write<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try checkOpen()
        try await prepare()
        do {
            return try await transaction(body)
        } catch {
            throw Self.storeError(error)
        }
    }

    func transaction<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await Self.transaction(client, logger: logger, wait: configuration.connectionWait, clock: clock, body)
    }

    /// Runs `body` on a pooled connection, failing with `StoreError` when none is handed out within
    /// `wait` (PostgreSQL down or every connection busy). Only the wait for the connection is bounded: once
    /// `body` runs, it is not interrupted.
    static func withPooledConnection<T: Sendable>(
        _ client: PostgresClient, wait: Duration, clock: any MailClock, _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let started = LeaseStarted()
        // The group awaits both children before it returns, so `body` never outlives this call.
        return try await withoutActuallyEscaping(body) { body in
            try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await client.withConnection { conn in
                        started.mark()
                        return try await body(conn)
                    }
                }
                group.addTask {
                    try await clock.sleep(for: wait)
                    if started.value { return nil }
                    throw StoreError.backend(
                        "PostgreSQL: no connection within \(wait.components.seconds) s (is the database reachable?)")
                }
                while let next = try await group.next() {
                    if let value = next {
                        group.cancelAll()
                        return value
                    }
                }
                throw StoreError.backend("PostgreSQL: the operation ended without a result")
            }
        }
    }

    static func transaction<T: Sendable>(
        _ client: PostgresClient, logger: Logger, wait: Duration, clock: any MailClock,
        _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withPooledConnection(client, wait: wait, clock: clock) { conn in
            try await conn.query("BEGIN", logger: logger)
            let value: T
            do {
                value = try await body(conn)
            } catch {
                // The connection goes back to the pool: it must not stay inside the failed transaction.
                _ = try? await conn.query("ROLLBACK", logger: logger)
                throw error
            }
            try await conn.query("COMMIT", logger: logger)
            return value
        }
    }

    /// Any error as a `StoreError` (store errors pass through; PostgreSQL errors keep their SQLSTATE
    /// and message, never the statement's values).
    static func storeError(_ error: any Error) -> StoreError {
        if let e = error as? StoreError { return e }
        if let e = error as? PSQLError {
            if let info = e.serverInfo {
                return .backend("PostgreSQL \(info[.sqlState] ?? "?"): \(info[.message] ?? "error")")
            }
            if let underlying = e.underlying { return .backend("PostgreSQL \(e.code): \(underlying)") }
            return .backend("PostgreSQL \(e.code)")
        }
        return .backend(String(describing: error))
    }

    /// The SQLSTATE of a server error (e.g. "23505" unique violation), if it is one.
    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }
}

extension PostgresConnection {
    /// Runs one statement and collects its rows.
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        try await self.query(query, logger: logger).collect()
    }

    /// The first column of the first row, if any.
    func scalar<T: PostgresDecodable>(_ query: PostgresQuery, as type: T.Type = T.self, logger: Logger) async throws -> T? {
        guard let row = try await rows(query, logger: logger).first else { return nil }
        return try row.decode(T.self)
    }

}

/// Set once the pool handed out the connection (`withPooledConnection`).
final class LeaseStarted: Sendable {
    private let state = Mutex(false)
    func mark() { state.withLock { $0 = true } }
    var value: Bool { state.withLock { $0 } }
}

extension PostgresMailStore {
    /// The PostgreSQL client (connection pool) as a ServiceLifecycle service, for a store made with
    /// `runsClient: false`. List it before every service that uses the store: the group stops it last,
    /// once the server has drained and the background jobs have stopped.
    public var clientService: any Service { PostgresClientService(client: client, running: clientRunning) }
}

/// Runs the store's `PostgresClient` (its `run()`, which ends at graceful shutdown or cancellation).
struct PostgresClientService: Service, CustomStringConvertible {
    let client: PostgresClient
    let running: OneTimeGate
    var description: String { "PostgresClient" }

    func run() async throws {
        // postgres-nio stops the process when run() is called twice (a store that runs its own client, or
        // this service listed twice): refuse instead.
        guard running.open() else { throw StoreError.backend("the PostgreSQL client of this store is already running") }
        await client.run()
    }
}

/// Opens once; `wait()` returns at once after that, and wakes every waiter when it opens.
final class OneTimeGate: Sendable {
    private struct State {
        var open = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Opens the gate; false when it was open already.
    @discardableResult
    func open() -> Bool {
        let (first, waiters) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
            let first = !state.open
            state.open = true
            defer { state.waiters = [] }
            return (first, state.waiters)
        }
        for waiter in waiters { waiter.resume() }
        return first
    }

    func wait() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state in
                if state.open { return true }
                state.waiters.append(waiter)
                return false
            }
            if now { waiter.resume() }
        }
    }
}
