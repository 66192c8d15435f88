/// What the queue does after a delivery attempt: the pure decision from per-recipient outcomes to queue
/// updates, DSNs and Badmail entries (RFC 5321 §4.5.4.1 retries, §4.5.5 no bounce for `<>`;
/// RFC 3461 §4.1 NOTIFY; RFC 3464 actions). Time comes in as a value, so every rule is testable.
import Foundation
import MailCore
import MailStore

/// How delivering to one recipient went.
public enum RecipientOutcome: Hashable, Sendable {
    /// Accepted by the next hop. `relayedWithoutDSN`: the next hop does not offer DSN, so a
    /// NOTIFY=SUCCESS request ends here and is answered with a "relayed" report (RFC 3461 §4.1).
    case delivered(remoteMTA: String?, reply: String?, relayedWithoutDSN: Bool)
    /// Try again later (4yz, connection failure, timeout, DNS trouble).
    case temporary(status: EnhancedStatusCode, diagnostic: String?, remoteMTA: String?)
    /// Give up now (5yz, null MX, no such domain, hop limit).
    case permanent(status: EnhancedStatusCode, diagnostic: String?, remoteMTA: String?)
}

/// What an attempt did with one entry (the log's and the metrics' `result`).
public enum AttemptResult: String, Hashable, Sendable {
    /// Accepted by the next hop: the entry is removed.
    case delivered
    /// A temporary failure within the retry period: tried again later.
    case deferred
    /// A permanent failure: removed, the sender is told.
    case bounced
    /// Temporary failures until the retry period ran out: removed, the sender is told.
    case expired
}

/// One DSN to generate about one message.
public struct PendingReport: Hashable, Sendable {
    /// Any entry of the message (they share sender, envelope, arrival and queue id).
    public var entry: QueueEntry
    public var recipients: [DeliveryReport.Recipient]
    public var kind: DeliveryReport.Kind
}

/// The result of `QueueAttempt.decide`.
public struct AttemptDecision: Hashable, Sendable {
    public var updates: [QueueUpdate] = []
    /// At most one report per message and kind, in the order of the entries.
    public var reports: [PendingReport] = []
    /// Entries whose sender is `<>` (they are reports themselves) that failed for good: nobody can be
    /// told, so their message goes to the Badmail directory, with the reason.
    public var badmail: [BadmailItem] = []
    /// One line per entry for the log: (entry, result word, detail).
    public var log: [LogItem] = []

    public struct BadmailItem: Hashable, Sendable {
        public var entry: QueueEntry
        public var reason: String
    }

    public struct LogItem: Hashable, Sendable {
        public var entry: QueueEntry
        public var result: AttemptResult
        public var detail: String
        public var remoteMTA: String?
    }
}

public enum QueueAttempt {
    /// Decides, for each entry with an outcome, what happens next. Entries without an outcome are left alone.
    public static func decide(
        entries: [QueueEntry], outcomes: [Int64: RecipientOutcome], now: Date,
        schedule: RetrySchedule
    ) -> AttemptDecision {
        var decision = AttemptDecision()
        var reportIndex: [ReportKey: Int] = [:]

        func addReport(_ entry: QueueEntry, _ kind: DeliveryReport.Kind, _ recipient: DeliveryReport.Recipient) {
            guard BounceAddress.shouldNotify(sender: entry.sender, notify: entry.recipient.effectiveNotify, kind: kind) else {
                return
            }
            let key = ReportKey(messageID: entry.messageID, kind: kind)
            if let index = reportIndex[key] {
                decision.reports[index].recipients.append(recipient)
            } else {
                reportIndex[key] = decision.reports.count
                decision.reports.append(PendingReport(entry: entry, recipients: [recipient], kind: kind))
            }
        }

        func fail(_ entry: QueueEntry, status: EnhancedStatusCode, diagnostic: String?, remoteMTA: String?, result: AttemptResult) {
            decision.updates.append(.remove(entryID: entry.id))
            let detail = diagnostic ?? status.description
            decision.log.append(.init(entry: entry, result: result, detail: detail, remoteMTA: remoteMTA))
            if entry.sender.isNull {
                decision.badmail.append(.init(entry: entry, reason: "\(result.rawValue): \(detail)"))
                return
            }
            addReport(
                entry, .failure,
                DeliveryReport.Recipient(
                    address: entry.recipient.address, originalRecipient: entry.recipient.originalRecipient,
                    action: .failed, status: status, remoteMTA: remoteMTA, diagnostic: diagnostic, lastAttempt: now))
        }

        for entry in entries {
            guard let outcome = outcomes[entry.id] else { continue }
            switch outcome {
            case .delivered(let remoteMTA, let reply, let relayedWithoutDSN):
                decision.updates.append(.remove(entryID: entry.id))
                decision.log.append(.init(entry: entry, result: .delivered, detail: reply ?? "", remoteMTA: remoteMTA))
                if relayedWithoutDSN {
                    addReport(
                        entry, .success,
                        DeliveryReport.Recipient(
                            address: entry.recipient.address, originalRecipient: entry.recipient.originalRecipient,
                            action: .relayed, status: .ok, remoteMTA: remoteMTA,
                            diagnostic: reply, lastAttempt: now))
                }
            case .permanent(let status, let diagnostic, let remoteMTA):
                fail(entry, status: status, diagnostic: diagnostic, remoteMTA: remoteMTA, result: .bounced)
            case .temporary(let status, let diagnostic, let remoteMTA):
                let attempts = entry.attempts + 1
                switch schedule.outcome(afterFailureAt: now, attempts: attempts, arrivedAt: entry.arrivedAt) {
                case .expire:
                    let text = "delivery time expired after \(attempts) attempt(s); last error: \(diagnostic ?? status.description)"
                    fail(entry, status: status, diagnostic: text, remoteMTA: remoteMTA, result: .expired)
                case .retry(let next):
                    let error = diagnostic ?? status.description
                    decision.updates.append(.retryLater(entryID: entry.id, nextAttempt: next, attemptedAt: now, error: error))
                    decision.log.append(.init(entry: entry, result: .deferred, detail: error, remoteMTA: remoteMTA))
                    if schedule.needsDelayWarning(arrivedAt: entry.arrivedAt, now: now, alreadyNotified: entry.delayNotified) {
                        decision.updates.append(.markDelayNotified(entryID: entry.id))
                        addReport(
                            entry, .delay,
                            DeliveryReport.Recipient(
                                address: entry.recipient.address, originalRecipient: entry.recipient.originalRecipient,
                                action: .delayed, status: status, remoteMTA: remoteMTA, diagnostic: diagnostic,
                                lastAttempt: now, willRetryUntil: schedule.expiry(arrivedAt: entry.arrivedAt)))
                    }
                }
            }
        }
        return decision
    }

    private struct ReportKey: Hashable {
        var messageID: Int64
        var kind: DeliveryReport.Kind
    }
}
