/// Recording an attempt: the queue decision (QueueAttempt), RFC 3464 reports to the senders (stored
/// in the same transaction as the queue updates), the optional copy of failure reports to an
/// administrator, and the Badmail directory for reports nobody can receive.
import BadmailStore
import Foundation
import Logging
import MailCore
import MailPolicy
import MailQueue
import MailStore
import NIOPosix

extension DeliveryAgent {
    /// Applies the outcomes of one message's entries.
    func complete(_ entries: [QueueEntry], outcomes: [Int64: RecipientOutcome], peer: String?) async {
        let now = clock.now
        let decision = QueueAttempt.decide(entries: entries, outcomes: outcomes, now: now, schedule: configuration.schedule)
        // Badmail first: the message must still be in the store to be copied.
        for item in decision.badmail {
            await storeBadmail(entry: item.entry, reason: item.reason)
        }
        var notifications: [IncomingMessage] = []
        var reportLog: [(String, PendingReport)] = []
        for report in decision.reports {
            if let message = await makeReport(report, now: now) {
                notifications.append(message)
                reportLog.append((message.queueID, report))
            }
        }
        let recorded: LeasedAttemptResult
        do {
            recorded = try await results.record(
                LeasedAttempt(entryIDs: entries.map(\.id), updates: decision.updates, notifications: notifications))
        } catch  where Self.isShutdown(error) {
            // Stopping: nothing was recorded, the entries stay due and are tried again after the restart.
            logger.notice("delivery results not recorded (shutting down)", metadata: ["id": "\(entries.first?.queueID ?? "?")"])
            return
        } catch {
            // Nothing was recorded: the entries stay due and are tried again (at least once).
            logger.error(
                "recording delivery results failed",
                metadata: [
                    "id": "\(entries.first?.queueID ?? "?")", "error": "\(error)"
                ])
            return
        }
        settled(entries.map(\.id))
        if case .leaseLost(let lost) = recorded {
            // Another node claimed these entries after our lease ran out: its attempt counts, ours is
            // dropped so the results are never applied twice.
            metrics.attempt(result: "lease_lost")
            logger.warning(
                "queue lease lost: results not recorded",
                metadata: [
                    "id": "\(entries.first?.queueID ?? "?")", "node": "\(nodeID)",
                    "entries": "\(lost.map(String.init).joined(separator: ","))"
                ])
            return
        }
        for item in decision.log {
            metrics.attempt(result: item.result.rawValue)
            var metadata: Logger.Metadata = [
                "id": "\(item.entry.queueID)", "to": "<\(item.entry.recipient.address)>", "result": "\(item.result.rawValue)",
                "attempts": "\(item.entry.attempts + 1)",
                "delay": "\(Int(now.timeIntervalSince(item.entry.arrivedAt)))s"
            ]
            if let relay = peer ?? item.remoteMTA { metadata["relay"] = "\(relay)" }
            if !item.detail.isEmpty { metadata["reply"] = "\(item.detail)" }
            switch item.result {
            case .deferred: logger.notice("delivery deferred", metadata: metadata)
            case .delivered: logger.info("delivered", metadata: metadata)
            case .bounced, .expired: logger.warning("delivery failed", metadata: metadata)
            }
        }
        for (reportID, report) in reportLog {
            metrics.reportQueued(kind: "\(report.kind)")
            logger.info(
                "report queued",
                metadata: [
                    "id": "\(reportID)", "for": "\(report.entry.queueID)", "kind": "\(report.kind)",
                    "to": "\(report.entry.sender)", "recipients": "\(report.recipients.count)"
                ])
        }
    }

    /// Builds the report message, addressed to the original sender (and the bounce copy address for
    /// failures). Returns nil when nobody can receive it (it then goes to Badmail).
    func makeReport(_ report: PendingReport, now: Date) async -> IncomingMessage? {
        let entry = report.entry
        let original: [UInt8]
        do {
            let want = Int(min(entry.size, Int64(max(configuration.maxReturnedSize + 1, 64 * 1024))))
            original = try await readPrefix(messageID: entry.messageID, length: want)
        } catch {
            logger.error("cannot read the original for a report", metadata: ["id": "\(entry.queueID)", "error": "\(error)"])
            return nil
        }
        let dsn = DeliveryReport(
            reportingMTA: configuration.hostname, originalSender: entry.sender,
            envelopeID: entry.envelope.envelopeID, arrivalDate: entry.arrivedAt, queueID: entry.queueID,
            recipients: report.recipients, dsnReturn: entry.envelope.dsnReturn,
            smtpUTF8: entry.envelope.smtpUTF8, returnSizeLimit: configuration.maxReturnedSize)
        return await addressedReport(dsn, original: original, originalSize: entry.size, now: now)
    }

    /// A "delivered" report (RFC 3461 §5.2.3, `LocalDeliveryReport`) about a message the SMTP server is
    /// storing in local mailboxes, rendered and addressed like every other report; the server stores it
    /// in the same transaction as the message. `original`: the start of the message (its header section
    /// is attached). Nil when nobody can receive it (it then went to Badmail).
    public nonisolated func localDeliveryReport(_ dsn: DeliveryReport, original: [UInt8], originalSize: Int64) async -> IncomingMessage? {
        await addressedReport(dsn, original: original, originalSize: originalSize, now: clock.now)
    }

    /// Logs and counts a report the SMTP server stored (see `localDeliveryReport`).
    public nonisolated func localDeliveryReportStored(_ message: IncomingMessage, about dsn: DeliveryReport) {
        metrics.reportQueued(kind: "\(dsn.kind)")
        logger.info(
            "report queued",
            metadata: [
                "id": "\(message.queueID)", "for": "\(dsn.queueID ?? "?")", "kind": "\(dsn.kind)",
                "to": "\(dsn.originalSender)", "recipients": "\(dsn.recipients.count)"
            ])
        if !message.remoteRecipients.isEmpty { wake() }
    }

    /// Renders `dsn` and addresses it to the original sender (and the bounce copy address for failures):
    /// local mailboxes directly, others through the queue with NOTIFY=NEVER. Nil when nobody can receive
    /// it (it then goes to Badmail).
    nonisolated func addressedReport(_ dsn: DeliveryReport, original: [UInt8], originalSize: Int64, now: Date) async -> IncomingMessage? {
        let queueID = QueueID.generate(date: now)
        let render = { @Sendable in dsn.render(original: original, originalSize: originalSize, date: now, uniqueID: queueID) }
        let rendered = (try? await offload(render)) ?? render()

        var addresses: [EmailAddress] = []
        if let sender = dsn.originalSender.address { addresses.append(sender) }
        if dsn.kind == .failure, let copy = configuration.bounceCopyTo { addresses.append(copy) }
        var local: [Int64] = []
        var remote: [OutboundRecipient] = []
        var undeliverable: [String] = []
        let rules = configuration.relayRules()
        let store = self.store
        let resolve = configuration.resolveRecipient ?? { try await store.resolveRecipient($0) }
        for address in addresses {
            // THE recipient decision (MailPolicy), as for SMTP and the pickup directory: a report goes to a
            // local mailbox or is queued under the sender's routing domain (A-labels for a Unicode domain).
            do {
                switch try await RecipientRouting.route(address, origin: .local, rules: rules, resolve: resolve) {
                case .local(let id):
                    if !local.contains(id) { local.append(id) }
                case .relay:
                    // RFC 3461 §6.2: a DSN is sent with NOTIFY=NEVER.
                    if !remote.contains(where: { $0.address.isSameMailbox(as: address) }) {
                        remote.append(OutboundRecipient(address: address, notify: .never))
                    }
                case .refuse(let refusal):
                    undeliverable.append("<\(address)>: \(refusal)")
                }
            } catch {
                undeliverable.append("<\(address)>: lookup failed: \(error)")
            }
        }
        if local.isEmpty && remote.isEmpty {
            let reason = "report about \(dsn.queueID ?? "?") could not be addressed: \(undeliverable.joined(separator: "; "))"
            await storeBadmail(
                queueID: queueID, reason: reason, sender: "<>", recipients: addresses.map(\.description),
                arrivedAt: now, message: rendered.bytes)
            return nil
        }
        if !undeliverable.isEmpty {
            logger.warning("report recipient skipped", metadata: ["id": "\(queueID)", "reason": "\(undeliverable.joined(separator: "; "))"])
        }
        return IncomingMessage(
            queueID: queueID, sender: .null, localRecipients: local, receivedAt: now,
            traceHeaders: Array("Return-Path: <>\r\n".utf8), body: .bytes(rendered.bytes),
            remoteRecipients: remote,
            envelope: OutboundEnvelope(eightBitMIME: rendered.needs8BitMIME, smtpUTF8: rendered.needsSMTPUTF8))
    }

    /// Runs blocking work on `blockingPool`, off the actor and off the concurrency pool; inline only when
    /// the pool has been shut down (the work is never lost).
    nonisolated func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await blockingPool.runIfActive(body)
        } catch is NIOThreadPoolError.ThreadPoolInactive {
            return try body()
        }
    }

    /// Reads the first `length` octets of a queued message.
    func readPrefix(messageID: Int64, length: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length)
        while bytes.count < length {
            let chunk = try await store.readQueuedMessage(
                messageID: messageID, offset: Int64(bytes.count),
                maxLength: min(64 * 1024, length - bytes.count))
            if chunk.isEmpty { break }
            bytes += chunk
        }
        return bytes
    }

    /// A report that failed for good: its message goes to the Badmail directory. Not on the actor: the
    /// message is read from the store in chunks and written as it comes.
    nonisolated func storeBadmail(entry: QueueEntry, reason: String) async {
        guard let badmail = configuration.badmail else {
            logger.error("undeliverable report dropped (no badmail directory)", metadata: ["id": "\(entry.queueID)", "reason": "\(reason)"])
            return
        }
        let store = self.store
        let messageID = entry.messageID
        do {
            let result = try await badmail.store(
                queueID: entry.queueID, reason: reason, sender: entry.sender.description,
                recipients: [entry.recipient.address.description], arrivedAt: entry.arrivedAt,
                messageSize: entry.size, now: clock.now
            ) { offset, maxLength in
                try await store.readQueuedMessage(messageID: messageID, offset: offset, maxLength: maxLength)
            }
            await logBadmail(result, queueID: entry.queueID, reason: reason, badmail: badmail)
        } catch {
            logger.error("badmail write failed", metadata: ["id": "\(entry.queueID)", "error": "\(error)"])
        }
    }

    /// Stores a rendered report nobody can receive, on the blocking pool (fsync, rename, flock).
    nonisolated func storeBadmail(
        queueID: String, reason: String, sender: String, recipients: [String], arrivedAt: Date,
        message: [UInt8]
    ) async {
        guard let badmail = configuration.badmail else {
            logger.error("undeliverable report dropped (no badmail directory)", metadata: ["id": "\(queueID)", "reason": "\(reason)"])
            return
        }
        let now = clock.now
        do {
            let result = try await offload {
                try badmail.store(
                    queueID: queueID, reason: reason, sender: sender, recipients: recipients,
                    arrivedAt: arrivedAt, message: message, now: now)
            }
            await logBadmail(result, queueID: queueID, reason: reason, badmail: badmail)
        } catch {
            logger.error("badmail write failed", metadata: ["id": "\(queueID)", "error": "\(error)"])
        }
    }

    private nonisolated func logBadmail(
        _ result: BadmailDirectory.StoreResult, queueID: String, reason: String,
        badmail: BadmailDirectory
    ) async {
        switch result {
        case .stored(let name, let truncated, let pruned):
            // The size scan reads the directory: on the blocking pool too.
            let total = try? await offload { try badmail.totalSize() }
            metrics.badmailStored(totalBytes: total)
            logger.warning(
                "stored in badmail",
                metadata: [
                    "id": "\(queueID)", "file": "\(name)", "reason": "\(reason)", "truncated": "\(truncated)",
                    "pruned": "\(pruned.count)"
                ])
        case .notStored(let why):
            logger.warning("not stored in badmail", metadata: ["id": "\(queueID)", "reason": "\(reason)", "why": "\(why)"])
        }
    }
}
