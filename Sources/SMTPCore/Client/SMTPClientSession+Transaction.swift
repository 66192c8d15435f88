/// Mail transactions of the client session (RFC 5321 §3.3, §4.1.1.2–4.1.1.5): RSET between transactions,
/// MAIL with SIZE/BODY/SMTPUTF8/RET/ENVID, RCPT with NOTIFY/ORCPT, DATA, body, final reply; pipelined in
/// one write when the server offers PIPELINING (RFC 2920 §3.1), one command at a time otherwise.
///
/// Checks made before MAIL (no command is sent then): the server's fixed SIZE limit (RFC 1870 §6.1:
/// 552 5.3.4 for everyone), SMTPUTF8 needed but not offered (RFC 6531 §3.2: 553 5.6.7 for everyone),
/// addresses that cannot be written on a command line (5.1.7 sender / 5.1.3 recipient).
///
/// DATA is sent only when a RCPT was accepted. When pipelined, DATA went out with the RCPTs; if every
/// RCPT failed, the server should refuse DATA (RFC 2920 §3.1). If it answers 354 anyway it waits for a
/// body, and neither RSET nor QUIT can be sent then (they would be message text) and an empty "." would
/// make it try a message without recipients — so the client closes the connection without sending a body
/// (the transaction result is still complete: every recipient has its RCPT reply).
import MailCore

extension SMTPClientSession {
    enum Expectation: Hashable, Sendable {
        case rset
        case mail
        case rcpt(Int)
        case data
        case dot
    }

    struct TransactionState: Sendable {
        var envelope: SMTPClientEnvelope
        var results: [SMTPRecipientResult?]
        /// Recipients whose RCPT got 2yz.
        var accepted: [Int] = []
        var mailFailed = false
        /// Sent, replies awaited in this order.
        var expected: [Expectation] = []
        /// Not sent yet (without pipelining).
        var unsent: [Expectation] = []
        var commands: [Expectation: SMTPClientCommand] = [:]
    }

    // MARK: - Starting

    mutating func begin(_ envelope: SMTPClientEnvelope) -> [SMTPClientAction] {
        var envelope = envelope
        if envelope.sender.hasPrefix("<"), envelope.sender.hasSuffix(">"), envelope.sender.count >= 2 {
            envelope.sender = String(envelope.sender.dropFirst().dropLast())
        }
        var state = TransactionState(envelope: envelope, results: Array(repeating: nil, count: envelope.recipients.count))

        func failAll(_ reply: SMTPReply) -> [SMTPClientAction] {
            for (index, recipient) in envelope.recipients.enumerated() where state.results[index] == nil {
                state.results[index] = .failure(recipient, reply, .local)
            }
            transcript.note("not sent: \(reply)")
            return complete(state, closed: false)
        }

        guard envelope.sender.isEmpty || SMTPClientCommand.isSafePath(envelope.sender) else {
            return failAll(SMTPReply(.mailboxNameNotAllowed, .badSenderSyntax, "sender address cannot be sent over SMTP"))
        }
        if envelope.smtpUTF8, !capabilities.smtpUTF8 {
            return failAll(
                SMTPReply(
                    .mailboxNameNotAllowed, .nonASCIIAddress,
                    "the message needs SMTPUTF8 but the server does not support it"))
        }
        if let limit = capabilities.maxSize, envelope.size > limit {
            return failAll(
                SMTPReply(
                    .exceededStorage, .messageTooBig,
                    "message size \(envelope.size) exceeds the server's limit of \(limit) octets"))
        }
        for (index, recipient) in envelope.recipients.enumerated() {
            if recipient.address.isEmpty || !SMTPClientCommand.isSafePath(recipient.address) {
                state.results[index] = .failure(
                    recipient,
                    SMTPReply(
                        .mailboxNameNotAllowed, .badDestinationSyntax,
                        "recipient address cannot be sent over SMTP"), .local)
            }
        }
        guard state.results.contains(where: { $0 == nil }) else { return complete(state, closed: false) }

        var order: [Expectation] = []
        if needsReset {
            order.append(.rset)
            state.commands[.rset] = .rset
        }
        order.append(.mail)
        state.commands[.mail] = .mail(from: envelope.sender, parameters: mailParameters(envelope))
        for (index, recipient) in envelope.recipients.enumerated() where state.results[index] == nil {
            order.append(.rcpt(index))
            state.commands[.rcpt(index)] = .rcpt(to: recipient.address, parameters: rcptParameters(recipient))
        }
        order.append(.data)
        state.commands[.data] = .data
        needsReset = true
        phase = .transaction

        if capabilities.pipelining {
            // RFC 2920 §3.1: RSET, MAIL, RCPT may be pipelined; DATA is the last command of the group.
            var bytes: [UInt8] = []
            for expectation in order {
                guard let command = state.commands[expectation] else { continue }
                transcript.client(command.transcriptLine)
                bytes += command.encoded
            }
            state.expected = order
            transaction = state
            return [.send(bytes)]
        }
        state.unsent = order
        transaction = state
        return sendNext()
    }

    /// mail-parameters (RFC 5321 §4.1.2): SIZE=n (RFC 1870 §6), BODY=8BITMIME (RFC 6152 §2), SMTPUTF8
    /// (RFC 6531 §3.4), RET= and ENVID=xtext (RFC 3461 §4.3, §4.4) — each only when the server offers it.
    func mailParameters(_ envelope: SMTPClientEnvelope) -> [String] {
        var parameters: [String] = []
        if capabilities.sizeOffered, envelope.size > 0 { parameters.append("SIZE=\(envelope.size)") }
        if envelope.eightBitMIME, capabilities.eightBitMIME { parameters.append("BODY=8BITMIME") }
        if envelope.smtpUTF8, capabilities.smtpUTF8 { parameters.append("SMTPUTF8") }
        if capabilities.dsn {
            if let ret = envelope.dsnReturn { parameters.append("RET=\(ret.rawValue)") }
            if let id = envelope.envelopeID { parameters.append("ENVID=\(XText.encode(id))") }
        }
        return parameters
    }

    /// rcpt-parameters: NOTIFY= (RFC 3461 §4.1), ORCPT=addr-type;xtext (§4.2), only when DSN is offered.
    func rcptParameters(_ recipient: SMTPClientRecipient) -> [String] {
        guard capabilities.dsn else { return [] }
        var parameters: [String] = []
        if let notify = recipient.notify { parameters.append("NOTIFY=\(notify)") }
        if let original = recipient.originalRecipient { parameters.append(SMTPClientCommand.orcptParameter(original)) }
        return parameters
    }

    /// Without pipelining: sends the next command, or completes when the rest would be pointless.
    private mutating func sendNext() -> [SMTPClientAction] {
        guard var state = transaction, state.expected.isEmpty else { return [] }
        guard let next = state.unsent.first else { return complete(state, closed: false) }
        if state.mailFailed { return complete(state, closed: false) }
        if next == .data, state.accepted.isEmpty { return complete(state, closed: false) }
        state.unsent.removeFirst()
        state.expected = [next]
        transaction = state
        guard let command = state.commands[next] else { return complete(state, closed: false) }
        return send(command)
    }

    // MARK: - Replies

    mutating func handleTransactionReply(_ reply: SMTPReply) -> [SMTPClientAction] {
        guard var state = transaction, let expectation = state.expected.first else {
            return fail(.unexpectedReply(reply, expected: "nothing"))
        }
        state.expected.removeFirst()
        let recipients = state.envelope.recipients

        // 421 (RFC 5321 §3.8): the server is closing; whatever is undecided fails temporarily.
        if reply.code == .serviceNotAvailable, expectation != .rset {
            let stage = Self.stage(of: expectation)
            for (index, recipient) in recipients.enumerated() where state.results[index] == nil {
                state.results[index] = .failure(recipient, reply, stage)
            }
            return complete(state, closed: true)
        }

        switch expectation {
        case .rset:
            guard reply.code.isPositiveCompletion else { return fail(.unexpectedReply(reply, expected: "RSET")) }
        case .mail:
            if !reply.code.isPositiveCompletion {
                state.mailFailed = true
                for (index, recipient) in recipients.enumerated() where state.results[index] == nil {
                    state.results[index] = .failure(recipient, reply, .mail)
                }
            }
        case .rcpt(let index):
            // After a failed MAIL the RCPT replies (503) say nothing about the recipients.
            if !state.mailFailed, index < recipients.count {
                if reply.code.isPositiveCompletion {
                    state.accepted.append(index)
                } else {
                    state.results[index] = .failure(recipients[index], reply, .rcpt)
                }
            }
        case .data:
            if reply.code == .startMailInput {
                guard !state.mailFailed, !state.accepted.isEmpty else {
                    transcript.note("354 without any accepted recipient: closing without sending a body")
                    return complete(state, closed: true)
                }
                state.expected = [.dot]
                transaction = state
                transcript.client("<message body, \(state.envelope.size) octets>")
                return [.sendBody]
            }
            for index in state.accepted where state.results[index] == nil {
                state.results[index] = .failure(recipients[index], reply, .data)
            }
            return complete(state, closed: false)
        case .dot:
            for index in state.accepted where state.results[index] == nil {
                if reply.code.isPositiveCompletion {
                    state.results[index] = SMTPRecipientResult(recipient: recipients[index], status: .delivered, reply: reply, stage: .body)
                } else {
                    state.results[index] = .failure(recipients[index], reply, .body)
                }
            }
            return complete(state, closed: false)
        }
        transaction = state
        if state.expected.isEmpty { return sendNext() }
        return []
    }

    static func stage(of expectation: Expectation) -> SMTPClientStage {
        switch expectation {
        case .rset, .mail: return .mail
        case .rcpt: return .rcpt
        case .data: return .data
        case .dot: return .body
        }
    }

    /// Ends the transaction: every recipient gets a result (one without a decision — which should not
    /// happen — fails temporarily).
    mutating func complete(_ state: TransactionState, closed: Bool) -> [SMTPClientAction] {
        let fallback = SMTPReply(.localError, .tempNetwork, "no reply was received for this recipient")
        let results = state.envelope.recipients.enumerated().map { index, recipient in
            state.results[index] ?? .failure(recipient, fallback, .data)
        }
        let result = SMTPTransactionResult(recipients: results, dsnOffered: capabilities.dsn, connectionClosed: closed)
        transaction = nil
        transactionsCompleted += 1
        if closed {
            phase = .closed
            return [.transactionComplete(result), .close]
        }
        phase = .ready
        return [.transactionComplete(result)]
    }
}
