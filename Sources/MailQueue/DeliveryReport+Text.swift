/// The human-readable first part of a delivery report (RFC 6522 §3: "a human-readable explanation"),
/// and the text helpers every part uses: sanitising remote text (no CR/LF injection, control characters
/// replaced), header folding (RFC 5322 §2.2.3, lines kept under 78 octets where possible and never over
/// 998, §2.1.1) and word wrapping.
import Foundation
import MailCore

extension DeliveryReport {
    /// The explanation, lines separated by "\n" (the renderer writes CRLF), each at most 78 octets
    /// except unbreakable words, which are cut at 900 octets.
    func humanText(returned: ReturnedContent, sender: String, global: Bool) -> String {
        var out: [String] = []
        let host = Self.sanitize(reportingMTA, allowUTF8: false)
        out.append("This is the mail system at \(host).")
        out.append("")

        let failed = recipients.filter { $0.action == .failed }
        let delayed = recipients.filter { $0.action == .delayed }
        let done = recipients.filter { $0.action != .failed && $0.action != .delayed }

        if !failed.isEmpty {
            out += Self.wrap(
                "Your message could not be delivered to the following recipient"
                    + (failed.count == 1 ? "" : "s") + ". This is a permanent error: the mail system has given up"
                    + " and will not try again.")
            out.append("")
            for recipient in failed { out += describe(recipient, global: global) }
            out += Self.wrap(
                "What you can do: check the address for typing mistakes. If it is right, the"
                    + " reason above comes from the receiving system; contact the recipient by other means, or"
                    + " their postmaster, quoting the reason. Sending the message again unchanged will most"
                    + " likely fail again.")
            out.append("")
        }
        if !delayed.isEmpty {
            out += Self.wrap(
                "Your message has not been delivered yet to the following recipient"
                    + (delayed.count == 1 ? "" : "s") + ". The mail system is still trying; you do not need to"
                    + " send it again. You will get another message only if delivery finally fails.")
            out.append("")
            for recipient in delayed { out += describe(recipient, global: global) }
        }
        if !done.isEmpty {
            out += Self.wrap(
                "Your message was successfully delivered to the following recipient"
                    + (done.count == 1 ? "" : "s") + ", as you asked to be told.")
            out.append("")
            for recipient in done { out += describe(recipient, global: global) }
        }

        var facts = "The message was received on \(RFC5322Date.format(arrivalDate))"
        if let queueID, !queueID.isEmpty { facts += " with queue ID \(Self.sanitize(queueID, allowUTF8: false))" }
        facts += "; its envelope sender is <\(sender)>."
        out += Self.wrap(facts)
        out.append("")
        switch returned {
        case .full:
            out += Self.wrap("The original message is attached.")
        case .headersRequested:
            out += Self.wrap(
                kind == .failure
                    ? "Only the headers of the original message are attached, as the sender asked (RET=HDRS)."
                    : "Only the headers of the original message are attached.")
        case .headersTooLarge:
            out += Self.wrap(
                "The original message is too large to be returned (more than"
                    + " \(returnSizeLimit) octets) or cannot be returned as is; only its headers are attached.")
        }
        return out.joined(separator: "\n")
    }

    private func describe(_ recipient: Recipient, global: Bool) -> [String] {
        var lines: [String] = []
        let address = Self.sanitize(recipient.address.description, allowUTF8: true)
        lines.append("  <\(address)>")
        var reason: String
        if let diagnostic = recipient.diagnostic.map({
            Self.limit(
                Self.sanitize($0, allowUTF8: global),
                octets: Self.maxDiagnosticOctets)
        }),
            !diagnostic.isEmpty
        {
            if let remote = recipient.remoteMTA.map({ Self.sanitize($0, allowUTF8: global) }), !remote.isEmpty {
                reason = "The server \(remote) replied: \(diagnostic)"
            } else {
                reason = "Reason: \(diagnostic)"
            }
        } else {
            reason = "Status \(recipient.status)."
        }
        if recipient.action == .delayed, let until = recipient.willRetryUntil {
            // The quoted reply rarely ends a sentence; end it so the next one does not run on.
            if let last = reason.last, !".!?".contains(last) { reason += "." }
            reason += " Petrel will keep trying until \(RFC5322Date.format(until))."
        }
        lines += Self.wrap(reason, indent: "    ")
        lines.append("")
        return lines
    }

    /// One line of text from anywhere (remote replies, addresses, host names): CR, LF and TAB become
    /// spaces, other control characters (C0, DEL, C1) and — unless `allowUTF8` — non-ASCII characters
    /// become "?"; runs of spaces collapse; leading and trailing spaces go.
    public static func sanitize(_ text: String, allowUTF8: Bool) -> String {
        var out = String.UnicodeScalarView()
        var lastWasSpace = true
        for scalar in text.unicodeScalars {
            let v = scalar.value
            let replacement: Unicode.Scalar
            if v == 0x0D || v == 0x0A || v == 0x09 || v == 0x20 {
                replacement = " "
            } else if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) || v == 0x2028 || v == 0x2029 || v == 0xFEFF {
                replacement = "?"
            } else if v >= 0x80 && !allowUTF8 {
                replacement = "?"
            } else {
                replacement = scalar
            }
            if replacement == " " {
                if lastWasSpace { continue }
                lastWasSpace = true
            } else {
                lastWasSpace = false
            }
            out.append(replacement)
        }
        while out.last == " " { out.removeLast() }
        return String(out)
    }

    /// Cuts `text` to at most `octets` UTF-8 octets (on a character boundary), marking the cut with "...".
    static func limit(_ text: String, octets: Int) -> String {
        guard text.utf8.count > octets else { return text }
        var out = ""
        var used = 0
        for character in text {
            let size = character.utf8.count
            if used + size > octets - 3 { break }
            out.append(character)
            used += size
        }
        return out + "..."
    }

    /// A header field, folded at spaces to keep lines under 78 octets where possible; a word that is
    /// too long on its own is cut into pieces of at most 900 octets (a space is inserted there), so no
    /// line exceeds 998 octets. Lines are joined with CRLF + one space; no final CRLF.
    static func fold(name: String, value: String) -> String {
        let lines = wrap(value, width: 78, firstPrefix: "\(name): ", indent: " ")
        return lines.joined(separator: "\r\n")
    }

    /// Word-wraps `text` into lines of at most `width` octets where words allow (77 by default).
    static func wrap(_ text: String, width: Int = 76, indent: String = "") -> [String] {
        wrap(text, width: width, firstPrefix: indent, indent: indent)
    }

    static func wrap(_ text: String, width: Int, firstPrefix: String, indent: String) -> [String] {
        var lines: [String] = []
        var current = firstPrefix
        var currentHasWord = false
        let hardLimit = 900
        for rawWord in text.split(separator: " ", omittingEmptySubsequences: true) {
            for word in chunks(String(rawWord), maxOctets: hardLimit) {
                let separator = currentHasWord ? " " : ""
                if currentHasWord, current.utf8.count + separator.utf8.count + word.utf8.count > width {
                    lines.append(current)
                    current = indent + word
                } else {
                    current += separator + word
                }
                currentHasWord = true
            }
        }
        lines.append(current)
        return lines
    }

    /// Splits a word into pieces of at most `maxOctets` UTF-8 octets, on scalar boundaries.
    private static func chunks(_ word: String, maxOctets: Int) -> [String] {
        guard word.utf8.count > maxOctets else { return [word] }
        var pieces: [String] = []
        // By scalars, not characters: one character can carry any number of combining marks.
        var current = String.UnicodeScalarView()
        var used = 0
        for scalar in word.unicodeScalars {
            let size = UTF8.width(scalar)
            if used + size > maxOctets, !current.isEmpty {
                pieces.append(String(current))
                current = String.UnicodeScalarView()
                used = 0
            }
            current.append(scalar)
            used += size
        }
        if !current.isEmpty { pieces.append(String(current)) }
        return pieces
    }
}
