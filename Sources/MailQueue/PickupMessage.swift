/// Reading the envelope of a message file dropped into the Pickup directory (pure).
///
/// Two forms are accepted:
/// 1. IIS-style envelope lines before the message: `X-Sender: <addr>` and one or more
///    `X-Receiver: <addr>` lines at the very top; they are removed from the stored message.
/// 2. A plain RFC 5322 message (RFC 5322 §3.6.2, §3.6.3): the sender is the first address of `Sender:`
///    or else `From:`; the recipients are every address of `To:`, `Cc:` and `Bcc:`. `Bcc:` fields are
///    removed from the stored message (RFC 5322 §3.6.3), like `sendmail -t` does.
/// Only the header section is parsed; the body is passed through untouched. Line endings are normalised
/// to CRLF.
import MailCore

public struct PickupMessage: Hashable, Sendable {
    public var sender: MailPath
    public var recipients: [EmailAddress]
    /// The message to store (envelope lines and Bcc removed), CRLF line endings.
    public var message: [UInt8]

    public enum ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        case noHeaderSection
        case noSender
        case noRecipients
        case badAddress(String)
        public var description: String {
            switch self {
            case .noHeaderSection: return "no header section (the file does not start with header fields)"
            case .noSender: return "no sender (X-Sender, Sender or From)"
            case .noRecipients: return "no recipients (X-Receiver, To, Cc or Bcc)"
            case .badAddress(let text): return "invalid address \(text)"
            }
        }
    }

    /// Parses a whole file.
    public static func parse(_ file: [UInt8]) throws(ParseError) -> PickupMessage {
        let lines = splitLines(file)
        // Header fields (unfolded) and where the header section ends.
        var fields: [(name: String, value: String, raw: [ArraySlice<UInt8>])] = []
        var index = 0
        while index < lines.count, !lines[index].isEmpty {
            let line = lines[index]
            if line.first == 0x20 || line.first == 0x09 {
                guard !fields.isEmpty else { throw .noHeaderSection }
                fields[fields.count - 1].value += " " + String(decoding: line, as: UTF8.self).trimmingWhitespace()
                fields[fields.count - 1].raw.append(line)
            } else {
                guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0,
                    line[..<colon].allSatisfy({ $0 > 0x20 && $0 < 0x7F })
                else { throw .noHeaderSection }
                let name = String(decoding: line[..<colon], as: UTF8.self)
                let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingWhitespace()
                fields.append((name, value, [line]))
            }
            index += 1
        }
        guard !fields.isEmpty else { throw .noHeaderSection }

        var sender: MailPath?
        var recipients: [EmailAddress] = []
        var keep = fields
        let envelopeFields = fields.prefix { ["x-sender", "x-receiver"].contains($0.name.lowercased()) }
        if !envelopeFields.isEmpty {
            for field in envelopeFields {
                let addresses = try addressList(field.value)
                if field.name.lowercased() == "x-sender" {
                    sender = field.value.trimmingWhitespace() == "<>" ? .null : addresses.first.map(MailPath.mailbox)
                } else {
                    recipients += addresses
                }
            }
            keep = Array(fields.dropFirst(envelopeFields.count))
        } else {
            let senderField = fields.first { $0.name.lowercased() == "sender" } ?? fields.first { $0.name.lowercased() == "from" }
            if let senderField { sender = try addressList(senderField.value).first.map(MailPath.mailbox) }
            for field in fields where ["to", "cc", "bcc"].contains(field.name.lowercased()) {
                recipients += try addressList(field.value)
            }
            keep = fields.filter { $0.name.lowercased() != "bcc" }
        }
        guard let sender else { throw .noSender }
        var seen = Set<String>()
        recipients = recipients.filter { seen.insert($0.lookupKey).inserted }
        guard !recipients.isEmpty else { throw .noRecipients }

        var out: [UInt8] = []
        out.reserveCapacity(file.count + lines.count)
        for field in keep {
            for raw in field.raw { out += raw; out += [0x0D, 0x0A] }
        }
        for line in lines[index...] { out += line; out += [0x0D, 0x0A] }
        return PickupMessage(sender: sender, recipients: recipients, message: out)
    }

    /// address-list (RFC 5322 §3.4), simplified: comma-separated; in each item the address is the part
    /// in angle brackets if any, else the item without comments; groups (`name: a, b;`) are flattened.
    static func addressList(_ value: String) throws(ParseError) -> [EmailAddress] {
        var items: [String] = []
        var current = ""
        var inQuote = false, inAngle = false, commentDepth = 0
        for ch in value {
            switch ch {
            case "\"" where commentDepth == 0: inQuote.toggle(); current.append(ch)
            case "(" where !inQuote: commentDepth += 1
            case ")" where !inQuote && commentDepth > 0: commentDepth -= 1
            case _ where commentDepth > 0: continue
            case "<" where !inQuote: inAngle = true; current.append(ch)
            case ">" where !inQuote: inAngle = false; current.append(ch)
            case ",", ";":
                if inQuote || inAngle { current.append(ch) } else { items.append(current); current = "" }
            case ":" where !inQuote && !inAngle && !current.contains("@"):
                current = "" // group name
            default: current.append(ch)
            }
        }
        items.append(current)
        var result: [EmailAddress] = []
        for item in items {
            let trimmed = item.trimmingWhitespace()
            if trimmed.isEmpty { continue }
            var text = trimmed
            if let open = trimmed.lastIndex(of: "<"), let close = trimmed.lastIndex(of: ">"), open < close {
                text = String(trimmed[trimmed.index(after: open)..<close])
            }
            if text.isEmpty { continue }
            guard let address = EmailAddress(text) else { throw .badAddress(trimmed) }
            result.append(address)
        }
        return result
    }

    /// Lines without their terminators; CRLF, bare LF and bare CR all end a line.
    static func splitLines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x0A || bytes[i] == 0x0D {
                lines.append(bytes[start..<i])
                if bytes[i] == 0x0D, i + 1 < bytes.count, bytes[i + 1] == 0x0A { i += 1 }
                start = i + 1
            }
            i += 1
        }
        if start < bytes.count { lines.append(bytes[start...]) }
        return lines
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
