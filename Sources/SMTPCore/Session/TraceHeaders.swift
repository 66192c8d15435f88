/// Trace header fields added to every accepted message: `Return-Path:` (RFC 5321 §4.4, RFC 5322 §3.6.7)
/// and `Received:` with the protocol names of RFC 3848 (SMTP, ESMTP, ESMTPA, ESMTPS, ESMTPSA) and
/// RFC 6531 §3.7.3 (UTF8SMTP, UTF8SMTPA, UTF8SMTPS, UTF8SMTPSA), a Postfix-style TLS comment and an
/// RFC 5322 §3.3 date.
///
/// Privacy: the AUTH user name is never written into the header (Postfix does with
/// `smtpd_sasl_authenticated_header`; off by default) — the "A" in the protocol name says that the
/// client authenticated, the log line says who.
import Foundation
import MailCore

public enum TraceHeaders {
    /// The `with` protocol name (RFC 3848 §2, RFC 6531 §3.7.3):
    /// HELO without TLS or AUTH -> "SMTP"; otherwise "ESMTP" (or "UTF8SMTP" with SMTPUTF8) followed by
    /// "S" when TLS is active and "A" when the client authenticated ("ESMTPSA"). A HELO client that used
    /// STARTTLS or AUTH did use service extensions, so it gets the ESMTP names too.
    public static func protocolName(extended: Bool, smtpUTF8: Bool, tls: Bool, authenticated: Bool) -> String {
        if !extended, !tls, !authenticated { return "SMTP" }
        var name = smtpUTF8 ? "UTF8SMTP" : "ESMTP"
        if tls { name += "S" }
        if authenticated { name += "A" }
        return name
    }

    /// Return-Path: <sender>
    /// Received: from <helo> ([verified-name ]<address-literal>)
    ///         [(using <version> with cipher <cipher>)]
    ///         by <hostname> (Petrel) with <protocol> id <queueID>
    ///         [for <recipient>]; <date>
    ///
    /// "for" appears only with exactly one recipient (more would disclose Bcc recipients).
    /// The TLS comment follows Postfix (`(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 …)`).
    public static func build(
        sender: MailPath, heloName: String, client: ClientInfo, hostname: String,
        protocolName: String, queueID: String, recipients: [EmailAddress], date: Date,
        tls: TLSInfo? = nil
    ) -> [UInt8] {
        let peer = (client.verifiedHostName.map { "\($0) " } ?? "") + client.addressLiteral
        var text = "Return-Path: \(sender)\r\n"
        text += "Received: from \(heloName) (\(peer))\r\n"
        if let tls {
            text += "\t(using \(commentSafe(tls.version)) with cipher \(commentSafe(tls.cipher)))\r\n"
        }
        text += "\tby \(hostname) (Petrel) with \(protocolName) id \(queueID)"
        if recipients.count == 1, let only = recipients.first {
            text += "\r\n\tfor <\(only)>"
        }
        text += "; \(RFC5322Date.format(date))\r\n"
        return Array(text.utf8)
    }

    /// Keeps a TLS name safe inside an RFC 5322 comment: printable ASCII except "(", ")" and "\",
    /// spaces allowed; anything else becomes "_"; empty becomes "unknown".
    static func commentSafe(_ text: String) -> String {
        let bytes = text.utf8.prefix(100).map { b -> UInt8 in
            (0x20...0x7E).contains(b) && b != UInt8(ascii: "(") && b != UInt8(ascii: ")") && b != UInt8(ascii: "\\")
                ? b : UInt8(ascii: "_")
        }
        return bytes.isEmpty ? "unknown" : String(decoding: bytes, as: UTF8.self)
    }
}
