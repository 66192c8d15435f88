/// Group commit for delivery results: attempts that complete while a result commit is in flight wait,
/// then share the next `QueueStore.completeLeasedAttempts` call (one transaction, one fsync for all of
/// them), like the inbound group commit. The first caller commits its own result at once and then drains
/// whatever queued up meanwhile; nobody waits for a timer.
///
/// Each attempt is recorded only under its lease: the store answers per attempt (`recorded` or
/// `leaseLost`), and one attempt's lost lease never costs the others their commit. A shared commit that
/// fails with anything but a shutdown is retried one result at a time, so one bad result never costs the
/// others their commit either (each still records or fails on its own).
import MailStore

actor ResultCommitter {
    typealias Commit = @Sendable (_ attempts: [LeasedAttempt]) async throws -> [LeasedAttemptResult]

    private struct Pending {
        var attempt: LeasedAttempt
        var continuation: CheckedContinuation<LeasedAttemptResult, any Error>
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

    /// Records one attempt's updates and reports under its lease; returns once they are durable or the
    /// store found the lease lost (nothing recorded), or throws (nothing of them was recorded).
    func record(_ attempt: LeasedAttempt) async throws -> LeasedAttemptResult {
        if committing {
            return try await withCheckedThrowingContinuation { continuation in
                waiting.append(Pending(attempt: attempt, continuation: continuation))
            }
        }
        committing = true
        let mine: Result<LeasedAttemptResult, any Error>
        do {
            storeCalls += 1
            mine = .success(try await single(attempt))
        } catch {
            mine = .failure(error)
        }
        while !waiting.isEmpty {
            let batch = waiting
            waiting = []
            await commitShared(batch)
        }
        committing = false
        return try mine.get()
    }

    private func single(_ attempt: LeasedAttempt) async throws -> LeasedAttemptResult {
        let results = try await commit([attempt])
        return results.first ?? .leaseLost(entryIDs: attempt.entryIDs)
    }

    private func commitShared(_ batch: [Pending]) async {
        do {
            storeCalls += 1
            let results = try await commit(batch.map(\.attempt))
            for (index, pending) in batch.enumerated() {
                pending.continuation.resume(returning: index < results.count ? results[index] : .leaseLost(entryIDs: pending.attempt.entryIDs))
            }
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
                pending.continuation.resume(returning: try await single(pending.attempt))
            } catch {
                pending.continuation.resume(throwing: error)
            }
        }
    }
}
