/// `MessageRetrieval` for the in-memory store (tests): the listing with body keys and ranged reads
/// by key, checked against the delivery (see MessageRetrieval.swift; RFC 1939 §5 RETR/TOP), and the
/// maildrop lease table (MaildropLocking.swift).
import NIOCore

extension InMemoryMailStore {
    public func retrievableMessages(mailboxID: Int64) async throws -> [RetrievableMessage] {
        try state.withLock { s in
            try s.checkOpen()
            return s.deliveries
                .filter { $0.value.mailboxID == mailboxID }
                .sorted { $0.key < $1.key }
                .compactMap { id, d in
                    guard let m = s.messages[d.messageID] else { return nil }
                    return RetrievableMessage(deliveryID: id, bodyID: d.messageID, size: Int64(m.bytes.count), form: m.form)
                }
        }
    }

    public func readMessage(
        mailboxID: Int64, message: RetrievableMessage, offset: Int64,
        maxLength: Int
    ) async throws -> ByteBuffer {
        try state.withLock { s in
            try s.checkOpen()
            guard let d = s.deliveries[message.deliveryID], d.mailboxID == mailboxID, d.messageID == message.bodyID,
                let m = s.messages[d.messageID]
            else {
                throw StoreError.messageNotFound(message.deliveryID)
            }
            guard offset >= 0 else { throw StoreError.backend("negative read offset") }
            let count = Int64(m.bytes.count)
            let length = RetrievalLimits.clip(maxLength)
            guard length > 0, offset < count else { return ByteBuffer() }
            let end = min(count, offset + Int64(length))
            return ByteBuffer(bytes: m.bytes[Int(offset)..<Int(end)])
        }
    }

    // MARK: - MaildropLocking

    public func acquireMaildropLock(mailboxID: Int64, owner: String, duration: Duration) async throws -> MaildropLease? {
        let now = clock.now
        return try state.withLock { s in
            try s.checkOpen()
            guard s.mailboxes[mailboxID] != nil else { throw StoreError.mailboxNotFound("id \(mailboxID)") }
            if let held = s.maildropLocks[mailboxID], held.owner != owner, held.expiresAt > now { return nil }
            let lease = MaildropLease(mailboxID: mailboxID, owner: owner, expiresAt: now.addingTimeInterval(duration.timeInterval))
            s.maildropLocks[mailboxID] = lease
            return lease
        }
    }

    public func renewMaildropLock(_ lease: MaildropLease, duration: Duration) async throws -> MaildropLease? {
        let now = clock.now
        return try state.withLock { s in
            try s.checkOpen()
            guard var held = s.maildropLocks[lease.mailboxID], held.owner == lease.owner else { return nil }
            held.expiresAt = now.addingTimeInterval(duration.timeInterval)
            s.maildropLocks[lease.mailboxID] = held
            return held
        }
    }

    public func releaseMaildropLock(_ lease: MaildropLease) async throws {
        try state.withLock { s in
            try s.checkOpen()
            if s.maildropLocks[lease.mailboxID]?.owner == lease.owner { s.maildropLocks[lease.mailboxID] = nil }
        }
    }
}
