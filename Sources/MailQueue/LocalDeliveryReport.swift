/// The "delivered" report for final delivery into local mailboxes (RFC 3461 §5.2.3: an MTA that delivers
/// a message to a recipient that asked for NOTIFY=SUCCESS issues a DSN with action "delivered"). Relayed
/// recipients get theirs from `QueueAttempt` ("relayed", when the next hop has no DSN); this is the local
/// half, made by the SMTP server when it stores the message, and stored in the same transaction.
///
/// - From `<>` to the original envelope sender (the caller sends it with the null reverse-path);
///   nothing at all for a `<>` sender (RFC 3461 §6.2, RFC 5321 §4.5.5) — nor when no recipient asked.
/// - Original-Envelope-Id from MAIL ENVID, Original-Recipient from each RCPT ORCPT (RFC 3464 §2.2.1,
///   §2.3.1), Action: delivered, Status: 2.0.0, and only the headers of the message (RET applies to
///   failure reports only, RFC 3461 §4.3).
import Foundation
import MailCore

public enum LocalDeliveryReport {
    /// One local recipient to report.
    public struct Recipient: Hashable, Sendable {
        /// The address as accepted.
        public var address: EmailAddress
        /// ORCPT as decoded (`rfc822;a@b.example`).
        public var originalRecipient: String?

        public init(address: EmailAddress, originalRecipient: String? = nil) {
            self.address = address
            self.originalRecipient = originalRecipient
        }
    }

    /// The report, or nil when none is due (null sender, no recipients).
    public static func make(
        reportingMTA: String, sender: MailPath, envelopeID: String?, arrivalDate: Date,
        queueID: String, recipients: [Recipient], smtpUTF8: Bool, deliveredAt: Date
    ) -> DeliveryReport? {
        guard !recipients.isEmpty,
            BounceAddress.shouldNotify(sender: sender, notify: .success, kind: .success)
        else { return nil }
        let blocks = recipients.map {
            DeliveryReport.Recipient(
                address: $0.address, originalRecipient: $0.originalRecipient, action: .delivered,
                status: .ok, lastAttempt: deliveredAt)
        }
        return DeliveryReport(
            reportingMTA: reportingMTA, originalSender: sender, envelopeID: envelopeID,
            arrivalDate: arrivalDate, queueID: queueID, recipients: blocks, dsnReturn: .headers,
            smtpUTF8: smtpUTF8)
    }
}
