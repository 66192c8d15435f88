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
    }

    public func dueQueueEntries(now: Date, limit: Int, excluding: Set<Int64>) async throws -> [QueueEntry] {
        try state.withLock { s in
            try s.checkOpen()
            guard limit > 0 else { return [] }
            let due = s.queue
                .filter { $0.value.state == .active && $0.value.nextAttempt <= now && !excluding.contains($0.key) }
                .sorted { ($0.value.nextAttempt, $0.key) < ($1.value.nextAttempt, $1.key) }
                .prefix(limit)
            return due.compactMap { s.entry(id: $0.key, $0.value) }
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
                var touched = Set<Int64>()
                for update in updates {
                    switch update {
                    case .remove(let entryID):
                        if let row = s.queue.removeValue(forKey: entryID) { touched.insert(row.messageID) }
                    case .retryLater(let entryID, let nextAttempt, let attemptedAt, let error):
                        guard var row = s.queue[entryID] else { continue }
                        row.attempts += 1
                        row.nextAttempt = nextAttempt
                        row.lastAttempt = attemptedAt
                        row.lastError = error
                        s.queue[entryID] = row
                    case .markDelayNotified(let entryID):
                        s.queue[entryID]?.delayNotified = true
                    }
                }
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
                    summary.nextDue = summary.nextDue.map { min($0, row.nextAttempt) } ?? row.nextAttempt
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
    /// The public view of a queue row (nil when its message is missing, which cannot happen).
    func entry(id: Int64, _ row: InMemoryMailStore.QueueRow) -> QueueEntry? {
        guard let m = messages[row.messageID] else { return nil }
        return QueueEntry(
            id: id, messageID: row.messageID, queueID: m.queueID, sender: m.sender,
            recipient: row.recipient, envelope: m.envelope, state: row.state, attempts: row.attempts,
            arrivedAt: row.arrivedAt, nextAttempt: row.nextAttempt, lastAttempt: row.lastAttempt,
            lastError: row.lastError, delayNotified: row.delayNotified, size: Int64(m.bytes.count))
    }
}
