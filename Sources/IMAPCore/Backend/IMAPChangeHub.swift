/// The in-process half of `IMAPMailboxProvider.mailboxChanges`: every store change on this node calls
/// `notify` with the folders it touched (after its transaction committed), and every watcher of such a
/// folder gets one yield. A store shared by several nodes also feeds it the changes other nodes announce
/// (PostgreSQL: `LISTEN petrel_imap…`); a yield too many is harmless. Each watcher's stream keeps at most one pending yield (`bufferingNewest(1)`),
/// so a slow IDLE session costs no memory however many changes arrive: a yield is only a hint to ask
/// `IMAPMailboxAccess.changes`. A stream's termination (the adapter stops consuming) removes its watch.
import Synchronization

public final class IMAPChangeHub: Sendable {
    private struct State {
        var watchers: [IMAPMailboxID: [UInt64: AsyncStream<Void>.Continuation]] = [:]
        var nextToken: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// A stream that yields after each change to `mailbox`.
    public func stream(_ mailbox: IMAPMailboxID) -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let token = state.withLock { state in
            state.nextToken += 1
            state.watchers[mailbox, default: [:]][state.nextToken] = continuation
            return state.nextToken
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { state in
                state.watchers[mailbox]?[token] = nil
                if state.watchers[mailbox]?.isEmpty == true { state.watchers[mailbox] = nil }
            }
        }
        return stream
    }

    /// Whether anything watches (a store may skip looking up which folders changed when nothing does).
    public var hasWatchers: Bool { state.withLock { !$0.watchers.isEmpty } }

    /// The number of live watches of `mailbox` (for tests).
    public func watcherCount(_ mailbox: IMAPMailboxID) -> Int { state.withLock { $0.watchers[mailbox]?.count ?? 0 } }

    /// Wakes every watcher of these folders.
    public func notify(_ mailboxes: some Sequence<IMAPMailboxID>) {
        let continuations = state.withLock { state in
            Set(mailboxes).flatMap { state.watchers[$0].map { Array($0.values) } ?? [] }
        }
        for continuation in continuations { continuation.yield() }
    }

    /// Wakes every watcher of every folder (changes may have been missed, e.g. while another node's
    /// notifications could not be received; each session then asks the store what changed).
    public func notifyAll() {
        let continuations = state.withLock { state in state.watchers.values.flatMap { Array($0.values) } }
        for continuation in continuations { continuation.yield() }
    }
}
