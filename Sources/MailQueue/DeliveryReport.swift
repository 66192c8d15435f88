/// Delivery Status Notifications: the report message Petrel sends back to a sender when a message
/// failed, is delayed, or (on request) was delivered.
///
/// Implements RFC 3464 (message/delivery-status fields, §2.2 per-message and §2.3 per-recipient),
/// RFC 6522 (multipart/report container), RFC 6533 (message/global-delivery-status, message/global and
/// message/global-headers for internationalised mail), RFC 3461 §4.3 (RET: the full message or the
/// headers only, §6.2 returned content) and RFC 3834 §5 (`Auto-Submitted: auto-replied`).
/// The report's envelope sender must be `<>` (RFC 5321 §4.5.5) — the caller sets that; `BounceAddress`
/// says whether a report may be sent at all.
///
/// The output is a complete RFC 5322 message: CRLF line ends only, no line longer than 998 octets in
/// the parts Petrel writes, and text from remote servers sanitised (no CR/LF injection, control
/// characters replaced). The human text is in DeliveryReport+Text.swift.
import Foundation
import MailCore

/// Whether a sender gets a notification of a given kind.
public enum BounceAddress {
    /// False when the sender is the null path (`<>`: never bounce a bounce, RFC 5321 §4.5.5,
    /// RFC 3464 §1) or the recipient's NOTIFY excludes this kind (RFC 3461 §4.1; NEVER excludes all).
    public static func shouldNotify(sender: MailPath, notify: DSNNotify, kind: DeliveryReport.Kind) -> Bool {
        if sender.isNull { return false }
        switch kind {
        case .failure: return notify.contains(.failure)
        case .delay: return notify.contains(.delay)
        case .success: return notify.contains(.success)
        }
    }
}

/// One DSN about one message: several recipients go in ONE report.
public struct DeliveryReport: Hashable, Sendable {
    /// RFC 3464 §2.3.3 action-value.
    public enum Action: String, Hashable, Sendable {
        case failed, delayed, delivered, relayed, expanded
    }

    /// What the report is about, from its recipients: any failed → failure, else any delayed → delay,
    /// else success (delivered / relayed / expanded).
    public enum Kind: Hashable, Sendable {
        case failure, delay, success
    }

    /// One per-recipient block (RFC 3464 §2.3).
    public struct Recipient: Hashable, Sendable {
        /// The address as Petrel tried it; Final-Recipient.
        public var address: EmailAddress
        /// ORCPT as decoded (`rfc822;a@b.example`); Original-Recipient when present.
        public var originalRecipient: String?
        public var action: Action
        public var status: EnhancedStatusCode
        /// The host that gave the reply (Remote-MTA: dns; host).
        public var remoteMTA: String?
        /// The remote reply or local error, as received (may span lines; it is sanitised and unfolded).
        public var diagnostic: String?
        public var lastAttempt: Date?
        /// For delayed recipients: when Petrel gives up (Will-Retry-Until).
        public var willRetryUntil: Date?

        public init(
            address: EmailAddress, originalRecipient: String? = nil, action: Action, status: EnhancedStatusCode,
            remoteMTA: String? = nil, diagnostic: String? = nil, lastAttempt: Date? = nil,
            willRetryUntil: Date? = nil
        ) {
            self.address = address
            self.originalRecipient = originalRecipient
            self.action = action
            self.status = status
            self.remoteMTA = remoteMTA
            self.diagnostic = diagnostic
            self.lastAttempt = lastAttempt
            self.willRetryUntil = willRetryUntil
        }
    }

    /// What of the original went into the report.
    public enum ReturnedContent: Hashable, Sendable {
        /// The whole message (message/rfc822 or message/global).
        case full
        /// The header section only, because RET=HDRS or the report is not a failure report.
        case headersRequested
        /// The header section only, because the message is larger than `returnSizeLimit`
        /// (or has lines too long to embed).
        case headersTooLarge
    }

    /// The rendered report.
    public struct Rendered: Hashable, Sendable {
        /// The complete message, CRLF line ends.
        public var bytes: [UInt8]
        /// The Message-ID without angle brackets.
        public var messageID: String
        /// The report has 8-bit octets: send it with BODY=8BITMIME.
        public var needs8BitMIME: Bool
        /// Send the report with SMTPUTF8: it goes to a non-ASCII address, or the original used SMTPUTF8.
        /// (UTF-8 only inside message/global* parts needs 8BITMIME, RFC 6533 §3.)
        public var needsSMTPUTF8: Bool
        public var returnedContent: ReturnedContent
    }

    /// The default cap for returning the whole original: 256 KiB.
    public static let defaultReturnSizeLimit = 256 * 1024

    /// Our host name (Reporting-MTA, MAILER-DAEMON@host, Message-ID right side).
    public var reportingMTA: String
    /// The original envelope sender; the report goes To it (`<>`: to postmaster@reportingMTA).
    public var originalSender: MailPath
    /// MAIL ENVID, decoded (Original-Envelope-Id).
    public var envelopeID: String?
    public var arrivalDate: Date
    /// For the human text ("queue ID ...").
    public var queueID: String?
    public var recipients: [Recipient]
    /// MAIL RET=; nil means FULL for failure reports.
    public var dsnReturn: DSNReturn?
    /// The original was sent with SMTPUTF8: use the RFC 6533 types.
    public var smtpUTF8: Bool
    /// Originals larger than this (octets) are returned as headers only.
    public var returnSizeLimit: Int

    public init(
        reportingMTA: String, originalSender: MailPath, envelopeID: String? = nil, arrivalDate: Date,
        queueID: String? = nil, recipients: [Recipient], dsnReturn: DSNReturn? = nil, smtpUTF8: Bool = false,
        returnSizeLimit: Int = DeliveryReport.defaultReturnSizeLimit
    ) {
        self.reportingMTA = reportingMTA
        self.originalSender = originalSender
        self.envelopeID = envelopeID
        self.arrivalDate = arrivalDate
        self.queueID = queueID
        self.recipients = recipients
        self.dsnReturn = dsnReturn
        self.smtpUTF8 = smtpUTF8
        self.returnSizeLimit = returnSizeLimit
    }

    public var kind: Kind {
        if recipients.contains(where: { $0.action == .failed }) { return .failure }
        if recipients.contains(where: { $0.action == .delayed }) { return .delay }
        return .success
    }

    public var subject: String {
        switch kind {
        case .failure: return "Undelivered Mail Returned to Sender"
        case .delay: return "Delayed Mail (still being retried)"
        case .success: return "Successful Mail Delivery Report"
        }
    }

    /// Builds the report.
    /// - Parameters:
    ///   - original: a prefix of the original message (read at least `returnSizeLimit + 1` octets, or
    ///     all of it); only its header section is used when it is not complete.
    ///   - originalSize: the original's total size in octets.
    ///   - date: the report's Date.
    ///   - uniqueID: the left side of the Message-ID and part of the MIME boundary (default: a new
    ///     queue id); letters, digits, "." and "-" are kept, anything else dropped.
    public func render(original: [UInt8], originalSize rawSize: Int64, date: Date, uniqueID: String? = nil) -> Rendered {
        let originalSize = max(0, rawSize)
        let host = Self.sanitize(reportingMTA, allowUTF8: false).replacingOccurrences(of: " ", with: "")
        let mta = host.isEmpty ? "localhost" : host
        let unique = Self.idSafe(uniqueID ?? QueueID.generate(date: date))
        let messageID = "\(unique.isEmpty ? QueueID.generate(date: date) : unique)@\(mta)"

        // What to return, and whether the original forces the RFC 6533 types or 8-bit transport.
        let headerSection = Self.headerSection(of: original, limit: max(returnSizeLimit, 1024))
        let wantsFull = kind == .failure && dsnReturn != .headers
        var returned: ReturnedContent
        if !wantsFull {
            returned = .headersRequested
        } else if originalSize <= Int64(returnSizeLimit), Int64(original.count) >= originalSize,
            Self.isEmbeddable(original.prefix(Int(originalSize)))
        {
            returned = .full
        } else {
            returned = .headersTooLarge
        }
        let returnedBytes: ArraySlice<UInt8> = returned == .full ? original.prefix(Int(originalSize)) : headerSection[...]

        let sender = Self.sanitize(originalSender.address?.description ?? "", allowUTF8: true)
        let addressesUTF8 =
            !sender.utf8.allSatisfy { $0 < 0x80 }
            || recipients.contains {
                !$0.address.isASCII
                    || !($0.originalRecipient ?? "").utf8.allSatisfy { $0 < 0x80 }
            }
        let headersUTF8 = !headerSection.allSatisfy { $0 < 0x80 }
        let global = smtpUTF8 || addressesUTF8 || headersUTF8
        let originalEightBit = !returnedBytes.allSatisfy { $0 < 0x80 }

        // The parts.
        let text = humanText(returned: returned, sender: sender, global: global)
        let textEightBit = !text.utf8.allSatisfy { $0 < 0x80 }
        let status = deliveryStatus(global: global)
        let statusEightBit = !status.utf8.allSatisfy { $0 < 0x80 }
        var boundary = "=_petrel_\(unique)_report"
        var salt = 0
        while Self.contains(returnedBytes, Array("--\(boundary)".utf8)) || text.contains(boundary) {
            salt += 1
            boundary = "=_petrel_\(unique)_report_\(salt)_\(UInt32.random(in: 0...UInt32.max))"
        }

        var out: [UInt8] = []
        out.reserveCapacity(returnedBytes.count + text.utf8.count + status.utf8.count + 2048)
        func line(_ s: String) { out.append(contentsOf: Array(s.utf8)); out.append(contentsOf: [0x0D, 0x0A]) }

        let anyEightBit = textEightBit || statusEightBit || originalEightBit || global
        let to = sender.isEmpty ? "postmaster@\(mta)" : sender
        line("From: \"Mail Delivery System\" <MAILER-DAEMON@\(mta)>")
        line(Self.fold(name: "To", value: "<\(to)>"))
        line("Subject: \(subject)")
        line("Date: \(RFC5322Date.format(date))")
        line("Message-ID: <\(messageID)>")
        line("Auto-Submitted: auto-replied")
        line("MIME-Version: 1.0")
        line("Content-Type: multipart/report; report-type=\(global ? "global-delivery-status" : "delivery-status");")
        line("\tboundary=\"\(boundary)\"")
        line("Content-Transfer-Encoding: \(anyEightBit ? "8bit" : "7bit")")
        line("")
        line("This is a MIME-encapsulated delivery status notification (RFC 3464).")
        line("")

        line("--\(boundary)")
        line("Content-Description: Notification")
        line("Content-Type: text/plain; charset=\(textEightBit ? "utf-8" : "us-ascii")")
        line("Content-Transfer-Encoding: \(textEightBit ? "8bit" : "7bit")")
        line("")
        for textLine in text.split(separator: "\n", omittingEmptySubsequences: false) { line(String(textLine)) }

        line("--\(boundary)")
        line("Content-Description: Delivery report")
        line("Content-Type: message/\(global ? "global-delivery-status" : "delivery-status")")
        if statusEightBit { line("Content-Transfer-Encoding: 8bit") }
        line("")
        out.append(contentsOf: Array(status.utf8))
        line("") // the CRLF before a delimiter belongs to it (RFC 2046 §5.1.1): keep the last field's own

        line("--\(boundary)")
        if returned == .full {
            line("Content-Description: \(kind == .failure ? "Undelivered Message" : "Message")")
            line("Content-Type: message/\(global ? "global" : "rfc822")")
        } else {
            line("Content-Description: \(kind == .failure ? "Undelivered Message Headers" : "Message Headers")")
            line("Content-Type: \(global ? "message/global-headers" : "text/rfc822-headers")")
        }
        if originalEightBit { line("Content-Transfer-Encoding: 8bit") }
        line("")
        out.append(contentsOf: returnedBytes)
        if !returnedBytes.isEmpty, returnedBytes.last != 0x0A { out.append(contentsOf: [0x0D, 0x0A]) }
        line("")
        line("--\(boundary)--")

        return Rendered(
            bytes: out, messageID: messageID, needs8BitMIME: anyEightBit,
            needsSMTPUTF8: smtpUTF8 || !sender.utf8.allSatisfy { $0 < 0x80 },
            returnedContent: returned)
    }

    /// The message/delivery-status body (RFC 3464 §2.1): per-message fields, then one block per
    /// recipient, each block followed by an empty line. Every line ends in CRLF.
    func deliveryStatus(global: Bool) -> String {
        var lines: [String] = []
        let mta = Self.sanitize(reportingMTA, allowUTF8: false).replacingOccurrences(of: " ", with: "")
        lines.append("Reporting-MTA: dns; \(mta.isEmpty ? "localhost" : mta)")
        if let queueID, !queueID.isEmpty {
            lines.append(Self.fold(name: "X-Petrel-Queue-ID", value: Self.sanitize(queueID, allowUTF8: false)))
        }
        if let envelopeID {
            // RFC 3464 §2.2.1: the ENVID as given, which must be printable US-ASCII: re-encode as xtext
            // when it is not.
            let clean = Self.sanitize(envelopeID, allowUTF8: false)
            let value = clean == envelopeID ? envelopeID : XText.encode(envelopeID)
            lines.append(Self.fold(name: "Original-Envelope-Id", value: value))
        }
        lines.append("Arrival-Date: \(RFC5322Date.format(arrivalDate))")
        var body = lines.joined(separator: "\r\n") + "\r\n"
        for recipient in recipients {
            var block: [String] = []
            if let original = recipient.originalRecipient {
                let clean = Self.sanitize(original, allowUTF8: global)
                if !clean.isEmpty {
                    let typed = clean.contains(";") ? clean : "\(Self.addressType(clean)); \(clean)"
                    block.append(Self.fold(name: "Original-Recipient", value: typed))
                }
            }
            let address = Self.sanitize(recipient.address.description, allowUTF8: global)
            block.append(Self.fold(name: "Final-Recipient", value: "\(Self.addressType(address)); \(address)"))
            block.append("Action: \(recipient.action.rawValue)")
            block.append("Status: \(recipient.status)")
            if let remote = recipient.remoteMTA {
                let host = Self.sanitize(remote, allowUTF8: global).replacingOccurrences(of: " ", with: "")
                if !host.isEmpty { block.append("Remote-MTA: dns; \(host)") }
            }
            if let diagnostic = recipient.diagnostic {
                let clean = Self.limit(Self.sanitize(diagnostic, allowUTF8: global), octets: Self.maxDiagnosticOctets)
                if !clean.isEmpty { block.append(Self.fold(name: "Diagnostic-Code", value: "smtp; \(clean)")) }
            }
            if let last = recipient.lastAttempt { block.append("Last-Attempt-Date: \(RFC5322Date.format(last))") }
            if recipient.action == .delayed, let until = recipient.willRetryUntil {
                block.append("Will-Retry-Until: \(RFC5322Date.format(until))")
            }
            body += "\r\n" + block.joined(separator: "\r\n") + "\r\n"
        }
        return body
    }

    /// Remote replies quoted in a report are cut to this many octets.
    public static let maxDiagnosticOctets = 2000

    /// RFC 6533 §3: "utf-8" address type for non-ASCII addresses, else "rfc822".
    static func addressType(_ address: String) -> String {
        address.utf8.allSatisfy { $0 < 0x80 } ? "rfc822" : "utf-8"
    }

    static func idSafe(_ text: String) -> String {
        String(
            text.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "." || $0 == "-") }
                .prefix(64).map(Character.init))
    }

    /// The header section of a message prefix: every line up to (not including) the first empty
    /// line, each ending in CRLF; at most `limit` octets (whole lines); lines over 998 octets cut.
    static func headerSection(of message: [UInt8], limit: Int) -> [UInt8] {
        var out: [UInt8] = []
        var start = 0
        while start < message.count {
            guard let lf = message[start...].firstIndex(of: 0x0A) else { break } // an incomplete last line is dropped
            var end = lf
            if end > start, message[end - 1] == 0x0D { end -= 1 }
            if end == start { break } // the empty line
            let content = message[start..<min(end, start + 998)]
            if out.count + content.count + 2 > limit { break }
            out.append(contentsOf: content)
            out.append(contentsOf: [0x0D, 0x0A])
            start = lf + 1
        }
        return out
    }

    /// True when the message can be embedded as is: no NUL, no bare CR or LF, no line over 998 octets.
    static func isEmbeddable(_ message: ArraySlice<UInt8>) -> Bool {
        var lineLength = 0
        var previous: UInt8 = 0
        for byte in message {
            switch byte {
            case 0: return false
            case 0x0A:
                guard previous == 0x0D else { return false }
                lineLength = 0
            default:
                if previous == 0x0D { return false }
                if byte != 0x0D {
                    lineLength += 1
                    if lineLength > 998 { return false }
                }
            }
            previous = byte
        }
        return true
    }

    static func contains(_ haystack: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, needle.count <= haystack.count else { return false }
        var index = haystack.startIndex
        while let found = haystack[index...].firstIndex(of: first) {
            if haystack[found...].starts(with: needle) { return true }
            index = haystack.index(after: found)
        }
        return false
    }
}
