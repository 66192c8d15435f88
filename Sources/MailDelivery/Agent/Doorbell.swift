/// A wake-up signal for the delivery agent: `ring()` from anywhere (a message was queued, a CLI change),
/// `wait(timeout:)` in the agent's loop returns at the first ring or when the timeout passes.
/// A ring while nobody waits is remembered once.
import MailCore
import Synchronization

final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func ring() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.rung = true
            return nil
        }
        waiter?.resume()
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
                let resumeNow = state.withLock { state in
                    if state.rung || Task.isCancelled {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.ring()
        }
        timer.cancel()
        // A ring from the cancelled timer may still land: it only causes one early scan.
    }
}
