/// `SMTPConnectionHandler`: the defences at connection start (connection rules, client-name check,
/// greeting delay, talking before the greeting), recipient decisions with the invalid-recipient throttle,
/// the sender-domain check, storing a message (and waking the delivery agent) and the transaction log line.
import Logging
import MailCore
import MailPolicy
import MailQueue
import MailStore
import NIOCore
import SMTPCore

extension SMTPConnectionHandler {
    // MARK: - Abuse defences

    /// Greets at once, or after the client-host lookup and `greetingDelay`, whichever ends later.
    func startSession(context: ChannelHandlerContext) {
        let delay = server.greetingDelay
        var lookup: (@Sendable () async -> String?)?
        if let verify = server.verifyClientHost, let ip = session.client.ip, !server.currentRelayRules.allowedClientDomains.isEmpty {
            lookup = { await verify(ip) }
        }
        guard delay > .zero || lookup != nil else {
            greet(context: context)
            return
        }
        let deadline = NIODeadline.now() + max(delay, .zero)
        guard let lookup else {
            greet(notBefore: deadline, context: context)
            return
        }
        io.runAsync(lookup, on: .eventLoop, handler: self, context: context) { handler, context, name in
            if let name {
                // The session owns the client's name: it goes into the Received: header.
                _ = handler.session.handle(.clientNameResolved(name))
                handler.logger[metadataKey: "host"] = "\(name)"
                handler.logger.debug("smtp client host verified (forward-confirmed reverse DNS)")
            }
            handler.greet(notBefore: deadline, context: context)
        }
    }

    func greet(notBefore deadline: NIODeadline, context: ChannelHandlerContext) {
        let remaining = deadline - NIODeadline.now()
        guard remaining > .zero else {
            greet(context: context)
            return
        }
        io.after(remaining, handler: self, context: context) { handler, context in
            handler.greet(context: context)
        }
    }

    func greet(context: ChannelHandlerContext) {
        guard !closed, !session.greeted else { return }
        run(session.handle(.connected), context: context)
        restartDeadline(context: context)
        flushIfNeeded(context: context)
    }

    /// RFC 5321 §3.1: the client waits for the greeting. One that talks first (a spam engine that
    /// pipelines blindly) gets 554 5.5.0 instead of the greeting and is closed.
    func refuseEarlyTalker(bytes: Int, context: ChannelHandlerContext) {
        logger.notice("smtp connection refused", metadata: ["reason": "\(ConnectionTracker.Refusal.talkedBeforeGreeting)", "bytes": "\(bytes)"])
        server.metrics.connectionRejected(server.protocolKind, reason: .talkedBeforeGreeting)
        io.buffer = nil
        run(session.handle(.talkedBeforeGreeting), context: context)
    }

    /// Applies the RCPT decision; refused recipients go through the throttle (delay, then disconnect).
    func recipientDecided(_ decision: RecipientDecision, query: RecipientQuery, context: ChannelHandlerContext) {
        let reason: String
        switch decision {
        case .relayDenied: reason = "relay access denied"
        case .unknownUser: reason = "unknown user"
        case .unknownRelayRecipient: reason = "unknown user in relay domain"
        default:
            answer(.recipientResolved(decision), context: context)
            return
        }
        let recipient: String
        switch query {
        case .address(let a): recipient = a.description
        case .barePostmaster: recipient = "Postmaster"
        }
        let verdict = invalidRecipients.recordInvalid()
        logger.info(
            "smtp recipient refused",
            metadata: [
                "rcpt": "<\(recipient)>", "reason": "\(reason)",
                "invalid": "\(invalidRecipients.count)"
            ])
        switch verdict {
        case .answer(let delay) where delay > .zero:
            let parts = delay.components
            io.after(
                .nanoseconds(parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000), handler: self,
                context: context
            ) { handler, context in
                handler.answer(.recipientResolved(decision), context: context)
            }
        case .answer:
            answer(.recipientResolved(decision), context: context)
        case .disconnect:
            logger.notice(
                "smtp connection closed",
                metadata: [
                    "reason": "\(ConnectionTracker.Refusal.tooManyInvalidRecipients)",
                    "invalid": "\(invalidRecipients.count)"
                ])
            server.metrics.connectionRejected(server.protocolKind, reason: .tooManyInvalidRecipients)
            run(session.handle(.recipientResolved(decision)), context: context)
            run(session.handle(.invalidRecipientLimit), context: context)
            flushIfNeeded(context: context)
        }
    }

    func checkSenderDomain(_ domain: String, context: ChannelHandlerContext) {
        let server = self.server
        io.runAsync({ await server.checkSenderDomain(domain) }, on: .eventLoop, handler: self, context: context) { handler, context, check in
            if check == .local {
                handler.logger.notice(
                    "smtp sender refused",
                    metadata: [
                        "reason": "unauthenticated client used a local sender domain", "domain": "\(domain)"
                    ])
            }
            handler.answer(.senderDomainChecked(check), context: context)
        }
    }

    func store(_ envelope: SMTPEnvelope, context: ChannelHandlerContext) {
        chunkDecoder = nil
        let body: MessageBody
        do {
            body = try spool.body()
        } catch {
            logger.error("spool failed", metadata: ["id": "\(envelope.queueID)", "error": "\(error)"])
            spool.release()
            run(session.handle(.messageStored(.failed)), context: context)
            return
        }
        let form = bodyForm
        if let check = server.messageCheck {
            let request = MessageCheckRequest(envelope: envelope, body: body, client: session.client)
            if check.applies(request) {
                checkMessage(request, check: check, form: form, context: context) // MessageCheck.swift
                return
            }
        }
        commit(envelope, body: body, form: form, context: context)
    }

    /// Stores an accepted message; the 250 goes out once the commit is on disk. `form`: what the DATA
    /// decoder knows about `body` (`BodyForm`).
    func commit(_ envelope: SMTPEnvelope, body: MessageBody, form: BodyForm, context: ChannelHandlerContext) {
        let message = IncomingMessage(
            queueID: envelope.queueID, sender: envelope.sender,
            localRecipients: envelope.localMailboxIDs, receivedAt: envelope.receivedAt,
            traceHeaders: envelope.traceHeaders, body: body,
            remoteRecipients: envelope.remoteRecipients.map {
                OutboundRecipient(
                    address: $0.address, notify: $0.notify,
                    originalRecipient: $0.originalRecipient)
            },
            envelope: OutboundEnvelope(
                envelopeID: envelope.envelopeID, dsnReturn: envelope.dsnReturn,
                eightBitMIME: envelope.bodyType == .eightBitMIME,
                smtpUTF8: envelope.smtpUTF8),
            bodyForm: form)
        let store = server.store
        let queued = server.outboundQueued
        let hasRemote = !message.remoteRecipients.isEmpty
        // RFC 3461 §5.2.3: local recipients with NOTIFY=SUCCESS get a "delivered" report, stored in the same
        // transaction as the message (both or neither); its attachment is the message's header section.
        let successReport = successReportRequest(envelope)
        spool.hold()
        let metrics = server.metrics
        let logger = self.logger
        // `.run`: the spool is released and the outcome logged even when the client has gone.
        io.runAsync(
            { () async throws -> [Int64] in
                let started = ContinuousClock.now
                var report: (IncomingMessage, DeliveryReport, SuccessReports)?
                if case let (dsn, original, reports)? = successReport,
                    let made = await reports.make(dsn, original, Int64(message.traceHeaders.count) + message.body.size)
                {
                    report = (made, dsn, reports)
                }
                let ids: [Int64]
                if case let (made, dsn, reports)? = report {
                    ids = try await store.completeAttempt([], notifications: [message, made]).first ?? []
                    reports.stored(made, dsn)
                } else {
                    ids = try await store.deliver(message)
                }
                let elapsed = ContinuousClock.now - started
                metrics.storeCommit(nanoseconds: elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
                if hasRemote { queued() }
                return ids
            }, on: .eventLoop, handler: self, context: context, whenClosed: .run
        ) { handler, context, result in
            handler.spool.release()
            let outcome: StoreOutcome
            switch result {
            case .success: outcome = .stored
            case .failure(StoreError.mailboxNotFound(let which)):
                // Removed after its RCPT (by the CLI or another node, within `[store] recipient_cache`).
                logger.warning(
                    "message refused: a recipient's mailbox was removed after RCPT",
                    metadata: ["id": "\(envelope.queueID)", "mailbox": "\(which)"])
                outcome = .rejected(.recipientRemoved)
            case .failure(let error):
                logger.error("message store failed", metadata: ["id": "\(envelope.queueID)", "error": "\(error)"])
                outcome = .failed
            }
            guard !handler.closed else {
                if case .success = result {
                    // Stored, but the client is gone before it saw the 250: it may send again (at-least-once).
                    logger.notice("message stored after client disconnected", metadata: ["id": "\(envelope.queueID)"])
                }
                return
            }
            handler.run(handler.session.handle(.messageStored(outcome)), context: context)
            handler.restartDeadline(context: context)
            handler.processInput(context: context)
            handler.flushIfNeeded(context: context)
        }
    }

    /// The "delivered" report owed for this envelope (nil when none is, or reports are off), with the
    /// start of the message to attach its headers from (trace headers + the first 64 KiB of the body).
    func successReportRequest(_ envelope: SMTPEnvelope) -> (DeliveryReport, [UInt8], SuccessReports)? {
        guard let reports = server.successReports, !envelope.localSuccessNotices.isEmpty else { return nil }
        let recipients = envelope.localSuccessNotices.map {
            LocalDeliveryReport.Recipient(address: $0.address, originalRecipient: $0.originalRecipient)
        }
        guard
            let dsn = LocalDeliveryReport.make(
                reportingMTA: server.configuration.hostname, sender: envelope.sender, envelopeID: envelope.envelopeID,
                arrivalDate: envelope.receivedAt, queueID: envelope.queueID, recipients: recipients,
                smtpUTF8: envelope.smtpUTF8, deliveredAt: envelope.receivedAt)
        else { return nil }
        return (dsn, envelope.traceHeaders + spool.prefix(64 * 1024), reports)
    }

    func logTransaction(_ summary: SMTPTransactionSummary) {
        server.metrics.smtpTransaction(server.protocolKind, replyCode: summary.reply.code.rawValue, stored: summary.queueID != nil)
        var metadata: Logger.Metadata = [
            "result": "\(summary.reply.code)\(summary.reply.enhanced.map { " \($0)" } ?? "")",
            "rcpt": "\(summary.recipients.map { "<\($0)>" }.joined(separator: ","))"
        ]
        if let id = summary.queueID { metadata["id"] = "\(id)" }
        if let helo = summary.heloName { metadata["helo"] = "\(helo)" }
        if let from = summary.sender { metadata["from"] = "\(from)" }
        if let size = summary.size { metadata["size"] = "\(size)" }
        if let user = summary.authenticatedUser { metadata["auth"] = "\(user)" }
        if let tls = summary.tls { metadata["tls"] = "\(tls.version) \(tls.cipher)" }
        if summary.reply.code.isPositiveCompletion && summary.queueID != nil {
            logger.info("smtp message accepted", metadata: metadata)
        } else if summary.reply.code.isPositiveCompletion {
            // Ended by RSET (or a new MAIL) before any message was stored.
            logger.info("smtp transaction aborted", metadata: metadata)
        } else {
            metadata["reason"] = "\(summary.reply.lines.first ?? "")"
            logger.info("smtp message rejected", metadata: metadata)
        }
    }
}
