/// A wake-up signal for the delivery agent: `ring()` from anywhere (a message was queued, a CLI change),
/// `wait(timeout:)` in the agent's loop returns at the first ring or when the timeout passes.
/// A ring while nobody waits is remembered once.
import Foundation
import MailCore

final class Doorbell: @unchecked Sendable {
    private let lock = NSLock()
    private var rung = false
    private var waiter: CheckedContinuation<Void, Never>?

    func ring() {
        lock.lock()
        if let waiter {
            self.waiter = nil
            lock.unlock()
            waiter.resume()
        } else {
            rung = true
            lock.unlock()
        }
    }

    /// Returns at the next ring (or a remembered one), after `timeout` of `clock`'s time, or when the
    /// task is cancelled.
    func wait(timeout: Duration, clock: any MailClock = WallClock()) async {
        let timer = Task { [weak self] in
            do { try await clock.sleep(for: timeout) } catch { return }
            self?.ring()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                lock.lock()
                if rung || Task.isCancelled {
                    rung = false
                    lock.unlock()
                    continuation.resume()
                } else {
                    waiter = continuation
                    lock.unlock()
                }
            }
        } onCancel: {
            self.ring()
        }
        timer.cancel()
        // A ring from the cancelled timer may still land: it only causes one early scan.
    }
}
