// Group commit of delivery results: results that arrive while a commit is in flight share the next
// store call; a failing shared commit falls back to one call per result; a lost lease is answered to
// its own attempt only.
import MailStore
import Synchronization
import Testing

@testable import MailDelivery

@Suite struct ResultCommitterTests {
    /// A commit function that records each call's updates and, while `hold` is set, parks the first call
    /// until released.
    final class FakeStore: Sendable {
        let calls = Mutex<[[QueueUpdate]]>([])
        let gate = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let failWhen: @Sendable ([QueueUpdate]) -> Bool

        init(failWhen: @escaping @Sendable ([QueueUpdate]) -> Bool = { _ in false }) { self.failWhen = failWhen }

        func commit(_ updates: [QueueUpdate], hold: Bool) async throws {
            calls.withLock { $0.append(updates) }
            if hold { await withCheckedContinuation { c in gate.withLock { $0 = c } } }
            if failWhen(updates) { throw TestFailure() }
        }

        var isHeld: Bool { gate.withLock { $0 != nil } }
        func release() {
            gate.withLock {
                $0?.resume(); $0 = nil
            }
        }
    }

    struct TestFailure: Error {}

    func attempt(_ update: QueueUpdate, entry: Int64) -> LeasedAttempt {
        LeasedAttempt(entryIDs: [entry], updates: [update], notifications: [])
    }

    func waitUntil(_ condition: @Sendable () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !(await condition()) {
            guard ContinuousClock.now < deadline else { Issue.record("condition not reached"); return }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func resultsArrivingDuringACommitShareTheNext() async throws {
        let store = FakeStore()
        let first = Mutex(true)
        let committer = ResultCommitter(isShutdown: { $0 is CancellationError }) { attempts in
            let updates = attempts.flatMap(\.updates)
            let hold = first.withLock { value in
                defer { value = false }; return value
            }
            try await store.commit(updates, hold: hold)
            return attempts.map { _ in .recorded }
        }
        let a = Task { try await committer.record(attempt(.remove(entryID: 1), entry: 1)) }
        try await waitUntil { store.isHeld }
        let b = Task { try await committer.record(attempt(.remove(entryID: 2), entry: 2)) }
        let c = Task { try await committer.record(attempt(.markDelayNotified(entryID: 3), entry: 3)) }
        try await waitUntil { await committer.waitingCount == 2 }
        store.release()
        _ = try await a.value
        _ = try await b.value
        _ = try await c.value
        let calls = store.calls.withLock { $0 }
        #expect(calls.count == 2)
        #expect(calls.first == [.remove(entryID: 1)])
        #expect(Set(calls.last ?? []) == [.remove(entryID: 2), .markDelayNotified(entryID: 3)])
        #expect(await committer.storeCalls == 2)
    }

    @Test func aFailingSharedCommitIsRetriedOneByOne() async throws {
        // Entry 2's result cannot be recorded; entry 3's must be anyway.
        let store = FakeStore(failWhen: { $0.contains(.remove(entryID: 2)) })
        let first = Mutex(true)
        let committer = ResultCommitter(isShutdown: { $0 is CancellationError }) { attempts in
            let updates = attempts.flatMap(\.updates)
            let hold = first.withLock { value in
                defer { value = false }; return value
            }
            try await store.commit(updates, hold: hold)
            return attempts.map { _ in .recorded }
        }
        let a = Task { try await committer.record(attempt(.remove(entryID: 1), entry: 1)) }
        try await waitUntil { store.isHeld }
        let b = Task { try await committer.record(attempt(.remove(entryID: 2), entry: 2)) }
        let c = Task { try await committer.record(attempt(.remove(entryID: 3), entry: 3)) }
        try await waitUntil { await committer.waitingCount == 2 }
        store.release()
        _ = try await a.value
        await #expect(throws: TestFailure.self) { try await b.value }
        _ = try await c.value
        let calls = store.calls.withLock { $0 }
        // 1 alone, then 2+3 shared (failed), then 2 and 3 each on their own.
        #expect(calls.count == 4)
        #expect(Set(calls[1]) == [.remove(entryID: 2), .remove(entryID: 3)])
        #expect(Set(calls.suffix(2).map(Set.init)) == [[.remove(entryID: 2)], [.remove(entryID: 3)]])
    }

    @Test func aLostLeaseIsAnsweredToItsOwnAttemptOnly() async throws {
        let store = FakeStore()
        let first = Mutex(true)
        // The store refuses entry 2 (another node holds it now) and records the others.
        let committer = ResultCommitter(isShutdown: { $0 is CancellationError }) { attempts in
            let hold = first.withLock { value in
                defer { value = false }; return value
            }
            try await store.commit(attempts.flatMap(\.updates), hold: hold)
            return attempts.map { $0.entryIDs == [2] ? .leaseLost(entryIDs: [2]) : .recorded }
        }
        let a = Task { try await committer.record(attempt(.remove(entryID: 1), entry: 1)) }
        try await waitUntil { store.isHeld }
        let b = Task { try await committer.record(attempt(.remove(entryID: 2), entry: 2)) }
        let c = Task { try await committer.record(attempt(.remove(entryID: 3), entry: 3)) }
        try await waitUntil { await committer.waitingCount == 2 }
        store.release()
        #expect(try await a.value == .recorded)
        #expect(try await b.value == .leaseLost(entryIDs: [2]))
        #expect(try await c.value == .recorded)
        #expect(await committer.storeCalls == 2)
    }
}
