/// An in-memory `MailStore` for tests and experiments: the same rules as the SQLite backend
/// (see MailStore.swift), nothing durable. All state sits behind one lock.
/// The outbound queue half is in InMemoryMailStore+Queue.swift.
///
/// Implements the postmaster rules of RFC 5321 §4.5.1 and the bare `<Postmaster>` of §4.1.1.3.
import Foundation
import MailCore
import Synchronization

public final class InMemoryMailStore: MailStore, Sendable {
    struct Domain {
        var id: Int64
        var name: String
        var postmasterID: Int64?
        var createdAt: Date
    }

    struct Mailbox {
        var id: Int64
        var address: String
        var domain: String
        var passwordHash: String?
        var scramVerifier: String?
        var isLocked: Bool
        var isAdmin: Bool
        var createdAt: Date
        var quota = MailboxQuota.unlimited
    }

    struct Message {
        var queueID: String
        var sender: MailPath
        var receivedAt: Date
        var bytes: [UInt8]
        var envelope: OutboundEnvelope
        var form: BodyForm = []
    }

    struct Delivery {
        var mailboxID: Int64
        var messageID: Int64
    }

    struct State {
        var closed = false
        var nextDomainID: Int64 = 1
        var nextMailboxID: Int64 = 1
        var nextMessageID: Int64 = 1
        var nextDeliveryID: Int64 = 1
        var nextQueueEntryID: Int64 = 1
        var domains: [String: Domain] = [:]
        var mailboxes: [Int64: Mailbox] = [:]
        var mailboxByKey: [String: Int64] = [:]
        var messages: [Int64: Message] = [:]
        /// Delivery id → record; ids only grow.
        var deliveries: [Int64: Delivery] = [:]
        /// Queue entry id → entry (queue id, sender, envelope and size are filled from the message on read).
        var queue: [Int64: QueueRow] = [:]
        /// Access lists (InMemoryMailStore+Relay.swift).
        var accessEntries: [AccessList: [String: Date]] = [:]
        /// POP3 maildrop leases by mailbox (InMemoryMailStore+Retrieval.swift).
        var maildropLocks: [Int64: MaildropLease] = [:]

        func checkOpen() throws {
            if closed { throw StoreError.backend("store is closed") }
        }

        func info(_ m: Mailbox) -> MailboxInfo {
            let used = usage(of: m.id)
            return MailboxInfo(
                id: m.id, address: m.address, domain: m.domain, passwordHash: m.passwordHash,
                isLocked: m.isLocked, isAdmin: m.isAdmin, createdAt: m.createdAt,
                messageCount: Int(used.messages), totalSize: used.storage, scramVerifier: m.scramVerifier,
                quota: m.quota)
        }

        /// Messages and octets of a mailbox's deliveries.
        func usage(of mailboxID: Int64) -> MailboxUsage {
            var used = MailboxUsage(messages: 0, storage: 0)
            for d in deliveries.values where d.mailboxID == mailboxID {
                used.messages += 1
                used.storage += Int64(messages[d.messageID]?.bytes.count ?? 0)
            }
            return used
        }

        func domainInfo(_ d: Domain) -> DomainInfo {
            DomainInfo(name: d.name, postmaster: d.postmasterID.flatMap { mailboxes[$0]?.address }, createdAt: d.createdAt)
        }

        /// Removes the deliveries for which `predicate` holds, then bodies nothing references.
        mutating func removeDeliveries(where predicate: (Delivery) -> Bool) {
            var touched = Set<Int64>()
            for (id, d) in deliveries where predicate(d) {
                deliveries[id] = nil
                touched.insert(d.messageID)
            }
            removeUnreferencedMessages(among: touched)
        }

        /// Removes those of `messageIDs` that neither a delivery nor a queue entry references.
        mutating func removeUnreferencedMessages(among messageIDs: Set<Int64>) {
            guard !messageIDs.isEmpty else { return }
            let stillReferenced = Set(deliveries.values.map(\.messageID)).union(queue.values.map(\.messageID))
            for id in messageIDs where !stillReferenced.contains(id) { messages[id] = nil }
        }

        /// Stores a message: body once, its deliveries and queue entries (as `MessageStore.deliver`).
        /// Checks everything before changing anything, so a throw leaves the state untouched.
        mutating func insert(_ message: IncomingMessage, bytes: [UInt8]) throws -> [Int64] {
            var seen = Set<Int64>()
            let recipients = message.localRecipients.filter { seen.insert($0).inserted }
            let remote = QueueRules.distinctRemoteRecipients(message.remoteRecipients)
            for id in recipients where mailboxes[id] == nil { throw StoreError.mailboxNotFound("id \(id)") }
            guard !recipients.isEmpty || !remote.isEmpty else { return [] }
            guard message.storedSize <= Int64(Int32.max) else {
                throw StoreError.backend("message too large for the store (\(message.storedSize) octets)")
            }
            let messageID = nextMessageID
            nextMessageID += 1
            messages[messageID] = Message(
                queueID: message.queueID, sender: message.sender,
                receivedAt: message.receivedAt, bytes: bytes, envelope: message.envelope, form: message.storedForm)
            var ids: [Int64] = []
            for mailboxID in recipients {
                let id = nextDeliveryID
                nextDeliveryID += 1
                deliveries[id] = Delivery(mailboxID: mailboxID, messageID: messageID)
                ids.append(id)
            }
            for r in remote {
                let id = nextQueueEntryID
                nextQueueEntryID += 1
                queue[id] = QueueRow(
                    messageID: messageID, recipient: r, state: .active, attempts: 0,
                    arrivedAt: message.receivedAt, nextAttempt: message.receivedAt,
                    lastAttempt: nil, lastError: nil, delayNotified: false)
            }
            return ids
        }

        mutating func removeMailbox(id: Int64) {
            guard let m = mailboxes[id] else { return }
            removeDeliveries { $0.mailboxID == id }
            mailboxes[id] = nil
            maildropLocks[id] = nil
            mailboxByKey[m.address] = nil
            for (name, d) in domains where d.postmasterID == id { domains[name]?.postmasterID = nil }
        }

        mutating func createMailbox(key: String, domain: String, passwordHash: String?, isAdmin: Bool, now: Date) -> Mailbox {
            let m = Mailbox(
                id: nextMailboxID, address: key, domain: domain, passwordHash: passwordHash,
                isLocked: false, isAdmin: isAdmin, createdAt: now)
            nextMailboxID += 1
            mailboxes[m.id] = m
            mailboxByKey[key] = m.id
            return m
        }

        /// postmaster@domain: real mailbox, chosen postmaster, first admin, else auto-created.
        mutating func postmaster(of domain: Domain, now: Date) -> RecipientResolution {
            let key = "postmaster@\(domain.name)"
            if let id = mailboxByKey[key], let m = mailboxes[id] { return .mailbox(id: m.id, address: m.address) }
            if let id = domain.postmasterID, let m = mailboxes[id] { return .mailbox(id: m.id, address: m.address) }
            if let admin = firstAdmin() { return .mailbox(id: admin.id, address: admin.address) }
            let m = createMailbox(key: key, domain: domain.name, passwordHash: nil, isAdmin: false, now: now)
            return .mailbox(id: m.id, address: m.address)
        }

        func firstAdmin() -> Mailbox? {
            mailboxes.values.filter(\.isAdmin).min { $0.id < $1.id }
        }

        mutating func updateMailbox(_ address: EmailAddress, _ change: (inout Mailbox) -> Void) throws {
            try checkOpen()
            guard let id = mailboxByKey[address.lookupKey], var m = mailboxes[id] else {
                throw StoreError.mailboxNotFound(address.lookupKey)
            }
            change(&m)
            mailboxes[id] = m
        }
    }

    /// Every access to the state goes through `state.withLock`.
    let state = Mutex(State())
    /// The time of the rows the store stamps itself (domains, mailboxes, access entries, held entries).
    let clock: any MailClock

    public init(clock: any MailClock = WallClock()) { self.clock = clock }

    // MARK: - UserDirectory

    public func addDomain(_ name: String) async throws -> DomainInfo {
        let normalized = try StoreNames.domain(name)
        return try state.withLock { s in
            try s.checkOpen()
            guard s.domains[normalized] == nil else { throw StoreError.domainExists(normalized) }
            let d = Domain(id: s.nextDomainID, name: normalized, postmasterID: nil, createdAt: clock.now)
            s.nextDomainID += 1
            s.domains[normalized] = d
            return s.domainInfo(d)
        }
    }

    public func removeDomain(_ name: String, force: Bool) async throws {
        let normalized = try StoreNames.domain(name)
        try state.withLock { s in
            try s.checkOpen()
            guard s.domains[normalized] != nil else { throw StoreError.domainNotFound(normalized) }
            let ids = s.mailboxes.values.filter { $0.domain == normalized }.map(\.id)
            if !ids.isEmpty && !force { throw StoreError.domainNotEmpty(normalized, mailboxes: ids.count) }
            for id in ids { s.removeMailbox(id: id) }
            s.domains[normalized] = nil
        }
    }

    public func domains() async throws -> [DomainInfo] {
        try state.withLock { s in
            try s.checkOpen()
            return s.domains.values.map { s.domainInfo($0) }.sorted { StoreNames.octetOrder($0.name, $1.name) }
        }
    }

    public func isLocalDomain(_ name: String) async throws -> Bool {
        guard let normalized = try? StoreNames.domain(name) else { return false }
        return try state.withLock { s in
            try s.checkOpen()
            return s.domains[normalized] != nil
        }
    }

    public func setPostmaster(domain: String, mailbox: String?) async throws {
        let normalized = try StoreNames.domain(domain)
        let key = mailbox.map(StoreNames.mailboxKey)
        try state.withLock { s in
            try s.checkOpen()
            guard s.domains[normalized] != nil else { throw StoreError.domainNotFound(normalized) }
            var chosen: Int64?
            if let key {
                guard let id = s.mailboxByKey[key] else { throw StoreError.mailboxNotFound(key) }
                chosen = id
            }
            s.domains[normalized]?.postmasterID = chosen
        }
    }

    public func addMailbox(_ address: EmailAddress, passwordHash: String?, isAdmin: Bool) async throws -> MailboxInfo {
        let key = address.lookupKey
        let domain = StoreNames.domainKey(of: address)
        return try state.withLock { s in
            try s.checkOpen()
            guard s.domains[domain] != nil else { throw StoreError.notLocalDomain(address.domain) }
            guard s.mailboxByKey[key] == nil else { throw StoreError.mailboxExists(key) }
            let m = s.createMailbox(key: key, domain: domain, passwordHash: passwordHash, isAdmin: isAdmin, now: clock.now)
            return s.info(m)
        }
    }

    public func removeMailbox(_ address: EmailAddress) async throws {
        try state.withLock { s in
            try s.checkOpen()
            guard let id = s.mailboxByKey[address.lookupKey] else { throw StoreError.mailboxNotFound(address.lookupKey) }
            s.removeMailbox(id: id)
        }
    }

    public func mailboxes(domain: String?) async throws -> [MailboxInfo] {
        let filter = domain.map { (try? StoreNames.domain($0)) ?? $0.lowercased() }
        return try state.withLock { s in
            try s.checkOpen()
            return s.mailboxes.values
                .filter { filter == nil || $0.domain == filter }
                .map { s.info($0) }
                .sorted { StoreNames.octetOrder($0.address, $1.address) }
        }
    }

    public func mailbox(_ address: EmailAddress) async throws -> MailboxInfo? {
        try state.withLock { s in
            try s.checkOpen()
            return s.mailboxByKey[address.lookupKey].flatMap { s.mailboxes[$0] }.map { s.info($0) }
        }
    }

    public func mailbox(id: Int64) async throws -> MailboxInfo? {
        try state.withLock { s in
            try s.checkOpen()
            return s.mailboxes[id].map { s.info($0) }
        }
    }

    public func setPasswordHash(_ hash: String, for address: EmailAddress) async throws {
        try state.withLock { s in
            try s.updateMailbox(address) {
                $0.passwordHash = hash
                $0.scramVerifier = nil
            }
        }
    }

    public func setSCRAMVerifier(_ verifier: String?, for address: EmailAddress) async throws {
        try state.withLock { s in try s.updateMailbox(address) { $0.scramVerifier = verifier } }
    }

    public func setLocked(_ locked: Bool, for address: EmailAddress) async throws {
        try state.withLock { s in try s.updateMailbox(address) { $0.isLocked = locked } }
    }

    public func setAdmin(_ isAdmin: Bool, for address: EmailAddress) async throws {
        try state.withLock { s in try s.updateMailbox(address) { $0.isAdmin = isAdmin } }
    }

    public func setQuota(_ quota: MailboxQuota, for address: EmailAddress) async throws {
        try state.withLock { s in try s.updateMailbox(address) { $0.quota = quota } }
    }

    public func quotaStatus(mailboxID: Int64, usageOnlyIfLimited: Bool) async throws -> MailboxQuotaStatus? {
        try state.withLock { s in
            try s.checkOpen()
            guard let m = s.mailboxes[mailboxID] else { return nil }
            if usageOnlyIfLimited && m.quota == .unlimited { return MailboxQuotaStatus(quota: m.quota, usage: MailboxUsage(messages: 0, storage: 0)) }
            return MailboxQuotaStatus(quota: m.quota, usage: s.usage(of: mailboxID))
        }
    }

    public func resolveRecipient(_ address: EmailAddress) async throws -> RecipientResolution {
        let domainKey = StoreNames.domainKey(of: address)
        return try state.withLock { s in
            try s.checkOpen()
            guard let domain = s.domains[domainKey] else { return .notLocal }
            if let id = s.mailboxByKey[address.lookupKey], let m = s.mailboxes[id] {
                return .mailbox(id: m.id, address: m.address)
            }
            if StoreNames.isPostmaster(address) { return s.postmaster(of: domain, now: clock.now) }
            return .unknownUser
        }
    }

    public func resolveBarePostmaster() async throws -> RecipientResolution {
        try state.withLock { s in
            try s.checkOpen()
            if let admin = s.firstAdmin() { return .mailbox(id: admin.id, address: admin.address) }
            guard let first = s.domains.values.min(by: { $0.id < $1.id }) else { return .notLocal }
            return s.postmaster(of: first, now: clock.now)
        }
    }

    // MARK: - MessageStore

    public func deliver(_ message: IncomingMessage) async throws -> [Int64] {
        let body = try Self.storedBytes(message)
        return try state.withLock { s in
            try s.checkOpen()
            return try s.insert(message, bytes: body)
        }
    }

    /// Trace headers plus body, read whole (the spool file in chunks).
    static func storedBytes(_ message: IncomingMessage) throws -> [UInt8] {
        var bytes = message.traceHeaders
        switch message.body {
        case .bytes(let b):
            bytes.append(contentsOf: b)
        case .file(let path, let size):
            var reader = try SpoolFileReader(path: path, size: size)
            while let chunk = try reader.read() { bytes.append(contentsOf: chunk) }
        }
        return bytes
    }

    public func messages(mailboxID: Int64) async throws -> [MailboxMessage] {
        try state.withLock { s in
            try s.checkOpen()
            return s.deliveries
                .filter { $0.value.mailboxID == mailboxID }
                .sorted { $0.key < $1.key }
                .compactMap { id, d in
                    guard let m = s.messages[d.messageID] else { return nil }
                    return MailboxMessage(
                        deliveryID: id, queueID: m.queueID, sender: m.sender.description,
                        receivedAt: m.receivedAt, size: Int64(m.bytes.count))
                }
        }
    }

    public func readMessage(mailboxID: Int64, deliveryID: Int64, offset: Int64, maxLength: Int) async throws -> [UInt8] {
        try state.withLock { s in
            try s.checkOpen()
            guard let d = s.deliveries[deliveryID], d.mailboxID == mailboxID, let m = s.messages[d.messageID] else {
                throw StoreError.messageNotFound(deliveryID)
            }
            guard offset >= 0 else { throw StoreError.backend("negative read offset") }
            let count = Int64(m.bytes.count)
            guard maxLength > 0, offset < count else { return [] }
            let end = offset + min(count - offset, Int64(maxLength))
            return Array(m.bytes[Int(offset)..<Int(end)])
        }
    }

    public func deleteMessages(mailboxID: Int64, deliveryIDs: [Int64]) async throws {
        let ids = Set(deliveryIDs)
        try state.withLock { s in
            try s.checkOpen()
            var doomed = Set<Int64>()
            for id in ids {
                if let d = s.deliveries[id], d.mailboxID == mailboxID { doomed.insert(id) }
            }
            var touched = Set<Int64>()
            for id in doomed {
                if let d = s.deliveries.removeValue(forKey: id) { touched.insert(d.messageID) }
            }
            s.removeUnreferencedMessages(among: touched)
        }
    }

    /// Bodies currently stored (for tests of body cleanup).
    public func storedMessageCount() async throws -> Int {
        try state.withLock { s in
            try s.checkOpen()
            return s.messages.count
        }
    }

    public func close() async throws {
        state.withLock { $0.closed = true }
    }
}
