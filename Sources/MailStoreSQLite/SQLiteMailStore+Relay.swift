/// The `RelayDirectory` half of the SQLite store: the access lists (`access_entries` table, migration
/// "v3-relay"). The CLI writes them while the server runs; the server reads them every few seconds.
import Foundation
import GRDB
import MailCore
import MailStore

extension SQLiteMailStore {
    public func addAccessEntry(_ value: String, to list: AccessList) async throws -> Bool {
        try AccessEntry.checkStorable(value)
        let now = nowSeconds
        return try await write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO access_entries (list, value, added_at) VALUES (?, ?, ?)",
                arguments: [list.rawValue, value, now])
            return db.changesCount > 0
        }
    }

    public func removeAccessEntry(_ value: String, from list: AccessList) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM access_entries WHERE list = ? AND value = ?", arguments: [list.rawValue, value])
            return db.changesCount > 0
        }
    }

    public func accessEntries() async throws -> [AccessEntry] {
        let rows = try await read { db in
            try Row.fetchAll(db, sql: "SELECT list, value, added_at FROM access_entries").map { row -> AccessEntry? in
                guard let list = AccessList(rawValue: try row.decode(String.self, forColumn: "list")) else { return nil }
                return AccessEntry(
                    list: list, value: try row.decode(String.self, forColumn: "value"),
                    addedAt: Date(timeIntervalSince1970: try row.decode(Double.self, forColumn: "added_at")))
            }
        }
        return rows.compactMap { $0 }.sorted(by: AccessEntry.storeOrder)
    }
}
