/// `MessageRetrieval` for the in-memory store (tests): the listing with body keys and ranged reads
/// by key, checked against the delivery (see MessageRetrieval.swift; RFC 1939 §5 RETR/TOP).
extension InMemoryMailStore {
    public func retrievableMessages(mailboxID: Int64) async throws -> [RetrievableMessage] {
        try state.withLock { s in
            try s.checkOpen()
            return s.deliveries
                .filter { $0.value.mailboxID == mailboxID }
                .sorted { $0.key < $1.key }
                .compactMap { id, d in
                    guard let m = s.messages[d.messageID] else { return nil }
                    return RetrievableMessage(deliveryID: id, bodyID: d.messageID, size: Int64(m.bytes.count))
                }
        }
    }

    public func readMessageBlocking(
        mailboxID: Int64, message: RetrievableMessage, offset: Int64,
        maxLength: Int
    ) throws -> [UInt8] {
        try state.withLock { s in
            try s.checkOpen()
            guard let d = s.deliveries[message.deliveryID], d.mailboxID == mailboxID, d.messageID == message.bodyID,
                let m = s.messages[d.messageID]
            else {
                throw StoreError.messageNotFound(message.deliveryID)
            }
            guard offset >= 0 else { throw StoreError.backend("negative read offset") }
            let count = Int64(m.bytes.count)
            guard maxLength > 0, offset < count else { return [] }
            let end = min(count, offset + Int64(maxLength))
            return Array(m.bytes[Int(offset)..<Int(end)])
        }
    }
}
