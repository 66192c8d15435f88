/// The reference `IMAPMailboxAccess`: every user's mailboxes in memory, with the semantics the protocol
/// documents (strictly ascending UIDs, per-mailbox MODSEQ counter, tombstones for expunged messages,
/// parents created with their children, INBOX rename moving its messages, quota). The session tests run
/// against it, as go-imap v2's tests run against its memory backend; the SQL backends must behave the
/// same (the conformance suite in `Tests/IMAPCoreTests` is written against the protocol).
import IMAPCore
import MailCore
import MailMIME

public actor InMemoryIMAPStore {
    public struct Message: Sendable {
        public var uid: UInt32
        public var flags: [IMAPFlag]
        public var internalDate: IMAPDateTime
        public var bytes: [UInt8]
        public var modSeq: UInt64
    }

    struct Mailbox: Sendable {
        var id: IMAPMailboxID
        var name: String
        var uidValidity: UInt32
        var uidNext: UInt32 = 1
        var highestModSeq: UInt64 = 1
        var messages: [Message] = []
        /// (uid, modseq) of expunged messages.
        var tombstones: [(uid: UInt32, modSeq: UInt64)] = []
        /// Tombstones with a MODSEQ at or below this were purged.
        var purgedThrough: UInt64 = 0
        var specialUse: [String] = []
        /// Messages with a UID at or above this are \Recent for the next session that claims them.
        var firstRecentUID: UInt32 = 1
        /// Bumped on every change, for change notifications.
        var changeCount = 0
    }

    struct User: Sendable {
        var password: String
        var mailboxes: [String: Mailbox] = [:]
        var subscriptions: Set<String> = []
        var storageLimitKiB: UInt64?
        var messageLimit: UInt64?
    }

    var users: [String: User] = [:]
    var nextMailboxID: Int64 = 1
    var nextUIDValidity: UInt32
    let clock: @Sendable () -> IMAPDateTime
    /// The largest message APPEND accepts.
    public var maxMessageSize = 50 * 1024 * 1024

    /// `firstUIDValidity` makes the UIDVALIDITY values deterministic for transcripts; `now` gives the
    /// internal date of messages appended without one.
    public init(
        firstUIDValidity: UInt32 = 1,
        now: @escaping @Sendable () -> IMAPDateTime = {
            IMAPDateTime(secondsSinceEpoch: 1_700_000_000, zoneMinutes: 0)
        }
    ) {
        self.nextUIDValidity = firstUIDValidity
        self.clock = now
    }

    /// The special-use folders every mailbox gets (RFC 6154), besides INBOX.
    public static let defaultFolders: [(String, String)] = [
        ("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash"), ("Junk", "\\Junk"), ("Archive", "\\Archive")
    ]

    // MARK: - Administration (tests)

    public func addUser(_ name: String, password: String, defaultFolders: Bool = true) {
        var user = User(password: password)
        user.mailboxes["INBOX"] = newMailbox("INBOX")
        user.subscriptions.insert("INBOX")
        if defaultFolders {
            for (folder, use) in InMemoryIMAPStore.defaultFolders {
                var m = newMailbox(folder)
                m.specialUse = [use]
                user.mailboxes[folder] = m
                user.subscriptions.insert(folder)
            }
        }
        users[name] = user
    }

    public func setQuota(_ user: String, storageKiB: UInt64?, messages: UInt64?) {
        users[user]?.storageLimitKiB = storageKiB
        users[user]?.messageLimit = messages
    }

    public func verify(_ user: String, password: String) -> Bool {
        users[user]?.password == password
    }

    public func access(for user: String) -> InMemoryIMAPAccess { InMemoryIMAPAccess(store: self, user: user) }

    /// Delivers a message as the SMTP side would (tests; "another session delivering").
    @discardableResult
    public func deliver(
        to user: String, mailbox: String = "INBOX", _ bytes: [UInt8], flags: [IMAPFlag] = [],
        date: IMAPDateTime? = nil
    ) throws(IMAPBackendError) -> UInt32 {
        try append(user, mailbox, IMAPAppendMessage(bytes: bytes, flags: flags, internalDate: date)).uid
    }

    /// Forgets tombstones at or below `modSeq` (to test the fallbacks).
    public func purgeTombstones(_ user: String, _ mailbox: String, through modSeq: UInt64) {
        guard var m = users[user]?.mailboxes[mailbox] else { return }
        m.tombstones.removeAll { $0.modSeq <= modSeq }
        m.purgedThrough = max(m.purgedThrough, modSeq)
        users[user]?.mailboxes[mailbox] = m
    }

    /// How often a mailbox changed (for IDLE notifications in tests); nil when it does not exist.
    public func changeCount(_ user: String, _ id: IMAPMailboxID) -> Int? {
        users[user]?.mailboxes.values.first { $0.id == id }?.changeCount
    }

    public func messages(_ user: String, _ mailbox: String) -> [Message] {
        users[user]?.mailboxes[mailbox]?.messages ?? []
    }

    func newMailbox(_ name: String) -> Mailbox {
        defer { nextMailboxID += 1; nextUIDValidity &+= 1 }
        return Mailbox(id: IMAPMailboxID(nextMailboxID), name: name, uidValidity: max(1, nextUIDValidity))
    }

    // MARK: - Helpers

    func user(_ name: String) throws(IMAPBackendError) -> User {
        guard let u = users[name] else { throw .unavailable }
        return u
    }

    func mailbox(_ user: String, _ name: String) throws(IMAPBackendError) -> Mailbox {
        guard let m = try self.user(user).mailboxes[name] else { throw .nonexistent }
        return m
    }

    func mailbox(_ user: String, id: IMAPMailboxID) throws(IMAPBackendError) -> Mailbox {
        guard let m = try self.user(user).mailboxes.values.first(where: { $0.id == id }) else { throw .mailboxGone }
        return m
    }

    func save(_ user: String, _ m: Mailbox) {
        var m = m
        m.changeCount += 1
        users[user]?.mailboxes[m.name] = m
    }

    static func metadata(_ msg: Message) -> IMAPMessageMetadata {
        IMAPMessageMetadata(
            uid: msg.uid, flags: msg.flags, internalDate: msg.internalDate, size: UInt64(msg.bytes.count),
            modSeq: msg.modSeq)
    }

    func checkQuota(_ user: User, adding bytes: Int, count: Int) throws(IMAPBackendError) {
        let all = user.mailboxes.values.flatMap(\.messages)
        if let limit = user.messageLimit, UInt64(all.count + count) > limit { throw .overQuota }
        if let limit = user.storageLimitKiB {
            let used = all.reduce(0) { $0 + $1.bytes.count } + bytes
            if UInt64((used + 1023) / 1024) > limit { throw .overQuota }
        }
    }

    // MARK: - IMAPMailboxAccess, per user

    func listMailboxes(_ user: String) throws(IMAPBackendError) -> [IMAPMailboxInfo] {
        let u = try self.user(user)
        var out = u.mailboxes.values.map {
            IMAPMailboxInfo(name: $0.name, specialUse: $0.specialUse, isSubscribed: u.subscriptions.contains($0.name))
        }
        for name in u.subscriptions where u.mailboxes[name] == nil {
            out.append(IMAPMailboxInfo(name: name, isSubscribed: true, exists: false))
        }
        return out.sorted { $0.name < $1.name }
    }

    func create(_ user: String, _ name: String, _ uses: [String]) throws(IMAPBackendError) {
        let u = try self.user(user)
        guard u.mailboxes[name] == nil else { throw .alreadyExists }
        var parts = name.split(separator: "/").map(String.init)
        var prefixes: [String] = []
        while parts.count > 1 {
            parts.removeLast()
            prefixes.append(parts.joined(separator: "/"))
        }
        for parent in prefixes.reversed() where users[user]?.mailboxes[parent] == nil {
            save(user, newMailbox(parent))
        }
        var m = newMailbox(name)
        m.specialUse = uses
        save(user, m)
    }

    func delete(_ user: String, _ name: String) throws(IMAPBackendError) {
        let u = try self.user(user)
        guard name != "INBOX" else { throw .cannot("INBOX cannot be deleted") }
        guard u.mailboxes[name] != nil else { throw .nonexistent }
        guard !u.mailboxes.keys.contains(where: { $0.hasPrefix(name + "/") }) else { throw .hasChildren }
        users[user]?.mailboxes[name] = nil
    }

    func rename(_ user: String, _ from: String, _ to: String) throws(IMAPBackendError) {
        let u = try self.user(user)
        guard var source = u.mailboxes[from] else { throw .nonexistent }
        guard u.mailboxes[to] == nil else { throw .alreadyExists }
        if from == "INBOX" {
            // RFC 9051 §6.3.6: the messages move to a new mailbox; INBOX stays, empty.
            try create(user, to, [])
            guard var target = users[user]?.mailboxes[to] else { throw .serverBug("rename") }
            for var msg in source.messages {
                msg.uid = target.uidNext
                target.uidNext += 1
                target.highestModSeq += 1
                msg.modSeq = target.highestModSeq
                target.messages.append(msg)
            }
            save(user, target)
            source.highestModSeq += 1
            for msg in source.messages { source.tombstones.append((msg.uid, source.highestModSeq)) }
            source.messages = []
            save(user, source)
            return
        }
        let renamed = u.mailboxes.values.filter { $0.name == from || $0.name.hasPrefix(from + "/") }
        guard !renamed.contains(where: { u.mailboxes[to + $0.name.dropFirst(from.count)] != nil && $0.name != from }) else {
            throw .alreadyExists
        }
        for var m in renamed {
            users[user]?.mailboxes[m.name] = nil
            m.name = to + m.name.dropFirst(from.count)
            save(user, m)
        }
        var parts = to.split(separator: "/").map(String.init)
        while parts.count > 1 {
            parts.removeLast()
            let parent = parts.joined(separator: "/")
            if users[user]?.mailboxes[parent] == nil { save(user, newMailbox(parent)) }
        }
    }

    func setSubscribed(_ user: String, _ name: String, _ on: Bool) throws(IMAPBackendError) {
        if on { _ = try mailbox(user, name) } else { _ = try self.user(user) }
        if on { users[user]?.subscriptions.insert(name) } else { users[user]?.subscriptions.remove(name) }
    }

    func status(_ user: String, _ name: String) throws(IMAPBackendError) -> IMAPMailboxStatus {
        let m = try mailbox(user, name)
        return IMAPMailboxStatus(
            messages: UInt32(m.messages.count), uidNext: m.uidNext, uidValidity: m.uidValidity,
            unseen: UInt32(m.messages.filter { !$0.flags.contains(.seen) }.count),
            deleted: UInt32(m.messages.filter { $0.flags.contains(.deleted) }.count),
            size: m.messages.reduce(0) { $0 + UInt64($1.bytes.count) }, highestModSeq: m.highestModSeq,
            recent: UInt32(m.messages.filter { $0.uid >= m.firstRecentUID }.count))
    }

    func select(_ user: String, _ name: String) throws(IMAPBackendError) -> IMAPMailboxSnapshot {
        let m = try mailbox(user, name)
        let keywords = Set(m.messages.flatMap(\.flags).filter { !$0.isSystem })
        return IMAPMailboxSnapshot(
            id: m.id, name: m.name, uidValidity: m.uidValidity, uidNext: m.uidNext,
            highestModSeq: m.highestModSeq, uids: m.messages.map(\.uid),
            keywords: keywords.sorted(),
            firstUnseenUID: m.messages.first { !$0.flags.contains(.seen) }?.uid)
    }

    func claimRecent(_ user: String, _ id: IMAPMailboxID) throws(IMAPBackendError) -> Range<UInt32> {
        var m = try mailbox(user, id: id)
        let claimed = m.firstRecentUID..<max(m.firstRecentUID, m.uidNext)
        m.firstRecentUID = max(m.firstRecentUID, m.uidNext)
        users[user]?.mailboxes[m.name] = m
        return claimed
    }

    func changes(_ user: String, _ id: IMAPMailboxID, since: UInt64, uidNext: UInt32) throws(IMAPBackendError) -> IMAPMailboxChanges {
        let m = try mailbox(user, id: id)
        let expunged: IMAPExpungedUIDs
        if since < m.purgedThrough {
            expunged = .unknown(currentUIDs: m.messages.map(\.uid).filter { $0 < uidNext })
        } else {
            expunged = .uids(m.tombstones.filter { $0.modSeq > since && $0.uid < uidNext }.map(\.uid))
        }
        return IMAPMailboxChanges(
            uidValidity: m.uidValidity, uidNext: m.uidNext, highestModSeq: m.highestModSeq,
            newUIDs: m.messages.map(\.uid).filter { $0 >= uidNext },
            flagChanges: m.messages.filter { $0.uid < uidNext && $0.modSeq > since }
                .map { IMAPFlagChange(uid: $0.uid, flags: $0.flags, modSeq: $0.modSeq) },
            expunged: expunged)
    }

    func fetch(
        _ user: String, _ id: IMAPMailboxID, _ uids: [UInt32], _ content: IMAPFetchContent,
        _ changedSince: UInt64?
    ) throws(IMAPBackendError) -> [IMAPStoredMessage] {
        let m = try mailbox(user, id: id)
        let wanted = Set(uids)
        return m.messages.filter { msg in wanted.contains(msg.uid) && (changedSince.map { msg.modSeq > $0 } ?? true) }.map { msg in
            let data: [UInt8]?
            switch content {
            case .none: data = nil
            case .header: data = Array(msg.bytes[MIMEHeader.parse(msg.bytes, from: 0, to: msg.bytes.count).range])
            case .full: data = msg.bytes
            }
            return IMAPStoredMessage(metadata: InMemoryIMAPStore.metadata(msg), content: data)
        }
    }

    func store(
        _ user: String, _ id: IMAPMailboxID, _ uids: [UInt32], _ op: IMAPFlagOperation,
        _ unchangedSince: UInt64?
    ) throws(IMAPBackendError) -> IMAPStoreResult {
        var m = try mailbox(user, id: id)
        let wanted = Set(uids)
        var result = IMAPStoreResult(messages: [], changed: [])
        var bumped = false
        for i in m.messages.indices where wanted.contains(m.messages[i].uid) {
            var msg = m.messages[i]
            if let limit = unchangedSince, msg.modSeq > limit {
                result.failed.append(msg.uid)
                continue
            }
            var flags = Set(msg.flags)
            switch op {
            case .add(let f): flags.formUnion(f)
            case .remove(let f): flags.subtract(f)
            case .replace(let f): flags = Set(f)
            }
            let sorted = flags.sorted()
            if sorted != msg.flags.sorted() {
                if !bumped { m.highestModSeq += 1; bumped = true }
                msg.flags = sorted
                msg.modSeq = m.highestModSeq
                m.messages[i] = msg
                result.changed.append(msg.uid)
            }
            result.messages.append(IMAPFlagChange(uid: msg.uid, flags: msg.flags, modSeq: msg.modSeq))
        }
        if bumped { save(user, m) }
        return result
    }

    func expunge(_ user: String, _ id: IMAPMailboxID, _ uids: [UInt32]?) throws(IMAPBackendError) -> [UInt32] {
        var m = try mailbox(user, id: id)
        let wanted = uids.map(Set.init)
        let gone = m.messages.filter { $0.flags.contains(.deleted) && (wanted?.contains($0.uid) ?? true) }.map(\.uid)
        guard !gone.isEmpty else { return [] }
        removeMessages(&m, Set(gone))
        save(user, m)
        return gone
    }

    func removeMessages(_ m: inout Mailbox, _ uids: Set<UInt32>) {
        m.highestModSeq += 1
        m.messages.removeAll { uids.contains($0.uid) }
        for uid in uids.sorted() { m.tombstones.append((uid, m.highestModSeq)) }
    }

    func vanished(_ user: String, _ id: IMAPMailboxID, since: UInt64, _ ranges: [ClosedRange<UInt32>]) throws(IMAPBackendError) -> [UInt32]? {
        let m = try mailbox(user, id: id)
        guard since >= m.purgedThrough else { return nil }
        return m.tombstones.filter { t in t.modSeq > since && ranges.contains { $0.contains(t.uid) } }.map(\.uid).sorted()
    }

    func append(_ user: String, _ name: String, _ message: IMAPAppendMessage) throws(IMAPBackendError) -> IMAPAppendResult {
        let u = try self.user(user)
        var m = try mailbox(user, name)
        guard message.bytes.count <= maxMessageSize else { throw .tooBig }
        try checkQuota(u, adding: message.bytes.count, count: 1)
        m.highestModSeq += 1
        let msg = Message(
            uid: m.uidNext, flags: Array(Set(message.flags)).sorted(),
            internalDate: message.internalDate ?? clock(), bytes: message.bytes, modSeq: m.highestModSeq)
        m.uidNext += 1
        m.messages.append(msg)
        save(user, m)
        return IMAPAppendResult(uidValidity: m.uidValidity, uid: msg.uid)
    }

    func copy(_ user: String, _ id: IMAPMailboxID, _ uids: [UInt32], _ to: String, move: Bool) throws(IMAPBackendError) -> IMAPCopyResult {
        let u = try self.user(user)
        var source = try mailbox(user, id: id)
        var target = try mailbox(user, to)
        let wanted = Set(uids)
        let copied = source.messages.filter { wanted.contains($0.uid) }
        if !move { try checkQuota(u, adding: copied.reduce(0) { $0 + $1.bytes.count }, count: copied.count) }
        var result = IMAPCopyResult(uidValidity: target.uidValidity, sourceUIDs: [], destinationUIDs: [])
        guard !copied.isEmpty else { return result }
        if target.id == source.id { target = source }
        target.highestModSeq += 1
        for var msg in copied {
            result.sourceUIDs.append(msg.uid)
            msg.uid = target.uidNext
            msg.modSeq = target.highestModSeq
            target.uidNext += 1
            target.messages.append(msg)
            result.destinationUIDs.append(msg.uid)
        }
        if target.id == source.id { source = target }
        if move { removeMessages(&source, Set(result.sourceUIDs)) }
        if target.id != source.id { save(user, target) }
        save(user, source)
        return result
    }

    func quota(_ user: String) throws(IMAPBackendError) -> [IMAPQuotaResource] {
        let u = try self.user(user)
        let all = u.mailboxes.values.flatMap(\.messages)
        var out: [IMAPQuotaResource] = []
        if let limit = u.storageLimitKiB {
            out.append(IMAPQuotaResource("STORAGE", usage: UInt64((all.reduce(0) { $0 + $1.bytes.count } + 1023) / 1024), limit: limit))
        }
        if let limit = u.messageLimit { out.append(IMAPQuotaResource("MESSAGE", usage: UInt64(all.count), limit: limit)) }
        return out
    }
}

/// One user's view of an `InMemoryIMAPStore`.
public struct InMemoryIMAPAccess: IMAPMailboxAccess {
    public let store: InMemoryIMAPStore
    public let user: String

    public func listMailboxes() async throws(IMAPBackendError) -> [IMAPMailboxInfo] { try await store.listMailboxes(user) }
    public func createMailbox(_ name: String, specialUse: [String]) async throws(IMAPBackendError) {
        try await store.create(user, name, specialUse)
    }
    public func deleteMailbox(_ name: String) async throws(IMAPBackendError) { try await store.delete(user, name) }
    public func renameMailbox(_ name: String, to newName: String) async throws(IMAPBackendError) {
        try await store.rename(user, name, newName)
    }
    public func setSubscribed(_ name: String, _ subscribed: Bool) async throws(IMAPBackendError) {
        try await store.setSubscribed(user, name, subscribed)
    }
    public func status(_ name: String) async throws(IMAPBackendError) -> IMAPMailboxStatus { try await store.status(user, name) }
    public func select(_ name: String) async throws(IMAPBackendError) -> IMAPMailboxSnapshot { try await store.select(user, name) }
    public func claimRecent(in mailbox: IMAPMailboxID) async throws(IMAPBackendError) -> Range<UInt32> {
        try await store.claimRecent(user, mailbox)
    }
    public func changes(in mailbox: IMAPMailboxID, sinceModSeq modSeq: UInt64, knownUIDNext uidNext: UInt32)
        async throws(IMAPBackendError) -> IMAPMailboxChanges
    {
        try await store.changes(user, mailbox, since: modSeq, uidNext: uidNext)
    }
    public func fetch(in mailbox: IMAPMailboxID, uids: [UInt32], content: IMAPFetchContent, changedSince: UInt64?)
        async throws(IMAPBackendError) -> [IMAPStoredMessage]
    {
        try await store.fetch(user, mailbox, uids, content, changedSince)
    }
    public func store(in mailbox: IMAPMailboxID, uids: [UInt32], _ operation: IMAPFlagOperation, unchangedSince: UInt64?)
        async throws(IMAPBackendError) -> IMAPStoreResult
    {
        try await store.store(user, mailbox, uids, operation, unchangedSince)
    }
    public func expunge(in mailbox: IMAPMailboxID, uids: [UInt32]?) async throws(IMAPBackendError) -> [UInt32] {
        try await store.expunge(user, mailbox, uids)
    }
    public func vanished(in mailbox: IMAPMailboxID, sinceModSeq modSeq: UInt64, uids: [ClosedRange<UInt32>])
        async throws(IMAPBackendError) -> [UInt32]?
    {
        try await store.vanished(user, mailbox, since: modSeq, uids)
    }
    public func append(to name: String, _ message: IMAPAppendMessage) async throws(IMAPBackendError) -> IMAPAppendResult {
        try await store.append(user, name, message)
    }
    public func copy(from mailbox: IMAPMailboxID, uids: [UInt32], to name: String) async throws(IMAPBackendError) -> IMAPCopyResult {
        try await store.copy(user, mailbox, uids, name, move: false)
    }
    public func move(from mailbox: IMAPMailboxID, uids: [UInt32], to name: String) async throws(IMAPBackendError) -> IMAPCopyResult {
        try await store.copy(user, mailbox, uids, name, move: true)
    }
    public func quota() async throws(IMAPBackendError) -> [IMAPQuotaResource] { try await store.quota(user) }
}
