/// Whether a local mailbox takes one more message, given its quota and usage (RFC 9208 STORAGE and
/// MESSAGE, set with `petrel mailbox quota`). Pure: SMTP RCPT (MailServerNIO `SMTPServerContext.decide`)
/// looks the status up and asks here; the rule itself is MailStore's `MailboxQuota.admits`, which the IMAP
/// stores apply to APPEND and COPY.
///
/// The check is made at RCPT, where the sender can still be told to retry: with the SIZE declared on MAIL
/// FROM (RFC 1870) the message must fit; without it the mailbox must not be full already (one more
/// message, at least one octet). The message accepted then may take the mailbox past its storage limit by
/// its own size (the next one is refused) — the price of answering before DATA, as Dovecot's LMTP does.
///
/// The answer is temporary (452 4.2.2), not 552 5.2.2: RFC 3463 §3.3 says X.2.2 "mailbox full" (the user
/// can delete messages to make room) "should be used as a persistent transient failure", and a full
/// mailbox is usually emptied within days; a temporary answer keeps the message in the sender's queue,
/// which bounces it only after its own retry period (docs/IMAP.md "Quota").
import MailStore

public enum MailboxQuotaDecision: Hashable, Sendable {
    case accept
    /// 452 4.2.2 Mailbox full.
    case mailboxFull
}

public enum MailboxQuotaPolicy {
    /// The decision for a mailbox whose quota and usage are `status` (nil: the mailbox vanished since the
    /// recipient lookup; accepted here, the store refuses the delivery if it is really gone), for a
    /// message whose declared size is `declaredSize` (nil: not declared).
    public static func decide(_ status: MailboxQuotaStatus?, declaredSize: Int64?) -> MailboxQuotaDecision {
        guard let status, !status.quota.isUnlimited else { return .accept }
        return status.quota.admits(status.usage, adding: max(declaredSize ?? 1, 1)) ? .accept : .mailboxFull
    }
}
