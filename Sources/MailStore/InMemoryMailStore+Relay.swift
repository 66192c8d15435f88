/// The `RelayDirectory` half of the in-memory store (access lists, see RelayDirectory.swift): the same
/// rules as the SQLite backend (SQLiteMailStore+Relay.swift), under the store's one lock.
import Foundation
import MailCore

extension InMemoryMailStore {
    public func addAccessEntry(_ value: String, to list: AccessList) async throws -> Bool {
        try AccessEntry.checkStorable(value)
        return try state.withLock { s in
            try s.checkOpen()
            guard s.accessEntries[list]?[value] == nil else { return false }
            s.accessEntries[list, default: [:]][value] = clock.now
            return true
        }
    }

    public func removeAccessEntry(_ value: String, from list: AccessList) async throws -> Bool {
        try state.withLock { s in
            try s.checkOpen()
            return s.accessEntries[list]?.removeValue(forKey: value) != nil
        }
    }

    public func accessEntries() async throws -> [AccessEntry] {
        try state.withLock { s in
            try s.checkOpen()
            return s.accessEntries.flatMap { list, values in
                values.map { AccessEntry(list: list, value: $0.key, addedAt: $0.value) }
            }.sorted(by: AccessEntry.storeOrder)
        }
    }
}
