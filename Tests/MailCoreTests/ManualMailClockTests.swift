import Foundation
import MailCore
import Testing

@Suite struct ManualMailClockTests {
    let start = Date(timeIntervalSince1970: 1_900_000_000)

    func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition() {
            guard ContinuousClock.now < deadline else { Issue.record("condition not reached"); return }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func timeMovesOnlyWhenAdvanced() {
        let clock = ManualMailClock(start)
        #expect(clock.now == start)
        clock.advance(90)
        #expect(clock.now == start.addingTimeInterval(90))
        clock.set(start) // never backwards
        #expect(clock.now == start.addingTimeInterval(90))
    }

    @Test func sleeperWakesWhenItsDeadlineComes() async throws {
        let clock = ManualMailClock(start)
        let sleeper = Task { try await clock.sleep(for: .seconds(60)) }
        try await waitUntil { clock.sleeperCount == 1 }
        clock.advance(59)
        #expect(clock.sleeperCount == 1)
        clock.advance(1)
        try await sleeper.value
        #expect(clock.sleeperCount == 0)
        // A zero sleep returns at once.
        try await clock.sleep(for: .zero)
    }

    @Test func cancelledSleeperThrows() async throws {
        let clock = ManualMailClock(start)
        let sleeper = Task { try await clock.sleep(for: .seconds(60)) }
        try await waitUntil { clock.sleeperCount == 1 }
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
    }
}
