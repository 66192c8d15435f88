/// The `QueueStore` half of the SQLite store: the outbound queue (`queue` table, migration "v2-queue").
///
/// Entries are written by `deliver()` together with the message (SQLiteMailStore+Messages.swift).
/// `completeAttempt` applies a delivery attempt's results and stores the notifications they produce
/// (RFC 3464 DSNs, built by the caller) in ONE write transaction, so a crash never loses a bounce nor
/// the entry it reports on. Bodies are removed only when neither a delivery nor a queue entry
/// references them. Every method may run while another process (the CLI, the server) uses the file.
import Foundation
import GRDB
import MailCore
import MailStore

extension SQLiteMailStore {
    static let queueSelect = """
        SELECT q.id, q.message_id, q.recipient, q.domain, q.notify, q.orcpt, q.state, q.attempts, q.arrived_at,
               q.next_attempt, q.last_attempt, q.last_error, q.delay_notified, q.lease_owner, q.lease_until,
               m.queue_id, m.sender, m.size, COALESCE(q.envid, m.envid) AS envid, COALESCE(q.ret, m.ret) AS ret,
               m.eight_bit_mime, m.smtputf8
        FROM queue q JOIN messages m ON m.id = q.message_id
        """

    static func queueEntry(_ row: Row) throws -> QueueEntry {
        let stateText = try row.decode(String.self, forColumn: "state")
        guard let state = QueueState(rawValue: stateText) else {
            throw StoreError.backend("queue entry has an unknown state '\(stateText)'")
        }
        let notify = try row.decode(String?.self, forColumn: "notify").flatMap { DSNNotify(parameter: $0) }
        let ret = try row.decode(String?.self, forColumn: "ret").flatMap { DSNReturn(rawValue: $0) }
        let id = try row.decode(Int64.self, forColumn: "id")
        // The envelope is parsed once, here; the `domain` column is for people reading the table: the
        // routing domain is the address's own (`EmailAddress.routingDomain`).
        let recipient = OutboundRecipient(
            address: try QueueRules.storedRecipient(try row.decode(String.self, forColumn: "recipient"), entryID: id),
            notify: notify, originalRecipient: try row.decode(String?.self, forColumn: "orcpt"))
        let envelope = OutboundEnvelope(
            envelopeID: try row.decode(String?.self, forColumn: "envid"), dsnReturn: ret,
            eightBitMIME: try row.decode(Bool.self, forColumn: "eight_bit_mime"),
            smtpUTF8: try row.decode(Bool.self, forColumn: "smtputf8"))
        return QueueEntry(
            id: id,
            messageID: try row.decode(Int64.self, forColumn: "message_id"),
            queueID: try row.decode(String.self, forColumn: "queue_id"),
            sender: try QueueRules.storedSender(try row.decode(String.self, forColumn: "sender"), entryID: id),
            recipient: recipient, envelope: envelope, state: state,
            attempts: try row.decode(Int.self, forColumn: "attempts"),
            arrivedAt: Date(timeIntervalSince1970: try row.decode(Double.self, forColumn: "arrived_at")),
            nextAttempt: Date(timeIntervalSince1970: try row.decode(Double.self, forColumn: "next_attempt")),
            lastAttempt: try row.decode(Double?.self, forColumn: "last_attempt")
                .map { Date(timeIntervalSince1970: $0) },
            lastError: try row.decode(String?.self, forColumn: "last_error"),
            delayNotified: try row.decode(Bool.self, forColumn: "delay_notified"),
            size: try row.decode(Int64.self, forColumn: "size"),
            lease: try leaseOf(row))
    }

    static func leaseOf(_ row: Row) throws -> QueueLease? {
        guard let owner = try row.decode(String?.self, forColumn: "lease_owner"),
            let until = try row.decode(Double?.self, forColumn: "lease_until")
        else { return nil }
        return QueueLease(owner: owner, until: Date(timeIntervalSince1970: until))
    }

    /// The SQL condition "no lease runs at ?" (one argument: now).
    static let unleased = "(q.lease_until IS NULL OR q.lease_until <= ?)"

    /// Claims in one write transaction (`BEGIN IMMEDIATE`: one writer at a time across processes, so two
    /// stores on the same file never claim the same entry).
    public func claimQueueEntries(_ claim: QueueClaim) async throws -> [QueueEntry] {
        guard claim.limit > 0 else { try checkOpen(); return [] }
        let now = claim.now.timeIntervalSince1970
        let until = claim.leaseUntil.timeIntervalSince1970
        let wanted = claim.entryIDs.map { Array(Set($0)) }
        if let wanted, wanted.isEmpty { try checkOpen(); return [] }
        return try await write { db in
            var ids: [Int64] = []
            let due = "q.state = 'active' AND q.next_attempt <= ? AND \(Self.unleased)"
            if let wanted {
                var found: [(Double, Int64)] = []
                for chunk in wanted.chunked(500) {
                    let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                    found += try Row.fetchAll(
                        db, sql: "SELECT q.next_attempt, q.id FROM queue q WHERE \(due) AND q.id IN (\(marks))",
                        arguments: [now, now] + StatementArguments(chunk)
                    ).map { (try $0.decode(Double.self, atIndex: 0), try $0.decode(Int64.self, atIndex: 1)) }
                }
                ids = found.sorted { $0 < $1 }.prefix(claim.limit).map(\.1)
            } else {
                ids = try Int64.fetchAll(
                    db, sql: "SELECT q.id FROM queue q WHERE \(due) ORDER BY q.next_attempt, q.id LIMIT ?",
                    arguments: [now, now, claim.limit])
            }
            var entries: [QueueEntry] = []
            for id in ids {
                try db.execute(
                    sql: "UPDATE queue SET lease_owner = ?, lease_until = ? WHERE id = ?", arguments: [claim.owner, until, id])
                if let row = try Row.fetchOne(db, sql: Self.queueSelect + " WHERE q.id = ?", arguments: [id]) {
                    entries.append(try Self.queueEntry(row))
                }
            }
            return entries
        }
    }

    public func renewQueueLeases(_ entryIDs: [Int64], owner: String, now: Date, leaseUntil: Date) async throws -> Set<Int64> {
        let ids = Array(Set(entryIDs))
        guard !ids.isEmpty else { try checkOpen(); return [] }
        return try await write { db in
            var renewed = Set<Int64>()
            for chunk in ids.chunked(500) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let args: StatementArguments = [owner, now.timeIntervalSince1970] + StatementArguments(chunk)
                renewed.formUnion(
                    try Int64.fetchAll(
                        db, sql: "SELECT id FROM queue WHERE lease_owner = ? AND lease_until > ? AND id IN (\(marks))",
                        arguments: args))
                try db.execute(
                    sql: "UPDATE queue SET lease_until = ? WHERE lease_owner = ? AND lease_until > ? AND id IN (\(marks))",
                    arguments: [leaseUntil.timeIntervalSince1970] + args)
            }
            return renewed
        }
    }

    public func releaseQueueLeases(_ entryIDs: [Int64], owner: String) async throws -> Int {
        let ids = Array(Set(entryIDs))
        guard !ids.isEmpty else { try checkOpen(); return 0 }
        return try await write { db in
            var released = 0
            for chunk in ids.chunked(500) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                try db.execute(
                    sql: "UPDATE queue SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ? AND id IN (\(marks))",
                    arguments: [owner] + StatementArguments(chunk))
                released += db.changesCount
            }
            return released
        }
    }

    public func releaseAllQueueLeases(owner: String) async throws -> Int {
        try await write { db in
            try db.execute(sql: "UPDATE queue SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?", arguments: [owner])
            return db.changesCount
        }
    }

    public func completeLeasedAttempts(_ attempts: [LeasedAttempt], owner: String, now: Date) async throws -> [LeasedAttemptResult] {
        let at = now.timeIntervalSince1970
        return try await write { db in
            var results: [LeasedAttemptResult] = []
            var touched: [Int64] = []
            for attempt in attempts {
                var lost: [Int64] = []
                for id in attempt.entryIDs {
                    let held = try Int64.fetchOne(
                        db, sql: "SELECT id FROM queue WHERE id = ? AND lease_owner = ? AND lease_until > ?",
                        arguments: [id, owner, at])
                    if held == nil { lost.append(id) }
                }
                guard lost.isEmpty else {
                    results.append(.leaseLost(entryIDs: lost))
                    continue
                }
                touched += try Self.apply(attempt.updates, db)
                for id in attempt.entryIDs {
                    try db.execute(sql: "UPDATE queue SET lease_owner = NULL, lease_until = NULL WHERE id = ?", arguments: [id])
                }
                for notification in attempt.notifications {
                    _ = try Self.insert(notification, into: db, now: self.nowSeconds)
                }
                results.append(.recorded)
            }
            try Self.deleteUnreferencedMessages(db, among: touched)
            return results
        }
    }

    /// Applies queue updates in the caller's transaction; returns the message ids of removed entries.
    /// `retryLater` ends the entry's lease.
    static func apply(_ updates: [QueueUpdate], _ db: Database) throws -> [Int64] {
        var touched: [Int64] = []
        for update in updates {
            switch update {
            case .remove(let entryID):
                if let messageID = try Int64.fetchOne(db, sql: "SELECT message_id FROM queue WHERE id = ?", arguments: [entryID]) {
                    try db.execute(sql: "DELETE FROM queue WHERE id = ?", arguments: [entryID])
                    touched.append(messageID)
                }
            case .retryLater(let entryID, let nextAttempt, let attemptedAt, let error):
                try db.execute(
                    sql: """
                        UPDATE queue SET attempts = attempts + 1, next_attempt = ?, last_attempt = ?, last_error = ?,
                               lease_owner = NULL, lease_until = NULL
                        WHERE id = ?
                        """,
                    arguments: [nextAttempt.timeIntervalSince1970, attemptedAt.timeIntervalSince1970, error, entryID])
            case .markDelayNotified(let entryID):
                try db.execute(sql: "UPDATE queue SET delay_notified = 1 WHERE id = ?", arguments: [entryID])
            }
        }
        return touched
    }

    public func dueQueueEntries(now: Date, limit: Int, excluding: Set<Int64>) async throws -> [QueueEntry] {
        guard limit > 0 else { try checkOpen(); return [] }
        // Fetch enough rows that dropping the excluded ones still leaves `limit` (no huge NOT IN list).
        let (fetch, overflow) = limit.addingReportingOverflow(excluding.count)
        let rowLimit = overflow ? Int.max : fetch
        // A damaged row (changed by hand into something that does not parse) must not stop the queue: it
        // is put on hold with the reason as its last error (`petrel queue list ID` names it, `petrel queue
        // delete ID` removes it) and the scan goes on with the others.
        let (rows, damaged) = try await read { db in
            var entries: [QueueEntry] = [], damaged: [(id: Int64, reason: String)] = []
            for row in try Row.fetchAll(
                db,
                sql: Self.queueSelect + """
                     WHERE q.state = 'active' AND q.next_attempt <= ? AND \(Self.unleased)
                    ORDER BY q.next_attempt, q.id LIMIT ?
                    """, arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970, rowLimit])
            {
                do {
                    entries.append(try Self.queueEntry(row))
                } catch {
                    guard let id = try? row.decode(Int64.self, forColumn: "id") else { throw error }
                    damaged.append((id, "\(error)"))
                }
            }
            return (entries, damaged)
        }
        if !damaged.isEmpty {
            try await write { db in
                for (id, reason) in damaged {
                    try db.execute(
                        sql: "UPDATE queue SET state = 'held', last_error = ? WHERE id = ?",
                        arguments: ["damaged entry held: " + reason, id])
                }
            }
        }
        return Array(rows.lazy.filter { !excluding.contains($0.id) }.prefix(limit))
    }

    public func queueEntries() async throws -> [QueueEntry] {
        try await read { db in
            try Row.fetchAll(db, sql: Self.queueSelect + " ORDER BY q.id").map(Self.queueEntry)
        }
    }

    /// Row by row: a row whose state, addresses or parameters do not parse is listed as damaged.
    public func queueListing() async throws -> [QueueListing] {
        try await read { db in
            try Row.fetchAll(db, sql: Self.queueSelect + " ORDER BY q.id").map { row -> QueueListing in
                do {
                    return .entry(try Self.queueEntry(row))
                } catch {
                    let id = (try? row.decode(Int64.self, forColumn: "id")) ?? -1
                    let reason: String
                    if case .backend(let text) = error as? StoreError { reason = text } else { reason = "\(error)" }
                    return .damaged(id: id, reason: reason)
                }
            }
        }
    }

    public func queueEntries(matching id: String) async throws -> [QueueEntry] {
        let selector = QueueRules.selector(id)
        return try await read { db in
            switch selector {
            case .entryID(let entryID):
                return try Row.fetchAll(db, sql: Self.queueSelect + " WHERE q.id = ?", arguments: [entryID])
                    .map(Self.queueEntry)
            case .queueID(let queueID):
                return try Row.fetchAll(
                    db, sql: Self.queueSelect + " WHERE m.queue_id = ? ORDER BY q.id",
                    arguments: [queueID]
                ).map(Self.queueEntry)
            }
        }
    }

    @discardableResult
    public func completeAttempt(_ updates: [QueueUpdate], notifications: [IncomingMessage]) async throws -> [[Int64]] {
        try await write { db in
            let touched = try Self.apply(updates, db)
            var results: [[Int64]] = []
            results.reserveCapacity(notifications.count)
            for notification in notifications {
                results.append(try Self.insert(notification, into: db, now: self.nowSeconds))
            }
            try Self.deleteUnreferencedMessages(db, among: touched)
            return results
        }
    }

    public func readQueuedMessage(messageID: Int64, offset: Int64, maxLength: Int) async throws -> [UInt8] {
        guard offset >= 0 else { throw StoreError.backend("negative read offset") }
        return try await read { db in
            guard
                let size = try Int64.fetchOne(
                    db,
                    sql: """
                        SELECT m.size FROM messages m
                        WHERE m.id = ? AND EXISTS (SELECT 1 FROM queue q WHERE q.message_id = m.id)
                        """, arguments: [messageID])
            else {
                throw StoreError.messageNotFound(messageID)
            }
            guard maxLength > 0, offset < size else { return [] }
            let blob = try BlobIO.Handle(db, messageID: messageID, writable: false)
            let bytes = try blob.read(at: Int(offset), maxLength: maxLength)
            try blob.close()
            return bytes
        }
    }

    public func setQueueHeld(_ held: Bool, entryIDs: [Int64]) async throws -> Int {
        let ids = Array(Set(entryIDs))
        guard !ids.isEmpty else { try checkOpen(); return 0 }
        let now = nowSeconds
        return try await write { db in
            var changed = 0
            for chunk in ids.chunked(500) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                if held {
                    try db.execute(
                        sql: "UPDATE queue SET state = 'held' WHERE state = 'active' AND id IN (\(marks))",
                        arguments: StatementArguments(chunk))
                } else {
                    try db.execute(
                        sql: """
                            UPDATE queue SET state = 'active', next_attempt = MIN(next_attempt, ?)
                            WHERE state = 'held' AND id IN (\(marks))
                            """, arguments: [now] + StatementArguments(chunk))
                }
                changed += db.changesCount
            }
            return changed
        }
    }

    public func retryQueueEntries(_ entryIDs: [Int64]?, now: Date) async throws -> Int {
        let due = now.timeIntervalSince1970
        guard let entryIDs else {
            return try await write { db in
                try db.execute(
                    sql: "UPDATE queue SET next_attempt = MIN(next_attempt, ?) WHERE state = 'active'",
                    arguments: [due])
                return db.changesCount
            }
        }
        let ids = Array(Set(entryIDs))
        guard !ids.isEmpty else { try checkOpen(); return 0 }
        return try await write { db in
            var changed = 0
            for chunk in ids.chunked(500) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                try db.execute(
                    sql: """
                        UPDATE queue SET next_attempt = MIN(next_attempt, ?) WHERE state = 'active' AND id IN (\(marks))
                        """, arguments: [due] + StatementArguments(chunk))
                changed += db.changesCount
            }
            return changed
        }
    }

    public func deleteQueueEntries(_ entryIDs: [Int64]) async throws -> Int {
        let ids = Array(Set(entryIDs))
        guard !ids.isEmpty else { try checkOpen(); return 0 }
        return try await write { db in
            var changed = 0
            var messageIDs: [Int64] = []
            for chunk in ids.chunked(500) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let args = StatementArguments(chunk)
                messageIDs += try Int64.fetchAll(
                    db, sql: "SELECT DISTINCT message_id FROM queue WHERE id IN (\(marks))",
                    arguments: args)
                try db.execute(sql: "DELETE FROM queue WHERE id IN (\(marks))", arguments: args)
                changed += db.changesCount
            }
            try Self.deleteUnreferencedMessages(db, among: messageIDs)
            return changed
        }
    }

    public func queueSummary(now: Date) async throws -> QueueSummary {
        try await read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT
                          COALESCE(SUM(CASE WHEN state = 'active' AND attempts = 0 THEN 1 ELSE 0 END), 0) AS new,
                          COALESCE(SUM(CASE WHEN state = 'active' AND attempts > 0 THEN 1 ELSE 0 END), 0) AS deferred,
                          COALESCE(SUM(CASE WHEN state = 'held' THEN 1 ELSE 0 END), 0) AS held,
                          MIN(arrived_at) AS oldest,
                          MIN(CASE WHEN state = 'active' AND (lease_until IS NULL OR lease_until <= ?) THEN next_attempt
                                   WHEN state = 'active' THEN MAX(next_attempt, lease_until) END) AS next_due
                        FROM queue
                        """, arguments: [now.timeIntervalSince1970])
            else { return QueueSummary() }
            return QueueSummary(
                new: try row.decode(Int.self, forColumn: "new"),
                deferred: try row.decode(Int.self, forColumn: "deferred"),
                held: try row.decode(Int.self, forColumn: "held"),
                oldestArrival: try row.decode(Double?.self, forColumn: "oldest")
                    .map { Date(timeIntervalSince1970: $0) },
                nextDue: try row.decode(Double?.self, forColumn: "next_due")
                    .map { Date(timeIntervalSince1970: $0) })
        }
    }
}
