/// A SQLite store in a fresh temporary directory, with the domains and mailboxes a test names: what
/// tests of the SQLite backend and of code on top of it set up again and again. `remove()` closes the
/// store and deletes the directory.
import Foundation
import MailCore
import MailStore
import MailStoreSQLite

public struct SQLiteStoreFixture: Sendable {
    public let directory: String
    public let store: SQLiteMailStore

    /// Opens the store (with `clock` for the times it stamps) and adds `domains`, then `mailboxes`
    /// (addresses, no password).
    public static func make(
        domains: [String] = [], mailboxes: [String] = [], clock: any MailClock = WallClock()
    ) async throws -> SQLiteStoreFixture {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-store-\(UUID().uuidString)").path
        let store = try SQLiteMailStore(directory: directory, clock: clock)
        for domain in domains { _ = try await store.addDomain(domain) }
        for text in mailboxes {
            guard let address = EmailAddress(text) else { throw FixtureError(description: "not an address: \(text)") }
            _ = try await store.addMailbox(address, passwordHash: nil, isAdmin: false)
        }
        return SQLiteStoreFixture(directory: directory, store: store)
    }

    public func remove() async {
        try? await store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
}
