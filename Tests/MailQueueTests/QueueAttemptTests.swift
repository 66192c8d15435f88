import Foundation
import MailCore
import MailStore
import Testing

@testable import MailQueue

@Suite struct QueueAttemptTests {
    let arrived = Date(timeIntervalSince1970: 1_800_000_000)

    func entry(
        _ id: Int64, message: Int64 = 1, sender: String = "<alice@local.test>", to: String = "bob@remote.test",
        notify: DSNNotify? = nil, attempts: Int = 0, delayNotified: Bool = false
    ) -> QueueEntry {
        QueueEntry(
            id: id, messageID: message, queueID: "Q\(message)", sender: path(sender),
            recipient: OutboundRecipient(address: address(to), notify: notify, originalRecipient: nil),
            envelope: OutboundEnvelope(), state: .active, attempts: attempts, arrivedAt: arrived, nextAttempt: arrived,
            lastAttempt: nil, lastError: nil, delayNotified: delayNotified, size: 100)
    }

    let schedule: RetrySchedule = {
        (try? RetrySchedule(intervals: [60, 600], expireAfter: 86_400, delayWarningAfter: 3600)) ?? .default
    }()

    @Test func deliveredIsRemovedWithoutReport() {
        let e = entry(1)
        let d = QueueAttempt.decide(
            entries: [e], outcomes: [1: .delivered(remoteMTA: "mx", reply: "250 ok", relayedWithoutDSN: false)],
            now: arrived, schedule: schedule)
        #expect(d.updates == [.remove(entryID: 1)])
        #expect(d.reports.isEmpty)
        #expect(d.log.map(\.result) == [.delivered])
    }

    @Test func relayedWithoutDSNAnswersNotifySuccess() {
        let e = entry(1, notify: [.success, .failure])
        let d = QueueAttempt.decide(
            entries: [e], outcomes: [1: .delivered(remoteMTA: "mx", reply: "250 ok", relayedWithoutDSN: true)],
            now: arrived, schedule: schedule)
        #expect(d.reports.count == 1)
        #expect(d.reports.first?.kind == .success)
        #expect(d.reports.first?.recipients.first?.action == .relayed)
        // Without NOTIFY=SUCCESS no report, even when relayed.
        let quiet = QueueAttempt.decide(
            entries: [entry(2)], outcomes: [2: .delivered(remoteMTA: "mx", reply: nil, relayedWithoutDSN: true)],
            now: arrived, schedule: schedule)
        #expect(quiet.reports.isEmpty)
    }

    @Test func permanentFailuresOfOneMessageShareOneReport() {
        let a = entry(1, to: "a@remote.test"), b = entry(2, to: "b@remote.test"), other = entry(3, message: 2)
        let fail = RecipientOutcome.permanent(status: .badDestinationMailbox, diagnostic: "550 5.1.1 no", remoteMTA: "mx")
        let d = QueueAttempt.decide(entries: [a, b, other], outcomes: [1: fail, 2: fail, 3: fail], now: arrived, schedule: schedule)
        #expect(Set(d.updates) == [.remove(entryID: 1), .remove(entryID: 2), .remove(entryID: 3)])
        #expect(d.reports.count == 2)
        #expect(d.reports.first?.recipients.map(\.address) == [address("a@remote.test"), address("b@remote.test")])
        #expect(d.reports.first?.recipients.allSatisfy { $0.action == .failed && $0.status == .badDestinationMailbox } == true)
    }

    @Test func notifyNeverSuppressesTheReport() {
        let e = entry(1, notify: .never)
        let d = QueueAttempt.decide(
            entries: [e], outcomes: [1: .permanent(status: .badDestinationMailbox, diagnostic: nil, remoteMTA: nil)],
            now: arrived, schedule: schedule)
        #expect(d.updates == [.remove(entryID: 1)])
        #expect(d.reports.isEmpty)
        #expect(d.badmail.isEmpty)
    }

    @Test func aFailingBounceGoesToBadmailNotToAnotherBounce() {
        let e = entry(1, sender: "<>")
        let d = QueueAttempt.decide(
            entries: [e], outcomes: [1: .permanent(status: .badDestinationMailbox, diagnostic: "550 no", remoteMTA: "mx")],
            now: arrived, schedule: schedule)
        #expect(d.reports.isEmpty)
        #expect(d.badmail.map(\.entry.id) == [1])
        #expect(d.badmail.first?.reason.contains("550 no") == true)
    }

    @Test func temporaryFailureIsDeferredOnTheSchedule() {
        let e = entry(1, attempts: 1)
        let now = arrived.addingTimeInterval(120)
        let d = QueueAttempt.decide(
            entries: [e], outcomes: [1: .temporary(status: .tempSystem, diagnostic: "451 later", remoteMTA: "mx")],
            now: now, schedule: schedule)
        // Second attempt failed: wait the second interval (600 s).
        #expect(d.updates == [.retryLater(entryID: 1, nextAttempt: now.addingTimeInterval(600), attemptedAt: now, error: "451 later")])
        #expect(d.reports.isEmpty)
    }

    @Test func delayWarningOnceAfterTheConfiguredAge() {
        let now = arrived.addingTimeInterval(3700)
        let temp = RecipientOutcome.temporary(status: .tempSystem, diagnostic: "451 later", remoteMTA: "mx")
        let d = QueueAttempt.decide(entries: [entry(1, attempts: 3)], outcomes: [1: temp], now: now, schedule: schedule)
        #expect(d.updates.contains(.markDelayNotified(entryID: 1)))
        #expect(d.reports.first?.kind == .delay)
        #expect(d.reports.first?.recipients.first?.willRetryUntil == arrived.addingTimeInterval(86_400))
        let again = QueueAttempt.decide(entries: [entry(1, attempts: 4, delayNotified: true)], outcomes: [1: temp], now: now, schedule: schedule)
        #expect(again.reports.isEmpty)
        #expect(!again.updates.contains(.markDelayNotified(entryID: 1)))
        let early = QueueAttempt.decide(entries: [entry(1)], outcomes: [1: temp], now: arrived.addingTimeInterval(60), schedule: schedule)
        #expect(early.reports.isEmpty)
    }

    @Test func expiryTurnsATemporaryFailureIntoAFailureReport() {
        let now = arrived.addingTimeInterval(86_400)
        let d = QueueAttempt.decide(
            entries: [entry(1, attempts: 9)],
            outcomes: [1: .temporary(status: .tempNetwork, diagnostic: "connect failed", remoteMTA: nil)],
            now: now, schedule: schedule)
        #expect(d.updates == [.remove(entryID: 1)])
        #expect(d.reports.first?.kind == .failure)
        #expect(d.reports.first?.recipients.first?.diagnostic?.contains("expired") == true)
        #expect(d.log.first?.result == .expired)
    }

    @Test func entriesWithoutOutcomeAreLeftAlone() {
        let d = QueueAttempt.decide(
            entries: [entry(1), entry(2)], outcomes: [2: .delivered(remoteMTA: nil, reply: nil, relayedWithoutDSN: false)],
            now: arrived, schedule: schedule)
        #expect(d.updates == [.remove(entryID: 2)])
    }
}

@Suite struct RouteTableTests {
    let table = RouteTable(routes: ["Special.TEST": NextHopAddress(host: "10.0.0.1", port: 2525)], remotePort: 2500)

    @Test func routeWinsThenLiteralThenMX() {
        #expect(table.choose(domain: "special.test") == .route(NextHopAddress(host: "10.0.0.1", port: 2525)))
        #expect(table.choose(domain: "other.test") == .mx(domain: "other.test", port: 2500))
        for (literal, ip) in [("[192.0.2.1]", "192.0.2.1"), ("[IPv6:2001:db8::1]", "2001:db8::1")] {
            if case .literal(let got, let port) = table.choose(domain: literal) {
                #expect(got == IPAddress(ip))
                #expect(port == 2500)
            } else {
                Issue.record("\(literal) not routed to its address")
            }
        }
        if case .unroutable = table.choose(domain: "[tag:whatever]") {} else { Issue.record("general literal routed") }
        // Routes are keyed by routing domain, whichever spelling the administrator used.
        let idn = RouteTable(routes: [
            "Bücher.Example": NextHopAddress(host: "10.0.0.2", port: 25),
            "[IPv6:2001:DB8:0::1]": NextHopAddress(host: "10.0.0.3", port: 25)
        ])
        #expect(idn.choose(domain: "xn--bcher-kva.example") == .route(NextHopAddress(host: "10.0.0.2", port: 25)))
        #expect(idn.choose(domain: "bücher.example") == .route(NextHopAddress(host: "10.0.0.2", port: 25)))
        #expect(idn.choose(domain: "[ipv6:2001:db8::1]") == .route(NextHopAddress(host: "10.0.0.3", port: 25)))
        #expect(idn.destinationKey(domain: "BÜCHER.example") == idn.destinationKey(domain: "xn--bcher-kva.example"))
        #expect(table.choose(domain: "Bücher.example") == .mx(domain: "xn--bcher-kva.example", port: 2500))
        if case .unroutable = table.choose(domain: "[192.0.2.1") {} else { Issue.record("broken literal routed") }
    }

    @Test func smarthostTakesEverythingWithoutARoute() {
        var t = table
        t.smarthost = NextHopAddress(host: "relay.test", port: 587)
        #expect(t.choose(domain: "other.test") == .smarthost(NextHopAddress(host: "relay.test", port: 587)))
        #expect(t.choose(domain: "[192.0.2.1]") == .smarthost(NextHopAddress(host: "relay.test", port: 587)))
        #expect(t.choose(domain: "special.test") == .route(NextHopAddress(host: "10.0.0.1", port: 2525)))
        #expect(t.destinationKey(domain: "a.test") == t.destinationKey(domain: "b.test"))
        #expect(table.destinationKey(domain: "a.test") != table.destinationKey(domain: "b.test"))
    }
}
