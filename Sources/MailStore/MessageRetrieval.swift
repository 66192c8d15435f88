/// Retrieval for POP3 (RFC 1939 §5 RETR/TOP): a listing that carries each delivery's body key, and an
/// async ranged read by that key returning one bounded chunk as a `ByteBuffer` (the server streams a
/// message chunk by chunk, so a 50 MB RETR never sits whole in memory).
///
/// Each backend does its own blocking work where it belongs: SQLite reads the BLOB on a NIO thread pool
/// inside the store, PostgreSQL reads the 256 KiB `message_parts` through its client's pool, the
/// in-memory store copies under its lock. No caller blocks a thread.
///
/// Every backend implements it (SQLiteMailStore+Retrieval.swift, PostgresMailStore+Relay.swift,
/// InMemoryMailStore+Retrieval.swift); `MailStore` includes it.
import NIOCore

/// One delivery of a mailbox as a POP3 session retrieves it.
public struct RetrievableMessage: Hashable, Sendable {
    /// The delivery id (the POP3 UIDL).
    public var deliveryID: Int64
    /// The backend's key of the stored body (SQLite: `messages.id`). Opaque to callers; only meaningful
    /// together with `deliveryID` (a body key alone authorizes nothing).
    public var bodyID: Int64
    /// The exact stored size in octets (trace headers included, CRLF line ends).
    public var size: Int64

    public init(deliveryID: Int64, bodyID: Int64, size: Int64) {
        self.deliveryID = deliveryID
        self.bodyID = bodyID
        self.size = size
    }
}

public protocol MessageRetrieval: Sendable {
    /// The deliveries of a mailbox with their body keys and sizes, oldest first (bodies are not read).
    func retrievableMessages(mailboxID: Int64) async throws -> [RetrievableMessage]

    /// Reads up to `maxLength` octets of `message` from `offset` (at most `RetrievalLimits.maxChunk`,
    /// larger requests are clipped); an empty buffer means the end.
    /// The delivery must still exist, belong to `mailboxID` and refer to `message.bodyID`
    /// (`.messageNotFound(deliveryID)` otherwise), so a stale or forged key never reads another mailbox.
    func readMessage(mailboxID: Int64, message: RetrievableMessage, offset: Int64, maxLength: Int) async throws -> ByteBuffer
}

public enum RetrievalLimits {
    /// The most octets one `readMessage(mailboxID:message:offset:maxLength:)` returns: a caller's
    /// `maxLength` is clipped to it, so no request makes a backend hold a whole large message.
    public static let maxChunk = 1024 * 1024

    /// `maxLength` clipped to `maxChunk` (and to 0 from below).
    public static func clip(_ maxLength: Int) -> Int { min(max(0, maxLength), maxChunk) }
}
