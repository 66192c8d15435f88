/// The `QueueStore` half of the PostgreSQL store: the outbound queue, with the same rules as the
/// SQLite store (MailStoreSQLite/SQLiteMailStore+Queue.swift): results and the notifications they
/// produce in ONE transaction, bodies removed only when nothing references them, a damaged row held
/// with its reason instead of stopping the scan.
import Foundation
import Logging
import MailCore
import MailStore
import PostgresNIO

extension PostgresMailStore {
    static let queueSelect = """
        SELECT q.id, q.message_id, q.recipient, q.notify, q.orcpt, q.state, q.attempts, q.arrived_at,
               q.next_attempt, q.last_attempt, q.last_error, q.delay_notified,
               m.queue_id, m.sender, m.size, m.envid, m.ret, m.eight_bit_mime, m.smtputf8, q.lease_owner, q.lease_until
        FROM queue q JOIN messages m ON m.id = q.message_id
        """

    static func queueEntry(_ row: PostgresRow) throws -> QueueEntry {
        let r = row.makeRandomAccess()
        let id = try r[0].decode(Int64.self)
        let stateText = try r[5].decode(String.self)
        guard let state = QueueState(rawValue: stateText) else {
            throw StoreError.backend("queue entry has an unknown state '\(stateText)'")
        }
        let notify = try r[3].decode(String?.self).flatMap { DSNNotify(parameter: $0) }
        let ret = try r[16].decode(String?.self).flatMap { DSNReturn(rawValue: $0) }
        let recipient = OutboundRecipient(
            address: try QueueRules.storedRecipient(try r[2].decode(String.self), entryID: id),
            notify: notify, originalRecipient: try r[4].decode(String?.self))
        let envelope = OutboundEnvelope(
            envelopeID: try r[15].decode(String?.self), dsnReturn: ret,
            eightBitMIME: try r[17].decode(Bool.self), smtpUTF8: try r[18].decode(Bool.self))
        return QueueEntry(
            id: id, messageID: try r[1].decode(Int64.self), queueID: try r[12].decode(String.self),
            sender: try QueueRules.storedSender(try r[13].decode(String.self), entryID: id),
            recipient: recipient, envelope: envelope, state: state,
            attempts: Int(try r[6].decode(Int32.self)),
            arrivedAt: Date(timeIntervalSince1970: try r[7].decode(Double.self)),
            nextAttempt: Date(timeIntervalSince1970: try r[8].decode(Double.self)),
            lastAttempt: try r[9].decode(Double?.self).map { Date(timeIntervalSince1970: $0) },
            lastError: try r[10].decode(String?.self),
            delayNotified: try r[11].decode(Bool.self),
            size: try r[14].decode(Int64.self),
            lease: try r[19].decode(String?.self).flatMap { owner in
                try r[20].decode(Double?.self).map { QueueLease(owner: owner, until: Date(timeIntervalSince1970: $0)) }
            })
    }

    /// The channel `NOTIFY` rings when queue work appears: one per schema, so stores in other schemas of
    /// the same database do not wake each other.
    static func queueChannel(schema: String?) -> String { "petrel_queue" + (schema.map { "_" + $0.lowercased() } ?? "") }

    /// The channel of IMAP folder changes (`IMAPFolderNotification`), one per schema as well.
    static func imapChannel(schema: String?) -> String { "petrel_imap" + (schema.map { "_" + $0.lowercased() } ?? "") }

    /// The IMAP channel of the schema whose queue channel this is (for `insert`, which is given the latter).
    static func imapChannel(queueChannel: String) -> String { "petrel_imap" + queueChannel.dropFirst("petrel_queue".count) }

    /// Claims in one transaction: `SELECT … FOR UPDATE SKIP LOCKED` (rows another node is claiming
    /// right now are skipped, not waited for), then the lease is written on exactly those rows.
    public func claimQueueEntries(_ claim: QueueClaim) async throws -> [QueueEntry] {
        guard claim.limit > 0 else { try checkOpen(); return [] }
        if let ids = claim.entryIDs, ids.isEmpty { try checkOpen(); return [] }
        let now = claim.now.timeIntervalSince1970
        let until = claim.leaseUntil.timeIntervalSince1970
        let owner = claim.owner
        let limit = Int64(min(claim.limit, Int(Int32.max)))
        let wanted = claim.entryIDs.map { Array(Set($0)) }
        let logger = self.logger
        return try await write { conn in
            let picked: [Int64]
            if let wanted {
                picked = try await conn.rows(
                    """
                    SELECT id FROM queue
                    WHERE state = 'active' AND next_attempt <= \(now) AND (lease_until IS NULL OR lease_until <= \(now))
                      AND id = ANY(\(wanted))
                    ORDER BY next_attempt, id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    """, logger: logger
                ).map { try $0.decode(Int64.self) }
            } else {
                picked = try await conn.rows(
                    """
                    SELECT id FROM queue
                    WHERE state = 'active' AND next_attempt <= \(now) AND (lease_until IS NULL OR lease_until <= \(now))
                    ORDER BY next_attempt, id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    """, logger: logger
                ).map { try $0.decode(Int64.self) }
            }
            guard !picked.isEmpty else { return [] }
            try await conn.query(
                "UPDATE queue SET lease_owner = \(owner), lease_until = \(until) WHERE id = ANY(\(picked))", logger: logger)
            var binds = PostgresBindings()
            binds.append(picked, context: .default)
            return try await conn.rows(
                PostgresQuery(unsafeSQL: Self.queueSelect + " WHERE q.id = ANY($1) ORDER BY q.next_attempt, q.id", binds: binds),
                logger: logger
            ).map(Self.queueEntry)
        }
    }

    public func renewQueueLeases(_ entryIDs: [Int64], owner: String, now: Date, leaseUntil: Date) async throws -> Set<Int64> {
        let ids = Array(Set(entryIDs))
        guard !ids.isEmpty else { try checkOpen(); return [] }
        let at = now.timeIntervalSince1970
        return Set(
            try await rows(
                """
                UPDATE queue SET lease_until = \(leaseUntil.timeIntervalSince1970)
                WHERE id = ANY(\(ids)) AND lease_owner = \(owner) AND lease_until > \(at) RETURNING id
                """
            ).map { try $0.decode(Int64.self) })
    }

    public func releaseQueueLeases(_ entryIDs: [Int64], owner: String) async throws -> Int {
        let ids = Array(Set(entryIDs))
        guard !ids.isEmpty else { try checkOpen(); return 0 }
        let released = try await rows(
            "UPDATE queue SET lease_owner = NULL, lease_until = NULL WHERE id = ANY(\(ids)) AND lease_owner = \(owner) RETURNING id"
        ).count
        if released > 0 { try await notifyQueue() }
        return released
    }

    public func releaseAllQueueLeases(owner: String) async throws -> Int {
        let released = try await rows("UPDATE queue SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = \(owner) RETURNING id").count
        if released > 0 { try await notifyQueue() }
        return released
    }

    public func completeLeasedAttempts(_ attempts: [LeasedAttempt], owner: String, now: Date) async throws -> [LeasedAttemptResult] {
        let logger = self.logger
        let at = now.timeIntervalSince1970
        let stamp = self.now
        let channel = queueChannel
        return try await write { conn in
            var results: [LeasedAttemptResult] = []
            var touched: [Int64] = []
            for attempt in attempts {
                // Locks the rows: a claim by another node waits for (or skips) them until COMMIT.
                let held = Set(
                    try await conn.rows(
                        """
                        SELECT id FROM queue
                        WHERE id = ANY(\(attempt.entryIDs)) AND lease_owner = \(owner) AND lease_until > \(at) FOR UPDATE
                        """, logger: logger
                    ).map { try $0.decode(Int64.self) })
                let lost = attempt.entryIDs.filter { !held.contains($0) }
                guard lost.isEmpty else {
                    results.append(.leaseLost(entryIDs: lost))
                    continue
                }
                touched += try await Self.apply(attempt.updates, on: conn, logger: logger)
                try await conn.query(
                    "UPDATE queue SET lease_owner = NULL, lease_until = NULL WHERE id = ANY(\(attempt.entryIDs))", logger: logger)
                for notification in attempt.notifications {
                    _ = try await Self.insert(notification, on: conn, now: stamp, queueChannel: channel, logger: logger)
                }
                results.append(.recorded)
            }
            try await Self.deleteUnreferencedMessages(conn, among: touched, logger: logger)
            return results
        }
    }

    /// Applies queue updates in the caller's transaction; returns the message ids of removed entries.
    /// `retryLater` ends the entry's lease.
    static func apply(_ updates: [QueueUpdate], on conn: PostgresConnection, logger: Logger) async throws -> [Int64] {
        var touched: [Int64] = []
        for update in updates {
            switch update {
            case .remove(let entryID):
                touched += try await conn.rows("DELETE FROM queue WHERE id = \(entryID) RETURNING message_id", logger: logger)
                    .map { try $0.decode(Int64.self) }
            case .retryLater(let entryID, let nextAttempt, let attemptedAt, let error):
                try await conn.query(
                    """
                    UPDATE queue SET attempts = attempts + 1, next_attempt = \(nextAttempt.timeIntervalSince1970),
                           last_attempt = \(attemptedAt.timeIntervalSince1970), last_error = \(error),
                           lease_owner = NULL, lease_until = NULL
                    WHERE id = \(entryID)
                    """, logger: logger)
            case .markDelayNotified(let entryID):
                try await conn.query("UPDATE queue SET delay_notified = true WHERE id = \(entryID)", logger: logger)
            }
        }
        return touched
    }

    /// Tells every node listening that queue work may be due (`NOTIFY`, delivered at COMMIT).
    func notifyQueue() async throws {
        _ = try await rows("SELECT pg_notify(\(queueChannel), '')")
    }

    /// Rings on every `NOTIFY` of the queue channel (a message queued by any node, a lease given up, an
    /// administrator's retry or release), and once after the listening connection was re-established.
    public func queueWakeUps() -> AsyncStream<Void> { queueListener.subscribe() }

    public func dueQueueEntries(now: Date, limit: Int, excluding: Set<Int64>) async throws -> [QueueEntry] {
        guard limit > 0 else { try checkOpen(); return [] }
        let excluded = Array(excluding)
        let cap = Int64(min(limit, Int(Int32.max)))
        let found = try await rows(
            PostgresQuery(
                unsafeSQL: Self.queueSelect + """
                     WHERE q.state = 'active' AND q.next_attempt <= $1 AND NOT (q.id = ANY($2))
                      AND (q.lease_until IS NULL OR q.lease_until <= $1)
                    ORDER BY q.next_attempt, q.id LIMIT $3
                    """, binds: Self.binds(now.timeIntervalSince1970, excluded, cap)))
        var entries: [QueueEntry] = []
        var damaged: [(id: Int64, reason: String)] = []
        for row in found {
            do {
                entries.append(try Self.queueEntry(row))
            } catch {
                guard let id = try? row.makeRandomAccess()[0].decode(Int64.self) else { throw Self.storeError(error) }
                damaged.append((id, "\(error)"))
            }
        }
        for (id, reason) in damaged {
            _ = try await rows("UPDATE queue SET state = 'held', last_error = \("damaged entry held: " + reason) WHERE id = \(id)")
        }
        return entries
    }

    static func binds(_ a: Double, _ b: [Int64], _ c: Int64) -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(a, context: .default)
        binds.append(b, context: .default)
        binds.append(c, context: .default)
        return binds
    }

    public func queueEntries() async throws -> [QueueEntry] {
        try await rows(PostgresQuery(unsafeSQL: Self.queueSelect + " ORDER BY q.id")).map(Self.queueEntry)
    }

    public func queueEntries(matching id: String) async throws -> [QueueEntry] {
        switch QueueRules.selector(id) {
        case .entryID(let entryID):
            return try await rows(PostgresQuery(unsafeSQL: Self.queueSelect + " WHERE q.id = $1", binds: Self.binds(entryID)))
                .map(Self.queueEntry)
        case .queueID(let queueID):
            return try await rows(PostgresQuery(unsafeSQL: Self.queueSelect + " WHERE m.queue_id = $1 ORDER BY q.id", binds: Self.binds(queueID)))
                .map(Self.queueEntry)
        }
    }

    @discardableResult
    public func completeAttempt(_ updates: [QueueUpdate], notifications: [IncomingMessage]) async throws -> [[Int64]] {
        let logger = self.logger
        let channel = queueChannel
        return try await write { conn in
            let touched = try await Self.apply(updates, on: conn, logger: logger)
            var results: [[Int64]] = []
            results.reserveCapacity(notifications.count)
            for notification in notifications {
                results.append(try await Self.insert(notification, on: conn, now: now, queueChannel: channel, logger: logger))
            }
            try await Self.deleteUnreferencedMessages(conn, among: touched, logger: logger)
            return results
        }
    }

    public func readQueuedMessage(messageID: Int64, offset: Int64, maxLength: Int) async throws -> [UInt8] {
        guard offset >= 0 else { throw StoreError.backend("negative read offset") }
        guard
            let row = try await rows(
                """
                SELECT m.size FROM messages m
                WHERE m.id = \(messageID) AND EXISTS (SELECT 1 FROM queue q WHERE q.message_id = m.id)
                """
            ).first
        else {
            throw StoreError.messageNotFound(messageID)
        }
        return try await readBody(messageID: messageID, size: try row.decode(Int64.self), offset: offset, maxLength: maxLength)
    }

    public func setQueueHeld(_ held: Bool, entryIDs: [Int64]) async throws -> Int {
        let ids = Array(Set(entryIDs))
        guard !ids.isEmpty else { try checkOpen(); return 0 }
        if held {
            return try await rows("UPDATE queue SET state = 'held' WHERE state = 'active' AND id = ANY(\(ids)) RETURNING id").count
        }
        let now = self.now
        let released = try await rows(
            """
            UPDATE queue SET state = 'active', next_attempt = LEAST(next_attempt, \(now))
            WHERE state = 'held' AND id = ANY(\(ids)) RETURNING id
            """
        ).count
        if released > 0 { try await notifyQueue() }
        return released
    }

    public func retryQueueEntries(_ entryIDs: [Int64]?, now: Date) async throws -> Int {
        let due = now.timeIntervalSince1970
        let changed: Int
        if let entryIDs {
            let ids = Array(Set(entryIDs))
            guard !ids.isEmpty else { try checkOpen(); return 0 }
            changed = try await rows(
                "UPDATE queue SET next_attempt = LEAST(next_attempt, \(due)) WHERE state = 'active' AND id = ANY(\(ids)) RETURNING id"
            ).count
        } else {
            changed = try await rows("UPDATE queue SET next_attempt = LEAST(next_attempt, \(due)) WHERE state = 'active' RETURNING id").count
        }
        if changed > 0 { try await notifyQueue() }
        return changed
    }

    public func deleteQueueEntries(_ entryIDs: [Int64]) async throws -> Int {
        let ids = Array(Set(entryIDs))
        guard !ids.isEmpty else { try checkOpen(); return 0 }
        let logger = self.logger
        return try await write { conn in
            let messageIDs = try await conn.rows("DELETE FROM queue WHERE id = ANY(\(ids)) RETURNING message_id", logger: logger)
                .map { try $0.decode(Int64.self) }
            try await Self.deleteUnreferencedMessages(conn, among: messageIDs, logger: logger)
            return messageIDs.count
        }
    }

    public func queueSummary(now: Date) async throws -> QueueSummary {
        guard
            let row = try await rows(
                """
                SELECT
                  COUNT(*) FILTER (WHERE state = 'active' AND attempts = 0),
                  COUNT(*) FILTER (WHERE state = 'active' AND attempts > 0),
                  COUNT(*) FILTER (WHERE state = 'held'),
                  MIN(arrived_at),
                  MIN(CASE WHEN lease_until IS NULL OR lease_until <= \(now.timeIntervalSince1970) THEN next_attempt
                           ELSE GREATEST(next_attempt, lease_until) END) FILTER (WHERE state = 'active')
                FROM queue
                """
            ).first
        else { return QueueSummary() }
        let (new, deferred, held, oldest, next) = try row.decode((Int64, Int64, Int64, Double?, Double?).self)
        return QueueSummary(
            new: Int(new), deferred: Int(deferred), held: Int(held),
            oldestArrival: oldest.map { Date(timeIntervalSince1970: $0) }, nextDue: next.map { Date(timeIntervalSince1970: $0) })
    }
}
