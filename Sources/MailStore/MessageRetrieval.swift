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
import MailCore
import NIOCore

/// One delivery of a mailbox as a POP3 session retrieves it.
public struct RetrievableMessage: Hashable, Sendable {
    /// The delivery id.
    public var deliveryID: Int64
    /// The POP3 unique-id (RFC 1939 §7 UIDL): `uniqueID(uidValidity:uid:)` of the message in INBOX for the
    /// stores with IMAP folders; the decimal delivery id where a store has no folders (in-memory).
    public var uniqueID: String
    /// The backend's key of the stored body (SQLite: `messages.id`). Opaque to callers; only meaningful
    /// together with `deliveryID` (a body key alone authorizes nothing).
    public var bodyID: Int64
    /// The exact stored size in octets (trace headers included, CRLF line ends).
    public var size: Int64
    /// What is known about the stored octets (`IncomingMessage.storedForm` at delivery; empty for a
    /// message stored without it).
    public var form: BodyForm

    public init(deliveryID: Int64, bodyID: Int64, size: Int64, uniqueID: String? = nil, form: BodyForm = []) {
        self.form = form
        self.deliveryID = deliveryID
        self.bodyID = bodyID
        self.size = size
        self.uniqueID = uniqueID ?? String(deliveryID)
    }

    /// The POP3 unique-id of the message with `uid` in an INBOX whose UIDVALIDITY is `uidValidity`: both in
    /// eight lower-case hex digits, as Dovecot's default `pop3_uidl_format = %08Xu%08Xv` (there upper-case,
    /// UID first; Petrel puts UIDVALIDITY first so ids sort by INBOX generation). 16 characters of
    /// 0x21-0x7E (RFC 1939 §7 allows 1-70). Unique: a UID is never reused under one UIDVALIDITY, and a
    /// re-created store or INBOX gets a new UIDVALIDITY (seconds since 1970, above every earlier value), so
    /// a client that keeps mail on the server never takes a new message for one it already has.
    public static func uniqueID(uidValidity: UInt32, uid: UInt32) -> String {
        hex8(uidValidity) + hex8(uid)
    }

    private static func hex8(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.utf8.count) + digits
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

    /// Each of `messages` from its start, up to its size (clipped to `RetrievalLimits.maxChunk`), read
    /// together: POP3's read-ahead of the next small messages. One result per message, in order, each what
    /// `readMessage(mailboxID:message:offset:0,maxLength:size)` gives. SQLite reads them in one hand-off to
    /// its reading thread and one read transaction; the other stores read them one after another (the
    /// default below).
    func readMessages(mailboxID: Int64, messages: [RetrievableMessage]) async -> [Result<ByteBuffer, any Error>]
}

extension MessageRetrieval {
    public func readMessages(mailboxID: Int64, messages: [RetrievableMessage]) async -> [Result<ByteBuffer, any Error>] {
        var out: [Result<ByteBuffer, any Error>] = []
        out.reserveCapacity(messages.count)
        for message in messages {
            do {
                out.append(
                    .success(try await readMessage(mailboxID: mailboxID, message: message, offset: 0, maxLength: Int(clamping: message.size))))
            } catch {
                out.append(.failure(error))
            }
        }
        return out
    }
}

public enum RetrievalLimits {
    /// The most octets one `readMessage(mailboxID:message:offset:maxLength:)` returns: a caller's
    /// `maxLength` is clipped to it, so no request makes a backend hold a whole large message.
    public static let maxChunk = 1024 * 1024

    /// `maxLength` clipped to `maxChunk` (and to 0 from below).
    public static func clip(_ maxLength: Int) -> Int { min(max(0, maxLength), maxChunk) }
}
