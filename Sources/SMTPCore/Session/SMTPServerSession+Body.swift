/// Body handling of `SMTPServerSession`: DATA (RFC 5321 §4.1.1.4), BDAT (RFC 3030 §2), storing the
/// message with its trace headers (RFC 5321 §4.4, with-types RFC 3848 / RFC 6531 §3.7.3) and the
/// replies to the adapter's answers.
import Foundation
import MailCore

extension SMTPServerSession {
    /// DATA: needs a transaction with at least one accepted recipient and no BDAT before it.
    mutating func data() -> [SMTPServerAction] {
        guard var current = transaction else { return reject(.needMail) }
        guard !current.usedBDAT else { return reject(.dataAfterBDAT) }
        guard !current.recipients.isEmpty else { return reject(.noValidRecipients) }
        current.bodySpooled = true
        transaction = current
        pending = .data
        return [.send(.startMailInput), .receiveData]
    }

    /// BDAT n [LAST]: every chunk is consumed, even a rejected one (RFC 3030 §2); the reply follows it.
    mutating func bdat(size: Int, last: Bool) -> [SMTPServerAction] {
        guard var current = transaction else { return discardChunk(size: size, last: last, rejection: .needMail, ends: false) }
        guard !current.recipients.isEmpty else {
            return discardChunk(size: size, last: last, rejection: .noValidRecipients, ends: false)
        }
        let allowance = Int64(configuration.maxMessageSize) - current.chunkOctets
        guard Int64(size) <= allowance else { return discardChunk(size: size, last: last, rejection: .messageTooBig, ends: true) }
        current.usedBDAT = true
        current.bodySpooled = true
        transaction = current
        pending = .chunk(size: size, last: last, rejection: nil, endsTransaction: false)
        return [.receiveChunk(size: size, keep: true)]
    }

    private mutating func discardChunk(size: Int, last: Bool, rejection: SMTPReply, ends: Bool) -> [SMTPServerAction] {
        pending = .chunk(size: size, last: last, rejection: rejection, endsTransaction: ends)
        return [.receiveChunk(size: size, keep: false)]
    }

    mutating func dataReceived(_ outcome: BodyOutcome) -> [SMTPServerAction] {
        switch outcome {
        case .complete(let octets, let receivedFields): return beginStore(size: octets, receivedFields: receivedFields)
        case .tooLarge: return failTransaction(.messageTooBig, countsAsError: true)
        case .lineTooLong: return failTransaction(.bodyLineTooLong, countsAsError: true)
        case .bareLineEnding: return closeWith(.bareLineEndingInData(hostname: configuration.hostname))
        case .nulCharacter: return failTransaction(.nulInMessage, countsAsError: true)
        case .storageFailure: return failTransaction(.storageFailure, countsAsError: false)
        }
    }

    mutating func chunkReceived(
        _ outcome: BodyOutcome, size: Int, last: Bool, rejection: SMTPReply?,
        endsTransaction: Bool
    ) -> [SMTPServerAction] {
        if let rejection {
            return endsTransaction ? failTransaction(rejection, countsAsError: true) : reject(rejection)
        }
        switch outcome {
        case .complete(_, let receivedFields):
            guard var current = transaction else { return [] }
            current.chunkOctets += Int64(size)
            transaction = current
            return last ? beginStore(size: current.chunkOctets, receivedFields: receivedFields) : [.send(.chunkReceived(size))]
        case .tooLarge: return failTransaction(.messageTooBig, countsAsError: true)
        case .lineTooLong: return failTransaction(.bodyLineTooLong, countsAsError: true)
        case .bareLineEnding: return failTransaction(.bareLineEndingInChunk, countsAsError: true)
        case .nulCharacter: return failTransaction(.nulInMessage, countsAsError: true)
        case .storageFailure: return failTransaction(.storageFailure, countsAsError: false)
        }
    }

    /// Builds the envelope with trace headers and asks the adapter to store it — unless the message as it
    /// would be stored (the client's `receivedFields` plus the `Received:` field added here) is a mail
    /// loop by `configuration.hopCount` (RFC 5321 §6.3): then 554 5.4.6, nothing stored or bounced.
    mutating func beginStore(size: Int64, receivedFields: Int = 0) -> [SMTPServerAction] {
        guard let current = transaction else { return [] }
        let queueID = configuration.makeQueueID()
        let now = configuration.clock.now
        let extended = hello?.extended ?? false
        let protocolName = TraceHeaders.protocolName(
            extended: extended, smtpUTF8: current.mail.smtpUTF8,
            tls: isTLS, authenticated: authenticatedUser != nil)
        let trace = TraceHeaders.build(
            sender: current.mail.reversePath, heloName: hello?.traceName(smtpUTF8: current.mail.smtpUTF8) ?? "unknown", client: client,
            hostname: configuration.hostname, protocolName: protocolName, queueID: queueID,
            recipients: current.recipients, date: now, tls: isTLS ? tlsInfo : nil)
        let hops = receivedFields + HopCount.count(in: trace)
        if configuration.hopCount.isLoop(count: hops) {
            return failTransaction(.mailLoop(limit: configuration.hopCount.limit), countsAsError: false)
        }
        let envelope = SMTPEnvelope(
            queueID: queueID, sender: current.mail.reversePath, recipients: current.recipients,
            localMailboxIDs: current.mailboxIDs, traceHeaders: trace, receivedAt: now,
            bodyType: current.mail.body ?? .sevenBit, smtpUTF8: current.mail.smtpUTF8,
            declaredSize: current.mail.size, bodySize: size, remoteRecipients: current.remoteRecipients,
            envelopeID: current.mail.envelopeID, dsnReturn: current.mail.dsnReturn,
            heloName: hello?.name, authenticatedUser: authenticatedUser,
            localSuccessNotices: current.localSuccessNotices)
        pending = .store(queueID: queueID, size: size)
        return [.storeMessage(envelope)]
    }

    mutating func messageStored(_ outcome: StoreOutcome, queueID: String, size: Int64) -> [SMTPServerAction] {
        switch outcome {
        case .stored:
            let reply = SMTPReply.queued(queueID)
            messagesStored += 1
            var actions = endTransaction(reply: reply, queueID: queueID, size: size, discard: false)
            actions.append(.send(reply))
            return actions
        case .failed:
            return failTransaction(.storageFailure, countsAsError: false)
        case .rejected(let reply):
            return failTransaction(reply, countsAsError: false)
        }
    }
}
