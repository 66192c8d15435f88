/// The look-up answers both stores keep for a while (MailStore's `RecipientCache`): RCPT's "this mailbox
/// exists" (with "no quota limits") and MAIL FROM's "this domain is ours". Two "nodes" are two stores on
/// one directory (SQLite: the server and the CLI beside it) or on one schema (PostgreSQL: two Petrel nodes).
import Foundation
import MailCore
import MailStore
import MailStorePostgres
import MailStoreSQLite
import MailTestSupport
import Testing

enum TwoNodeBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgresql

    static var allCases: [TwoNodeBackend] { PostgresTestCluster.shouldRun ? [.sqlite, .postgresql] : [.sqlite] }
    var testDescription: String { rawValue }

    /// A factory of stores sharing one database, each with its own cache TTL, and the clean-up.
    func nodes() throws -> (make: @Sendable (Duration) throws -> any MailStore, place: String) {
        switch self {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-rcache-\(UUID().uuidString)").path
            return ({ try SQLiteMailStore(directory: dir, options: .init(recipientCacheTTL: $0)) }, dir)
        case .postgresql:
            let schema = "t_rcache_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            let cluster = try PostgresTestCluster.shared.get()
            return (
                {
                    try PostgresMailStore(
                        configuration: PostgresStoreConfiguration(
                            host: cluster.host, port: cluster.port, database: cluster.database, user: cluster.user,
                            password: cluster.password, tls: .disable, poolSize: 2, schema: schema, recipientCacheTTL: $0))
                }, schema
            )
        }
    }
}

func storedMessages(_ store: any MailStore) async throws -> Int {
    if let s = store as? SQLiteMailStore { return try await s.storedMessageCount() }
    if let s = store as? PostgresMailStore { return try await s.storedMessageCount() }
    Issue.record("unknown backend")
    return -1
}

@Suite struct RecipientCacheTests {
    /// "Unknown" is never kept (a mailbox added by the other node is found at once); "exists" is kept for
    /// the TTL, so a mailbox removed by the other node is still found meanwhile, and delivering to it then
    /// fails in the store (the client gets a temporary error) instead of reaching anyone; a removal
    /// through the node itself is seen at once. The same for MAIL FROM's "this domain is ours".
    @Test(arguments: TwoNodeBackend.allCases)
    func keepsOnlyWhatExistsAndOnlyForItsTime(_ backend: TwoNodeBackend) async throws {
        let (node, place) = try backend.nodes()
        let a = try node(.seconds(600))
        let b = try node(.seconds(600))
        let uncached = try node(.zero)
        let short = try node(.milliseconds(300))
        defer {
            Task {
                for store in [a, b, uncached, short] { try? await store.close() }
                if backend == .sqlite { try? FileManager.default.removeItem(atPath: place) }
            }
        }
        #expect(try await a.isLocalDomain("example.test") == false)
        _ = try await b.addDomain("example.test")
        #expect(try await a.isLocalDomain("example.test"))
        #expect(try await short.isLocalDomain("example.test"))
        let x = try address("x@example.test")
        #expect(try await a.resolveRecipient(x) == .unknownUser)
        let id = try await b.addMailbox(x, passwordHash: nil, isAdmin: false).id
        #expect(try await a.resolveRecipient(x) == .mailbox(id: id, address: "x@example.test"))
        #expect(try await short.resolveRecipient(x) == .mailbox(id: id, address: "x@example.test"))
        #expect(try await uncached.resolveRecipient(x) == .mailbox(id: id, address: "x@example.test"))
        try await b.removeMailbox(x)
        #expect(try await b.resolveRecipient(x) == .unknownUser)
        #expect(try await uncached.resolveRecipient(x) == .unknownUser)
        // Node a still has the answer; the delivery it would make fails and stores nothing.
        #expect(try await a.resolveRecipient(x) == .mailbox(id: id, address: "x@example.test"))
        await #expect(throws: StoreError.mailboxNotFound("id \(id)")) { try await a.deliver(message(to: [id])) }
        #expect(try await storedMessages(a) == 0)
        // Once its TTL is over, a node asks again.
        try await Task.sleep(for: .milliseconds(400))
        #expect(try await short.resolveRecipient(x) == .unknownUser)
        // A removal through the node itself clears it.
        _ = try await a.addMailbox(x, passwordHash: nil, isAdmin: false)
        try await a.removeMailbox(x)
        #expect(try await a.resolveRecipient(x) == .unknownUser)

        // The domain: removed by b, still ours for a (TTL), not for the others.
        #expect(try await a.isLocalDomain("example.test"))
        try await b.removeDomain("example.test", force: true)
        #expect(try await a.isLocalDomain("example.test"))
        #expect(try await uncached.isLocalDomain("example.test") == false)
        #expect(try await short.isLocalDomain("example.test") == false)
        // Removed through a itself: seen at once.
        _ = try await a.addDomain("example.test")
        #expect(try await a.isLocalDomain("example.test"))
        try await a.removeDomain("example.test", force: false)
        #expect(try await a.isLocalDomain("example.test") == false)
    }

    /// RCPT's quota check uses the look-up's "no limits" answer (no read of its own): a limit set by the
    /// other node is obeyed once the answer expires, one set through the node itself at once; a mailbox
    /// with limits always has its usage read.
    @Test(arguments: TwoNodeBackend.allCases)
    func keepsTheNoLimitsAnswerForItsTime(_ backend: TwoNodeBackend) async throws {
        let (node, place) = try backend.nodes()
        let a = try node(.seconds(600))
        let b = try node(.seconds(600))
        let c = try node(.milliseconds(300))
        defer {
            Task {
                for store in [a, b, c] { try? await store.close() }
                if backend == .sqlite { try? FileManager.default.removeItem(atPath: place) }
            }
        }
        _ = try await a.addDomain("example.test")
        let x = try address("x@example.test")
        let id = try await a.addMailbox(x, passwordHash: nil, isAdmin: false).id
        _ = try await a.deliver(message(to: [id]))
        #expect(try await a.resolveRecipient(x) == .mailbox(id: id, address: "x@example.test"))
        #expect(try await c.resolveRecipient(x) == .mailbox(id: id, address: "x@example.test"))
        let limit = MailboxQuota(storageLimit: 1, messageLimit: nil)
        try await b.setQuota(limit, for: x)
        // Node a still has "no limits" from its look-up (kept 600 s), for every check…
        #expect(try await a.quotaStatus(mailboxID: id, usageOnlyIfLimited: true)?.quota == .unlimited)
        #expect(try await a.quotaStatus(mailboxID: id, usageOnlyIfLimited: true)?.quota == .unlimited)
        // …but the full status is always read, and once the answer expired (node c) the check reads the limit.
        #expect(try await a.quotaStatus(mailboxID: id)?.quota == limit)
        try await Task.sleep(for: .milliseconds(400))
        #expect(try await c.quotaStatus(mailboxID: id, usageOnlyIfLimited: true)?.quota == limit)
        // Through b itself: b's look-up saw the limit, so its check reads the usage.
        #expect(try await b.resolveRecipient(x) == .mailbox(id: id, address: "x@example.test"))
        let status = try #require(try await b.quotaStatus(mailboxID: id, usageOnlyIfLimited: true))
        #expect(status.quota == limit && status.usage.messages == 1)
        // A limit removed and set again through a node clears its answers at once.
        try await a.setQuota(.unlimited, for: x)
        #expect(try await a.resolveRecipient(x) == .mailbox(id: id, address: "x@example.test"))
        #expect(try await a.quotaStatus(mailboxID: id, usageOnlyIfLimited: true)?.quota == .unlimited)
        try await a.setQuota(limit, for: x)
        #expect(try await a.quotaStatus(mailboxID: id, usageOnlyIfLimited: true)?.quota == limit)
    }

    /// A look-up under way when the directory changed through the store leaves nothing (it may have read
    /// the rows from before the change); expired answers go; a full map starts over; TTL zero keeps nothing.
    @Test func theCacheItself() async throws {
        let cache = RecipientCache(ttl: .seconds(600), capacity: 2)
        let before = cache.generation
        cache.clear() // a removal committed while that look-up ran
        cache.remember("x@example.test", mailboxID: 1, unlimited: true, generation: before)
        cache.rememberLocalDomain("example.test", generation: before)
        #expect(cache.mailbox("x@example.test") == nil)
        #expect(!cache.isUnlimited(1))
        #expect(!cache.isLocalDomain("example.test"))
        let now = cache.generation
        cache.remember("x@example.test", mailboxID: 1, unlimited: true, generation: now)
        cache.rememberLocalDomain("example.test", generation: now)
        #expect(cache.mailbox("x@example.test") == 1)
        #expect(cache.isUnlimited(1))
        #expect(cache.isLocalDomain("example.test"))
        // A later look-up that saw limits takes the "no limits" answer back.
        cache.remember("x@example.test", mailboxID: 1, unlimited: false, generation: now)
        #expect(cache.mailbox("x@example.test") == 1)
        #expect(!cache.isUnlimited(1))
        // Capacity 2: a third address starts the map over, so it never holds more than two.
        cache.remember("y@example.test", mailboxID: 2, unlimited: false, generation: now)
        cache.remember("z@example.test", mailboxID: 3, unlimited: false, generation: now)
        #expect(cache.mailbox("z@example.test") == 3)
        #expect(cache.mailbox("x@example.test") == nil && cache.mailbox("y@example.test") == nil)

        let short = RecipientCache(ttl: .milliseconds(50))
        short.remember("x@example.test", mailboxID: 1, unlimited: true, generation: short.generation)
        short.rememberLocalDomain("example.test", generation: short.generation)
        try await Task.sleep(for: .milliseconds(80))
        #expect(short.mailbox("x@example.test") == nil)
        #expect(!short.isUnlimited(1))
        #expect(!short.isLocalDomain("example.test"))

        let off = RecipientCache(ttl: .zero)
        off.remember("x@example.test", mailboxID: 1, unlimited: true, generation: off.generation)
        off.rememberLocalDomain("example.test", generation: off.generation)
        #expect(off.mailbox("x@example.test") == nil && !off.isUnlimited(1) && !off.isLocalDomain("example.test"))
    }
}
