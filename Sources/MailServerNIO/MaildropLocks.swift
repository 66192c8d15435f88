/// One POP3 session per mailbox at a time (RFC 1939 §8: "exclusive-access lock on the maildrop").
/// The lock lives in the server process and is released when the session ends in any way, so a
/// dropped connection never leaves a mailbox stuck; a crash of the process releases every lock.
import Synchronization

public final class MaildropLocks: Sendable {
    private let held = Mutex(Set<Int64>())

    public init() {}

    /// Takes the lock for a mailbox; false when another session holds it.
    public func acquire(_ mailboxID: Int64) -> Bool {
        held.withLock { $0.insert(mailboxID).inserted }
    }

    public func release(_ mailboxID: Int64) {
        _ = held.withLock { $0.remove(mailboxID) }
    }

    public func isHeld(_ mailboxID: Int64) -> Bool {
        held.withLock { $0.contains(mailboxID) }
    }
}
