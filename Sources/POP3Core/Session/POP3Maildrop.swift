/// The maildrop snapshot of one POP3 session (RFC 1939 §5): the messages listed at login,
/// numbered from 1, with deletion marks that only take effect in the UPDATE state (RFC 1939 §6).
///
/// Messages marked as deleted are invisible to STAT, LIST, RETR, TOP and UIDL; RSET unmarks them.

public struct POP3Maildrop: Hashable, Sendable {
    /// The messages in the order listed at login; message number n is `entries[n - 1]`.
    public let entries: [MaildropEntry]
    private var deleted: [Bool]
    /// Delivery id -> message number (the first, should an id repeat).
    private let numbers: [Int64: Int]

    public init(_ entries: [MaildropEntry]) {
        self.entries = entries
        self.deleted = Array(repeating: false, count: entries.count)
        self.numbers = Dictionary(entries.enumerated().map { ($1.deliveryID, $0 + 1) }, uniquingKeysWith: { first, _ in first })
    }

    /// The 1-based number of the message with this delivery id (marked deleted or not), or nil.
    public func number(ofDelivery deliveryID: Int64) -> Int? { numbers[deliveryID] }

    /// The entry with this 1-based number, marked deleted or not, or nil when out of range.
    public func entry(_ number: Int) -> MaildropEntry? {
        guard number >= 1, number <= entries.count else { return nil }
        return entries[number - 1]
    }

    /// The outcome of marking a message as deleted.
    public enum DeleteOutcome: Hashable, Sendable {
        case deleted
        case noSuchMessage
        case alreadyDeleted
    }

    /// The message with this 1-based number, or nil when the number is out of range or the message
    /// is marked as deleted.
    public func message(_ number: Int) -> MaildropEntry? {
        guard number >= 1, number <= entries.count, !deleted[number - 1] else { return nil }
        return entries[number - 1]
    }

    /// Messages not marked as deleted, with their numbers (numbers never change within a session).
    public var visibleMessages: [(number: Int, entry: MaildropEntry)] {
        entries.enumerated().compactMap { index, entry in deleted[index] ? nil : (index + 1, entry) }
    }

    /// How many messages are not marked as deleted.
    public var visibleCount: Int { deleted.lazy.filter { !$0 }.count }

    /// The total size of the messages not marked as deleted, in octets.
    public var visibleSize: Int64 {
        var total: Int64 = 0
        for (index, entry) in entries.enumerated() where !deleted[index] { total &+= entry.size }
        return total
    }

    /// The delivery ids of the messages marked as deleted, in message-number order.
    public var deletedIDs: [Int64] {
        entries.enumerated().compactMap { index, entry in deleted[index] ? entry.deliveryID : nil }
    }

    /// Marks a message as deleted (RFC 1939 §5 DELE).
    public mutating func markDeleted(_ number: Int) -> DeleteOutcome {
        guard number >= 1, number <= entries.count else { return .noSuchMessage }
        if deleted[number - 1] { return .alreadyDeleted }
        deleted[number - 1] = true
        return .deleted
    }

    /// Removes every deletion mark (RFC 1939 §5 RSET).
    public mutating func reset() {
        deleted = Array(repeating: false, count: entries.count)
    }
}
