/// Keeping a POP3 maildrop lock (RFC 1939 §8) alive: the lock itself is a lease in the store
/// (MailStore MaildropLocking.swift), so sessions on every node sharing the database exclude each other.
/// A session renews its lease every third of the lease time on the server's `MailClock`; it gives up when
/// the store says the lease is no longer its own, or when renewals keep failing until the lease has run
/// out (another node may hold the mailbox by then). The handler then closes the session without
/// committing deletions.
import Foundation
import Logging
import MailCore
import MailStore

extension MaildropLease {
    /// This process's label for owner tokens: host name and process id.
    public static let defaultOwnerLabel = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
}

enum MaildropLeaseKeeper {
    /// Renews `lease` until the task is cancelled (returns nil) or the lease is lost (returns the last lease
    /// held). Never throws: a failed renewal is logged and retried at the next beat while the lease lasts.
    static func keep(
        _ lease: MaildropLease, store: any MaildropLocking, duration: Duration, clock: any MailClock, logger: Logger
    ) async -> MaildropLease? {
        var lease = lease
        let beat = duration / 3
        while true {
            do { try await clock.sleep(for: beat) } catch { return nil }
            if Task.isCancelled { return nil }
            do {
                guard let renewed = try await store.renewMaildropLock(lease, duration: duration) else {
                    logger.warning("pop3 maildrop lock lost", metadata: ["mailbox": "\(lease.mailboxID)"])
                    return lease
                }
                lease = renewed
            } catch {
                logger.warning("pop3 maildrop lock renewal failed", metadata: ["mailbox": "\(lease.mailboxID)", "error": "\(error)"])
                if clock.now >= lease.expiresAt { return lease }
            }
        }
    }
}
