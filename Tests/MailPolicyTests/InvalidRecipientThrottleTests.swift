import MailPolicy
import Testing

@Suite struct InvalidRecipientThrottleTests {
    final class Box {
        var throttle: InvalidRecipientThrottle
        init(_ settings: InvalidRecipientThrottle.Settings) { throttle = InvalidRecipientThrottle(settings: settings) }
        func next() -> InvalidRecipientThrottle.Verdict { throttle.recordInvalid() }
    }

    @Test func delaysGrowThenDisconnect() {
        let t = Box(.init(delayAfter: 2, disconnectAt: 6, delay: .seconds(1), maxDelay: .seconds(3)))
        #expect(t.next() == .answer(after: .zero))
        #expect(t.next() == .answer(after: .zero))
        #expect(t.next() == .answer(after: .seconds(1)))
        #expect(t.next() == .answer(after: .seconds(2)))
        #expect(t.next() == .answer(after: .seconds(3)))
        #expect(t.next() == .disconnect)
        #expect(t.throttle.count == 6)
    }

    @Test func delayIsCapped() {
        let t = Box(.init(delayAfter: 0, disconnectAt: 0, delay: .milliseconds(500), maxDelay: .seconds(2)))
        var last = Duration.zero
        for _ in 0..<100 {
            guard case .answer(let d) = t.next() else { Issue.record("disconnect with disconnectAt 0"); return }
            #expect(d >= last)
            #expect(d <= .seconds(2))
            last = d
        }
        #expect(last == .seconds(2))
    }

    @Test func defaultsAreSafe() {
        let s = InvalidRecipientThrottle.Settings()
        #expect(s.delayAfter == 3)
        #expect(s.disconnectAt == 8)
        #expect(s.delay == .seconds(1))
    }
}
