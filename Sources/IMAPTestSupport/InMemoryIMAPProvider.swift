/// `InMemoryIMAPProvider`: the in-memory store as an `IMAPMailboxProvider`, for tests of the IMAP network
/// adapter. Users are named by the store mailbox id the `Authenticator` returns (`map(mailboxID:to:)`);
/// every change made through an access it opened, and every `deliver`, wakes the watchers of that user's
/// mailboxes (`mailboxChanges`) — a wake-up is only a hint, as the protocol allows, so all of the user's
/// watchers are woken.
import IMAPCore
import Synchronization

public final class InMemoryIMAPProvider: IMAPMailboxProvider {
    public let store: InMemoryIMAPStore

    private struct Watcher {
        var user: String
        var mailbox: IMAPMailboxID
        var continuation: AsyncStream<Void>.Continuation
    }

    private struct State {
        var users: [Int64: String] = [:]
        /// Every mailbox id this provider has handed out, by user (learned from `select` answers).
        var owner: [IMAPMailboxID: String] = [:]
        var watchers: [Int: Watcher] = [:]
        var nextWatcher = 0
        var openedAccesses = 0
    }

    private let state = Mutex(State())
    private let held = Mutex(false)

    public init(store: InMemoryIMAPStore = InMemoryIMAPStore()) {
        self.store = store
    }

    /// Store mailbox `mailboxID` (the `Authenticator`'s answer) is the in-memory store's `user`.
    public func map(mailboxID: Int64, to user: String) {
        state.withLock { $0.users[mailboxID] = user }
    }

    /// While held, SELECT and EXAMINE wait (a busy store, for backpressure tests).
    public func hold(_ on: Bool) { held.withLock { $0 = on } }

    func waitWhileHeld() async {
        while held.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
    }

    /// Accesses opened so far (one per successful login).
    public var openedAccesses: Int { state.withLock { $0.openedAccesses } }

    /// Watches currently open (IDLE sessions).
    public var activeWatchers: Int { state.withLock { $0.watchers.count } }

    public func imapAccess(mailboxID: Int64) async throws(IMAPBackendError) -> any IMAPMailboxAccess {
        guard
            let user = state.withLock({ s -> String? in
                guard let user = s.users[mailboxID] else { return nil }
                s.openedAccesses += 1
                return user
            })
        else { throw .nonexistent }
        return NotifyingAccess(inner: await store.access(for: user), provider: self)
    }

    public func mailboxChanges(_ mailbox: IMAPMailboxID) -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { s -> Int in
            let id = s.nextWatcher
            s.nextWatcher += 1
            s.watchers[id] = Watcher(user: s.owner[mailbox] ?? "", mailbox: mailbox, continuation: continuation)
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Delivers a message as SMTP would and wakes the user's watchers.
    @discardableResult
    public func deliver(to user: String, mailbox: String = "INBOX", _ bytes: [UInt8]) async throws(IMAPBackendError) -> UInt32 {
        let uid = try await store.deliver(to: user, mailbox: mailbox, bytes)
        changed(user: user)
        return uid
    }

    func changed(user: String) {
        let continuations = state.withLock { s in s.watchers.values.filter { $0.user == user || $0.user.isEmpty }.map(\.continuation) }
        for continuation in continuations { continuation.yield() }
    }

    func learn(_ mailbox: IMAPMailboxID, user: String) {
        state.withLock { $0.owner[mailbox] = user }
    }
}

/// The in-memory access, telling the provider about every change it makes.
struct NotifyingAccess: IMAPMailboxAccess {
    let inner: InMemoryIMAPAccess
    let provider: InMemoryIMAPProvider

    private func changed() { provider.changed(user: inner.user) }

    func listMailboxes() async throws(IMAPBackendError) -> [IMAPMailboxInfo] { try await inner.listMailboxes() }
    func createMailbox(_ name: String, specialUse: [String]) async throws(IMAPBackendError) {
        try await inner.createMailbox(name, specialUse: specialUse)
    }
    func deleteMailbox(_ name: String) async throws(IMAPBackendError) {
        try await inner.deleteMailbox(name)
        changed()
    }
    func renameMailbox(_ name: String, to newName: String) async throws(IMAPBackendError) {
        try await inner.renameMailbox(name, to: newName)
        changed()
    }
    func setSubscribed(_ name: String, _ subscribed: Bool) async throws(IMAPBackendError) {
        try await inner.setSubscribed(name, subscribed)
    }
    func status(_ name: String) async throws(IMAPBackendError) -> IMAPMailboxStatus { try await inner.status(name) }
    func select(_ name: String) async throws(IMAPBackendError) -> IMAPMailboxSnapshot {
        await provider.waitWhileHeld()
        let snapshot = try await inner.select(name)
        provider.learn(snapshot.id, user: inner.user)
        return snapshot
    }
    func claimRecent(in mailbox: IMAPMailboxID) async throws(IMAPBackendError) -> Range<UInt32> {
        try await inner.claimRecent(in: mailbox)
    }
    func changes(in mailbox: IMAPMailboxID, sinceModSeq modSeq: UInt64, knownUIDNext uidNext: UInt32)
        async throws(IMAPBackendError) -> IMAPMailboxChanges
    {
        try await inner.changes(in: mailbox, sinceModSeq: modSeq, knownUIDNext: uidNext)
    }
    func fetch(in mailbox: IMAPMailboxID, uids: [UInt32], content: IMAPFetchContent, changedSince: UInt64?)
        async throws(IMAPBackendError) -> [IMAPStoredMessage]
    {
        try await inner.fetch(in: mailbox, uids: uids, content: content, changedSince: changedSince)
    }
    func store(in mailbox: IMAPMailboxID, uids: [UInt32], _ operation: IMAPFlagOperation, unchangedSince: UInt64?)
        async throws(IMAPBackendError) -> IMAPStoreResult
    {
        let result = try await inner.store(in: mailbox, uids: uids, operation, unchangedSince: unchangedSince)
        changed()
        return result
    }
    func expunge(in mailbox: IMAPMailboxID, uids: [UInt32]?) async throws(IMAPBackendError) -> [UInt32] {
        let expunged = try await inner.expunge(in: mailbox, uids: uids)
        changed()
        return expunged
    }
    func vanished(in mailbox: IMAPMailboxID, sinceModSeq modSeq: UInt64, uids: [ClosedRange<UInt32>])
        async throws(IMAPBackendError) -> [UInt32]?
    {
        try await inner.vanished(in: mailbox, sinceModSeq: modSeq, uids: uids)
    }
    func append(to name: String, _ message: IMAPAppendMessage) async throws(IMAPBackendError) -> IMAPAppendResult {
        let result = try await inner.append(to: name, message)
        changed()
        return result
    }
    func copy(from mailbox: IMAPMailboxID, uids: [UInt32], to name: String) async throws(IMAPBackendError) -> IMAPCopyResult {
        let result = try await inner.copy(from: mailbox, uids: uids, to: name)
        changed()
        return result
    }
    func move(from mailbox: IMAPMailboxID, uids: [UInt32], to name: String) async throws(IMAPBackendError) -> IMAPCopyResult {
        let result = try await inner.move(from: mailbox, uids: uids, to: name)
        changed()
        return result
    }
    func quota() async throws(IMAPBackendError) -> [IMAPQuotaResource] { try await inner.quota() }
}
