/// Command handling of `SMTPServerSession`: EHLO/HELO, MAIL, RCPT and the simple commands
/// (RFC 5321 §4.1.1, order rules §4.1.4 -> 503 5.5.1; command line length §4.5.3.1.4 and RFC 4954 §4;
/// submission rules RFC 6409 §4.3, §6.1).
import MailCore

extension SMTPServerSession {
    mutating func handleLine(_ bytes: [UInt8]) -> [SMTPServerAction] {
        // The framer may allow `authLineLength` for every line; only AUTH may use it (RFC 4954 §4).
        let limit =
            SMTPCommandParser.verb(of: bytes) == "AUTH"
            ? max(Self.authLineLength, configuration.maxCommandLineLength) : configuration.maxCommandLineLength
        guard bytes.count + 2 <= limit else { return lineTooLong() }
        let command: SMTPCommand
        switch SMTPCommandParser.parse(bytes) {
        case .success(let parsed):
            command = parsed
        case .failure(let reply):
            if SMTPCommandParser.verb(of: bytes) == "BDAT" {
                // No usable chunk size: the octets that follow can't be skipped (RFC 3030 §2), so close.
                errorCount += 1
                return closeWith(reply)
            }
            return reject(reply)
        }
        switch command {
        case .ehlo(let name): return hello(name, extended: true)
        case .helo(let name): return hello(name, extended: false)
        case .mail(let mail): return mailFrom(mail)
        case .rcpt(let rcpt): return rcptTo(rcpt)
        case .data: return data()
        case .bdat(let size, let last): return bdat(size: size, last: last)
        case .rset:
            var actions = endTransaction(reply: .ok, queueID: nil, size: nil, discard: true)
            actions.append(.send(.ok))
            return actions
        case .noop: return [.send(.ok)]
        case .quit:
            var actions = endTransaction(reply: .bye, queueID: nil, size: nil, discard: true)
            actions += [.send(.bye), .close]
            isClosed = true
            return actions
        case .vrfy: return [.send(.cannotVerify)]
        case .help: return [.send(.help)]
        case .starttls: return startTLS()
        case .auth(let mechanism, let initialResponse): return auth(mechanism: mechanism, initialResponse: initialResponse)
        case .expn: return reject(.notImplemented)
        case .httpRequest:
            // Like Postfix `smtpd_forbidden_commands`: at any point, not only as the first command.
            errorCount += 1
            return closeWith(.httpNotSupported(hostname: configuration.hostname))
        }
    }

    /// EHLO/HELO: a new session start; any transaction is reset (RFC 5321 §4.1.4).
    mutating func hello(_ name: String, extended: Bool) -> [SMTPServerAction] {
        let reply: SMTPReply =
            extended
            ? .ehlo(
                hostname: configuration.hostname, maxMessageSize: configuration.maxMessageSize,
                startTLS: configuration.tlsAvailable && !isTLS,
                auth: (isTLS || configuration.allowPlaintextAuth) && authenticatedUser == nil,
                scram: configuration.offerSCRAM)
            : .helo(hostname: configuration.hostname)
        var actions = endTransaction(reply: reply, queueID: nil, size: nil, discard: true)
        hello = Hello(name: name, extended: extended)
        actions.append(.send(reply))
        return actions
    }

    /// MAIL FROM: checks order, AUTH on submission (RFC 6409 §4.3, RFC 4954 §6 530), the sender of an
    /// authenticated session (RFC 6409 §6.1), limits, SIZE (RFC 1870 §6.1) and SMTPUTF8 (RFC 6531 §3.4).
    ///
    /// The sender rule applies to every authenticated session when `requireSenderMatch` is set (also
    /// on port 25 after AUTH): the address must name the AUTH user's mailbox (`EmailAddress.isSameMailbox`:
    /// local part case-insensitive, the domain compared by its routing domain, so the owner of
    /// `a@xn--bcher-kva.example` may write `a@bücher.example`); `<>` is refused too (an authenticated user
    /// has no business sending bounces).
    mutating func mailFrom(_ mail: MailCommand) -> [SMTPServerAction] {
        guard let hello else { return reject(.needHello) }
        guard transaction == nil else { return reject(.nestedMail) }
        if configuration.isSubmission, authenticatedUser == nil { return reject(.authRequired) }
        if let user = authenticatedUser, configuration.requireSenderMatch {
            guard let address = mail.reversePath.address else { return reject(.senderNotOwned("")) }
            guard let owner = EmailAddress(user), address.isSameMailbox(as: owner) else {
                return reject(.senderNotOwned(address.description))
            }
        }
        guard messagesStored < configuration.maxMessagesPerConnection else {
            return closeWith(.tooManyMessages(hostname: configuration.hostname))
        }
        guard hello.extended || mail.parameters.isEmpty else { return reject(.parametersAfterHELO) }
        if let size = mail.size, size > configuration.maxMessageSize { return reject(.sizeExceedsLimit) }
        if let address = mail.reversePath.address, !address.isASCII, !mail.smtpUTF8 { return reject(.nonASCIISender) }
        if let domain = senderDomainToCheck(mail) { // anti-spoofing: SMTPServerSession+Abuse.swift
            pending = .senderDomain(mail)
            return [.checkSenderDomain(domain)]
        }
        transaction = Transaction(mail: mail)
        return [.send(.senderOK)]
    }

    /// RCPT TO: checks order, SMTPUTF8 and the recipient limit, then asks the adapter.
    mutating func rcptTo(_ rcpt: RcptCommand) -> [SMTPServerAction] {
        guard let current = transaction else { return reject(.needMail) }
        guard !current.usedBDAT else { return reject(.rcptAfterBDAT) }
        if case .address(let address) = rcpt.recipient, !address.isASCII, !current.mail.smtpUTF8 {
            return reject(.nonASCIIRecipient)
        }
        // RFC 5891 §5.4: an A-label must be valid Punycode, and a U-label must fit 63 octets as an A-label;
        // otherwise the domain names nothing we could store or route (553 5.1.3, before any lookup).
        if case .address(let address) = rcpt.recipient, case .failure(let error) = address.checkedRoutingDomain {
            return reject(.invalidRecipientDomain(address.description, reason: error.description))
        }
        // 452 is not counted as an error: pipelining clients overshoot the limit legitimately
        // (Postfix `smtpd_recipient_overshoot_limit`).
        guard current.recipients.count < configuration.maxRecipients else { return [.send(.tooManyRecipients)] }
        pending = .recipient(rcpt)
        return [.resolveRecipient(rcpt.recipient)]
    }

    /// The adapter's answer for one RCPT. Duplicates are accepted but kept once.
    mutating func recipientResolved(_ rcpt: RcptCommand, _ decision: RecipientDecision) -> [SMTPServerAction] {
        guard var current = transaction else { return [] }
        let query = rcpt.recipient
        let display: String
        let address: EmailAddress
        switch query {
        case .address(let a):
            display = a.description
            address = a
        case .barePostmaster:
            display = "Postmaster"
            address = EmailAddress(localPart: "postmaster", domain: configuration.hostname)
        }
        switch decision {
        case .localMailbox(let id):
            if current.recipientKeys.insert(address.lookupKey).inserted {
                current.recipients.append(address)
                // RFC 3461 §5.2.3: final delivery with NOTIFY=SUCCESS owes the sender a "delivered" DSN;
                // never to `<>` (§6.2: a DSN is not reported on).
                if rcpt.notify?.contains(.success) == true, current.mail.reversePath.address != nil {
                    current.localSuccessNotices.append(
                        LocalSuccessNotice(
                            address: address,
                            originalRecipient: rcpt.originalRecipient))
                }
            }
            if !current.mailboxIDs.contains(id) { current.mailboxIDs.append(id) }
            transaction = current
            return [.send(.recipientOK)]
        case .relay(let domain):
            if current.recipientKeys.insert(address.lookupKey).inserted {
                current.recipients.append(address)
                current.remoteRecipients.append(
                    RemoteRecipient(
                        address: address, domain: domain, notify: rcpt.notify,
                        originalRecipient: rcpt.originalRecipient))
            }
            transaction = current
            return [.send(.recipientOK)]
        case .relayDenied:
            return reject(.relayDenied(display))
        case .unknownUser:
            return reject(.unknownUser(display))
        case .unknownRelayRecipient:
            return reject(.unknownRelayRecipient(display))
        case .temporaryFailure:
            return [.send(.temporaryLookupFailure(display))]
        case .mailboxFull:
            // Like 452 for too many recipients, not counted as an error: the sender did nothing wrong.
            return [.send(.mailboxFull(display))]
        }
    }
}
