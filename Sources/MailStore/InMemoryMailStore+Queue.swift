/// The `QueueStore` half of the in-memory store: the same rules as the SQLite backend
/// (SQLiteMailStore+Queue.swift), checked by the shared conformance suite. Every method runs under
/// the store's one lock; `completeAttempt` restores the previous state when anything fails, so it is
/// all-or-nothing like the SQLite transaction.
import Foundation
import MailCore

extension InMemoryMailStore {
    /// One queue entry as the in-memory store keeps it (message fields are joined in on read).
    struct QueueRow {
        var messageID: Int64
        var recipient: OutboundRecipient
        var state: QueueState
        var attempts: Int
        var arrivedAt: Date
        var nextAttempt: Date
        var lastAttempt: Date?
        var lastError: String?
        var delayNotified: Bool
        /// The node working on it and until when (nil: nobody).
        var lease: QueueLease? = nil

        /// Free to claim at `now`: nobody's lease runs.
        func isUnleased(at now: Date) -> Bool { !(lease?.isHeld(at: now) ?? false) }

        func isDue(at now: Date) -> Bool { state == .active && nextAttempt <= now && isUnleased(at: now) }

        /// `owner` holds an unexpired lease at `now`.
        func isLeased(by owner: String, at now: Date) -> Bool { lease.map { $0.owner == owner && $0.isHeld(at: now) } ?? false }
    }

    public func dueQueueEntries(now: Date, limit: Int, excluding: Set<Int64>) async throws -> [QueueEntry] {
        try state.withLock { s in
            try s.checkOpen()
            guard limit > 0 else { return [] }
            let due = s.queue
                .filter { $0.value.isDue(at: now) && !excluding.contains($0.key) }
                .sorted { ($0.value.nextAttempt, $0.key) < ($1.value.nextAttempt, $1.key) }
                .prefix(limit)
            return due.compactMap { s.entry(id: $0.key, $0.value) }
        }
    }

    public func claimQueueEntries(_ claim: QueueClaim) async throws -> [QueueEntry] {
        try state.withLock { s in
            try s.checkOpen()
            guard claim.limit > 0 else { return [] }
            let wanted = claim.entryIDs.map(Set.init)
            let picked = s.queue
                .filter { $0.value.isDue(at: claim.now) && (wanted?.contains($0.key) ?? true) }
                .sorted { ($0.value.nextAttempt, $0.key) < ($1.value.nextAttempt, $1.key) }
                .prefix(claim.limit)
                .map(\.key)
            let lease = QueueLease(owner: claim.owner, until: claim.leaseUntil)
            return picked.compactMap { id in
                s.queue[id]?.lease = lease
                return s.queue[id].flatMap { s.entry(id: id, $0) }
            }
        }
    }

    public func renewQueueLeases(_ entryIDs: [Int64], owner: String, now: Date, leaseUntil: Date) async throws -> Set<Int64> {
        try state.withLock { s in
            try s.checkOpen()
            var renewed = Set<Int64>()
            for id in Set(entryIDs) where s.queue[id]?.isLeased(by: owner, at: now) ?? false {
                s.queue[id]?.lease = QueueLease(owner: owner, until: leaseUntil)
                renewed.insert(id)
            }
            return renewed
        }
    }

    public func releaseQueueLeases(_ entryIDs: [Int64], owner: String) async throws -> Int {
        try state.withLock { s in
            try s.checkOpen()
            var released = 0
            for id in Set(entryIDs) where s.queue[id]?.lease?.owner == owner {
                s.queue[id]?.lease = nil
                released += 1
            }
            return released
        }
    }

    public func releaseAllQueueLeases(owner: String) async throws -> Int {
        try state.withLock { s in
            try s.checkOpen()
            let ids = s.queue.filter { $0.value.lease?.owner == owner }.map(\.key)
            for id in ids { s.queue[id]?.lease = nil }
            return ids.count
        }
    }

    public func completeLeasedAttempts(_ attempts: [LeasedAttempt], owner: String, now: Date) async throws -> [LeasedAttemptResult] {
        let bodies = try attempts.map { try $0.notifications.map { try Self.storedBytes($0) } }
        return try state.withLock { s in
            try s.checkOpen()
            let before = s
            do {
                var results: [LeasedAttemptResult] = []
                var touched = Set<Int64>()
                for (attempt, attemptBodies) in zip(attempts, bodies) {
                    let lost = attempt.entryIDs.filter { !(s.queue[$0]?.isLeased(by: owner, at: now) ?? false) }
                    guard lost.isEmpty else {
                        results.append(.leaseLost(entryIDs: lost))
                        continue
                    }
                    touched.formUnion(s.apply(attempt.updates))
                    for id in attempt.entryIDs { s.queue[id]?.lease = nil }
                    for (notification, body) in zip(attempt.notifications, attemptBodies) {
                        _ = try s.insert(notification, bytes: body)
                    }
                    results.append(.recorded)
                }
                s.removeUnreferencedMessages(among: touched)
                return results
            } catch {
                s = before
                throw error
            }
        }
    }

    public func queueEntries() async throws -> [QueueEntry] {
        try state.withLock { s in
            try s.checkOpen()
            return s.queue.sorted { $0.key < $1.key }.compactMap { s.entry(id: $0.key, $0.value) }
        }
    }

    public func queueEntries(matching id: String) async throws -> [QueueEntry] {
        let selector = QueueRules.selector(id)
        return try state.withLock { s in
            try s.checkOpen()
            switch selector {
            case .entryID(let entryID):
                guard let row = s.queue[entryID], let entry = s.entry(id: entryID, row) else { return [] }
                return [entry]
            case .queueID(let queueID):
                return s.queue.sorted { $0.key < $1.key }
                    .compactMap { s.entry(id: $0.key, $0.value) }
                    .filter { $0.queueID == queueID }
            }
        }
    }

    @discardableResult
    public func completeAttempt(_ updates: [QueueUpdate], notifications: [IncomingMessage]) async throws -> [[Int64]] {
        let bodies = try notifications.map { try Self.storedBytes($0) }
        return try state.withLock { s in
            try s.checkOpen()
            let before = s
            do {
                let touched = s.apply(updates)
                var results: [[Int64]] = []
                for (notification, body) in zip(notifications, bodies) {
                    results.append(try s.insert(notification, bytes: body))
                }
                s.removeUnreferencedMessages(among: touched)
                return results
            } catch {
                s = before
                throw error
            }
        }
    }

    public func readQueuedMessage(messageID: Int64, offset: Int64, maxLength: Int) async throws -> [UInt8] {
        guard offset >= 0 else { throw StoreError.backend("negative read offset") }
        return try state.withLock { s in
            try s.checkOpen()
            guard s.queue.values.contains(where: { $0.messageID == messageID }), let m = s.messages[messageID] else {
                throw StoreError.messageNotFound(messageID)
            }
            let count = Int64(m.bytes.count)
            guard maxLength > 0, offset < count else { return [] }
            let end = offset + min(count - offset, Int64(maxLength))
            return Array(m.bytes[Int(offset)..<Int(end)])
        }
    }

    public func setQueueHeld(_ held: Bool, entryIDs: [Int64]) async throws -> Int {
        let now = clock.now
        return try state.withLock { s in
            try s.checkOpen()
            var changed = 0
            for id in Set(entryIDs) {
                guard var row = s.queue[id] else { continue }
                if held {
                    guard row.state == .active else { continue }
                    row.state = .held
                } else {
                    guard row.state == .held else { continue }
                    row.state = .active
                    row.nextAttempt = min(row.nextAttempt, now)
                }
                s.queue[id] = row
                changed += 1
            }
            return changed
        }
    }

    public func retryQueueEntries(_ entryIDs: [Int64]?, now: Date) async throws -> Int {
        try state.withLock { s in
            try s.checkOpen()
            let ids = entryIDs.map(Set.init) ?? Set(s.queue.keys)
            var changed = 0
            for id in ids {
                guard var row = s.queue[id], row.state == .active else { continue }
                row.nextAttempt = min(row.nextAttempt, now)
                s.queue[id] = row
                changed += 1
            }
            return changed
        }
    }

    public func deleteQueueEntries(_ entryIDs: [Int64]) async throws -> Int {
        try state.withLock { s in
            try s.checkOpen()
            var touched = Set<Int64>()
            var changed = 0
            for id in Set(entryIDs) {
                guard let row = s.queue.removeValue(forKey: id) else { continue }
                touched.insert(row.messageID)
                changed += 1
            }
            s.removeUnreferencedMessages(among: touched)
            return changed
        }
    }

    public func queueSummary(now: Date) async throws -> QueueSummary {
        try state.withLock { s in
            try s.checkOpen()
            var summary = QueueSummary()
            for row in s.queue.values {
                switch row.state {
                case .active:
                    if row.attempts == 0 { summary.new += 1 } else { summary.deferred += 1 }
                    // A leased entry is due again for others only when its lease ends.
                    let due = row.isUnleased(at: now) ? row.nextAttempt : max(row.nextAttempt, row.lease?.until ?? row.nextAttempt)
                    summary.nextDue = summary.nextDue.map { min($0, due) } ?? due
                case .held:
                    summary.held += 1
                }
                summary.oldestArrival = summary.oldestArrival.map { min($0, row.arrivedAt) } ?? row.arrivedAt
            }
            return summary
        }
    }
}

extension InMemoryMailStore.State {
    /// Applies queue updates; returns the message ids of removed entries. Updates of missing entries
    /// are ignored; `retryLater` ends the entry's lease.
    mutating func apply(_ updates: [QueueUpdate]) -> Set<Int64> {
        var touched = Set<Int64>()
        for update in updates {
            switch update {
            case .remove(let entryID):
                if let row = queue.removeValue(forKey: entryID) { touched.insert(row.messageID) }
            case .retryLater(let entryID, let nextAttempt, let attemptedAt, let error):
                guard var row = queue[entryID] else { continue }
                row.attempts += 1
                row.nextAttempt = nextAttempt
                row.lastAttempt = attemptedAt
                row.lastError = error
                row.lease = nil
                queue[entryID] = row
            case .markDelayNotified(let entryID):
                queue[entryID]?.delayNotified = true
            }
        }
        return touched
    }

    /// The public view of a queue row (nil when its message is missing, which cannot happen).
    func entry(id: Int64, _ row: InMemoryMailStore.QueueRow) -> QueueEntry? {
        guard let m = messages[row.messageID] else { return nil }
        return QueueEntry(
            id: id, messageID: row.messageID, queueID: m.queueID, sender: m.sender,
            recipient: row.recipient, envelope: m.envelope, state: row.state, attempts: row.attempts,
            arrivedAt: row.arrivedAt, nextAttempt: row.nextAttempt, lastAttempt: row.lastAttempt,
            lastError: row.lastError, delayNotified: row.delayNotified, size: Int64(m.bytes.count), lease: row.lease)
    }
}
