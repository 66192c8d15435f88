/// Trace header fields added to every accepted message: `Return-Path:` (RFC 5321 §4.4, RFC 5322 §3.6.7)
/// and `Received:` with the RFC 3848 protocol names (ESMTP, SMTP, UTF8SMTP per RFC 6531 §4.3) and an
/// RFC 5322 §3.3 date.
import Foundation
import MailCore

public enum TraceHeaders {
    /// Return-Path: <sender>
    /// Received: from <helo> ([verified-name ]<address-literal>)
    ///         by <hostname> (Petrel) with <protocol> id <queueID>
    ///         [for <recipient>]; <date>
    ///
    /// "for" appears only with exactly one recipient (more would disclose Bcc recipients).
    public static func build(sender: MailPath, heloName: String, client: ClientInfo, hostname: String,
                             protocolName: String, queueID: String, recipients: [EmailAddress], date: Date) -> [UInt8] {
        let peer = (client.verifiedHostName.map { "\($0) " } ?? "") + client.addressLiteral
        var text = "Return-Path: \(sender)\r\n"
        text += "Received: from \(heloName) (\(peer))\r\n"
        text += "\tby \(hostname) (Petrel) with \(protocolName) id \(queueID)"
        if recipients.count == 1, let only = recipients.first {
            text += "\r\n\tfor <\(only)>"
        }
        text += "; \(RFC5322Date.format(date))\r\n"
        return Array(text.utf8)
    }
}
