/// Group commit for delivery results: attempts that complete while a result commit is in flight wait,
/// then share the next `QueueStore.completeAttempt` call (one transaction, one fsync for all of them),
/// like the inbound group commit. The first caller commits its own result at once and then drains
/// whatever queued up meanwhile; nobody waits for a timer.
///
/// A shared commit that fails with anything but a shutdown is retried one result at a time, so one bad
/// result never costs the others their commit (each still records or fails on its own, as before).
import MailStore

actor ResultCommitter {
    typealias Commit = @Sendable (_ updates: [QueueUpdate], _ notifications: [IncomingMessage]) async throws -> Void

    private struct Pending {
        var updates: [QueueUpdate]
        var notifications: [IncomingMessage]
        var continuation: CheckedContinuation<Void, any Error>
    }

    private let commit: Commit
    private let isShutdown: @Sendable (any Error) -> Bool
    private var waiting: [Pending] = []
    private var committing = false
    /// Store calls made (for tests).
    private(set) var storeCalls = 0
    /// Results waiting for the next commit (for tests).
    var waitingCount: Int { waiting.count }

    init(isShutdown: @escaping @Sendable (any Error) -> Bool, commit: @escaping Commit) {
        self.commit = commit
        self.isShutdown = isShutdown
    }

    /// Records one attempt's updates and reports; returns when they are durable (or throws: nothing of
    /// them was recorded).
    func record(_ updates: [QueueUpdate], notifications: [IncomingMessage]) async throws {
        if committing {
            try await withCheckedThrowingContinuation { continuation in
                waiting.append(Pending(updates: updates, notifications: notifications, continuation: continuation))
            }
            return
        }
        committing = true
        let mine: Result<Void, any Error>
        do {
            storeCalls += 1
            try await commit(updates, notifications)
            mine = .success(())
        } catch {
            mine = .failure(error)
        }
        while !waiting.isEmpty {
            let batch = waiting
            waiting = []
            await commitShared(batch)
        }
        committing = false
        try mine.get()
    }

    private func commitShared(_ batch: [Pending]) async {
        do {
            storeCalls += 1
            try await commit(batch.flatMap(\.updates), batch.flatMap(\.notifications))
            for pending in batch { pending.continuation.resume() }
            return
        } catch  where batch.count == 1 || isShutdown(error) {
            for pending in batch { pending.continuation.resume(throwing: error) }
            return
        } catch {
            // One of them may be at fault: each on its own.
        }
        for pending in batch {
            do {
                storeCalls += 1
                try await commit(pending.updates, pending.notifications)
                pending.continuation.resume()
            } catch {
                pending.continuation.resume(throwing: error)
            }
        }
    }
}
