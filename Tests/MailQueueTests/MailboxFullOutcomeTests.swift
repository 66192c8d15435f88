/// A recipient whose mailbox is full, as Petrel's own SMTP server answers it (`SMTPReply.mailboxFull`:
/// 452 4.2.2) and as the queue sees it when it delivers to another Petrel node or any MTA that answers the
/// same: a temporary outcome, deferred under the retry schedule (with the delay warning when due), and
/// only at expiry a failure DSN that names 4.2.2 and the reply — never dropped, never bounced at once.
import Foundation
import MailCore
import MailStore
import SMTPCore
import Testing

@testable import MailQueue

@Suite struct MailboxFullOutcomeTests {
    let arrived = Date(timeIntervalSince1970: 1_800_000_000)
    let schedule: RetrySchedule = {
        (try? RetrySchedule(intervals: [60, 600], expireAfter: 86_400, delayWarningAfter: 3600)) ?? .default
    }()

    func entry(attempts: Int) -> QueueEntry {
        QueueEntry(
            id: 1, messageID: 1, queueID: "Q1", sender: path("<alice@local.test>"),
            recipient: OutboundRecipient(address: address("bob@remote.test"), notify: nil, originalRecipient: nil),
            envelope: OutboundEnvelope(), state: .active, attempts: attempts, arrivedAt: arrived, nextAttempt: arrived,
            lastAttempt: nil, lastError: nil, delayNotified: false, size: 100)
    }

    var outcome: RecipientOutcome {
        let result = SMTPRecipientResult(
            recipient: SMTPClientRecipient(address: "bob@remote.test"), status: .temporaryFailure,
            reply: .mailboxFull("bob@remote.test"), stage: .rcpt)
        return DeliveryOutcome.of(result, remoteMTA: "mx.remote.test", dsnOffered: true, notify: [])
    }

    @Test func isTemporaryWithTheMailboxFullCode() {
        #expect(
            outcome
                == .temporary(
                    status: EnhancedStatusCode("4.2.2") ?? .tempUndefined, diagnostic: "452 4.2.2 <bob@remote.test>: Mailbox full",
                    remoteMTA: "mx.remote.test"))
    }

    @Test func isDeferredThenWarnedThenBouncedAtExpiry() {
        let first = QueueAttempt.decide(entries: [entry(attempts: 0)], outcomes: [1: outcome], now: arrived, schedule: schedule)
        #expect(first.updates.count == 1)
        guard case .retryLater(1, let next, _, let error)? = first.updates.first else {
            Issue.record("not deferred: \(first.updates)")
            return
        }
        #expect(next > arrived && error.contains("4.2.2"))
        #expect(first.reports.isEmpty && first.log.map(\.result) == [.deferred])

        let later = arrived.addingTimeInterval(2 * 3600)
        let warned = QueueAttempt.decide(entries: [entry(attempts: 3)], outcomes: [1: outcome], now: later, schedule: schedule)
        #expect(warned.reports.map(\.kind) == [.delay])
        #expect(warned.reports.first?.recipients.first?.status == EnhancedStatusCode("4.2.2"))

        let expired = QueueAttempt.decide(
            entries: [entry(attempts: 30)], outcomes: [1: outcome], now: arrived.addingTimeInterval(86_401), schedule: schedule)
        #expect(expired.updates == [.remove(entryID: 1)])
        #expect(expired.log.map(\.result) == [.expired])
        #expect(expired.reports.map(\.kind) == [.failure])
        let bounced = expired.reports.first?.recipients.first
        #expect(bounced?.status == EnhancedStatusCode("4.2.2") && bounced?.action == .failed)
        #expect(bounced?.diagnostic?.contains("Mailbox full") == true)
    }
}
