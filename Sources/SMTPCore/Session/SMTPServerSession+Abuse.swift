/// Abuse defences of `SMTPServerSession`: the optional anti-spoofing check on MAIL (an unauthenticated
/// client on port 25 may not use a local sender domain: 550 5.7.1) as a "check before proceed" lookup
/// (`.checkSenderDomain` → `.senderDomainChecked`), and the close after too many invalid recipients
/// (counted by the adapter with `InvalidRecipientThrottle`: 421 4.7.0, RFC 5321 §3.8).
import MailCore

/// The adapter's answer to `.checkSenderDomain`.
public enum SenderDomainCheck: Hashable, Sendable {
    case local
    case notLocal
    /// The lookup failed: 451 4.3.0.
    case temporaryFailure
}

extension SMTPServerSession {
    /// The domain MAIL must check before it is accepted, or nil: only with
    /// `rejectUnauthenticatedLocalSender`, only on non-submission ports, only without AUTH, never for `<>`.
    func senderDomainToCheck(_ mail: MailCommand) -> String? {
        guard configuration.rejectUnauthenticatedLocalSender, !configuration.isSubmission, authenticatedUser == nil,
            let address = mail.reversePath.address
        else { return nil }
        return address.routingDomain ?? address.domain
    }

    mutating func senderDomainChecked(_ mail: MailCommand, _ check: SenderDomainCheck) -> [SMTPServerAction] {
        let display = mail.reversePath.address?.description ?? ""
        switch check {
        case .local:
            return reject(.localSenderNotAuthenticated(display))
        case .notLocal:
            transaction = Transaction(mail: mail)
            return [.send(.senderOK)]
        case .temporaryFailure:
            return [.send(.temporarySenderLookupFailure(display))]
        }
    }
}
