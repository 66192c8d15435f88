/// Shared fixtures for the MailStore conformance suite: one factory per backend, each making a fresh
/// store in its own temporary directory, and small builders for messages.
import Foundation
import MailCore
import MailStore
import MailStorePostgres
import MailStoreSQLite
import MailTestSupport
import NIOCore
import Testing

enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory
    case sqlite
    /// A schema of its own in the test process's PostgreSQL cluster (PostgresTestCluster.shared).
    case postgresql

    /// Every backend; PostgreSQL only when it is installed (or CI demands it: then its tests fail).
    /// PostgresMailStoreTests.clusterAvailable names the reason when it is skipped.
    static var allCases: [Backend] { PostgresTestCluster.shouldRun ? [.memory, .sqlite, .postgresql] : [.memory, .sqlite] }

    var testDescription: String { rawValue }

    func make() throws -> Fixture {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("petrel-store-\(rawValue)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        switch self {
        case .memory: return Fixture(store: InMemoryMailStore(), directory: dir)
        case .sqlite: return Fixture(store: try SQLiteMailStore(directory: dir), directory: dir)
        case .postgresql: return Fixture(store: try Self.postgresStore(), directory: dir)
        }
    }

    /// A PostgreSQL store in a new schema of the shared cluster.
    static func postgresStore(
        schema: String = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(), clock: any MailClock = WallClock(),
        selectCacheMinimumCount: Int = 1000
    ) throws -> PostgresMailStore {
        let cluster = try PostgresTestCluster.shared.get()
        var configuration = PostgresStoreConfiguration(
            host: cluster.host, port: cluster.port, database: cluster.database, user: cluster.user,
            password: cluster.password, tls: .disable, poolSize: 4, schema: schema)
        configuration.selectCacheMinimumCount = selectCacheMinimumCount
        return try PostgresMailStore(configuration: configuration, clock: clock)
    }
}

struct Fixture: Sendable {
    let store: any MailStore
    let directory: String

    /// Number of message bodies the store keeps.
    func storedBodies() async throws -> Int {
        if let s = store as? InMemoryMailStore { return try await s.storedMessageCount() }
        if let s = store as? SQLiteMailStore { return try await s.storedMessageCount() }
        if let s = store as? PostgresMailStore { return try await s.storedMessageCount() }
        Issue.record("unknown backend")
        return -1
    }

    func cleanup() async {
        try? await store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Writes `bytes` to a spool file in the fixture directory and returns its path.
    func spool(_ bytes: [UInt8], name: String = UUID().uuidString) throws -> String {
        let path = (directory as NSString).appendingPathComponent("spool-\(name)")
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw StoreError.backend("cannot write \(path)")
        }
        return path
    }
}

func address(_ text: String) throws -> EmailAddress {
    try #require(EmailAddress(text))
}

func message(
    to recipients: [Int64], body: [UInt8] = Array("Subject: hi\r\n\r\nhello\r\n".utf8),
    trace: [UInt8] = Array("Received: from test\r\n".utf8), queueID: String = "Q1",
    sender: MailPath = .null, at date: Date = Date(timeIntervalSince1970: 1_700_000_000)
) -> IncomingMessage {
    IncomingMessage(
        queueID: queueID, sender: sender, localRecipients: recipients, receivedAt: date,
        traceHeaders: trace, body: .bytes(body))
}

/// Reads a whole message back in chunks of `chunk` octets.
func readAll(_ store: any MailStore, mailbox: Int64, delivery: Int64, chunk: Int) async throws -> [UInt8] {
    var out: [UInt8] = []
    while true {
        let part = try await store.readMessage(mailboxID: mailbox, deliveryID: delivery, offset: Int64(out.count), maxLength: chunk)
        if part.isEmpty { return out }
        #expect(part.count <= chunk)
        out += part
    }
}

/// Deterministic pseudo-random bytes.
func patternBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var x = seed
    var out = [UInt8]()
    out.reserveCapacity(count)
    for _ in 0..<count {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17
        out.append(UInt8(truncatingIfNeeded: x))
    }
    return out
}

extension MessageRetrieval {
    /// A ranged read by key as octets (the tests compare arrays).
    func readBytes(mailboxID: Int64, message: RetrievableMessage, offset: Int64, maxLength: Int) async throws -> [UInt8] {
        Array(try await readMessage(mailboxID: mailboxID, message: message, offset: offset, maxLength: maxLength).readableBytesView)
    }
}
