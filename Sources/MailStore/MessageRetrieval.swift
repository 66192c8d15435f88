/// Fast retrieval for POP3 (RFC 1939 §5 RETR/TOP): a listing that carries each delivery's body key, and a
/// blocking ranged read by that key that a server runs on a thread pool (one hand-off per chunk instead of
/// the event loop → Swift task → database queue → task → event loop round trip of `readMessage`).
///
/// Every backend implements it (SQLiteMailStore+Retrieval.swift, InMemoryMailStore+Retrieval.swift);
/// `MailStore` includes it.

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

    /// Reads up to `maxLength` octets of `message` from `offset`; an empty result means the end.
    /// The delivery must still exist, belong to `mailboxID` and refer to `message.bodyID`
    /// (`.messageNotFound(deliveryID)` otherwise), so a stale or forged key never reads another mailbox.
    ///
    /// **Blocks the calling thread** (disk I/O): call it from a thread pool (e.g. NIO's `NIOThreadPool`),
    /// never from an event loop or for long from a Swift concurrency executor thread.
    func readMessageBlocking(mailboxID: Int64, message: RetrievableMessage, offset: Int64, maxLength: Int) throws -> [UInt8]
}
