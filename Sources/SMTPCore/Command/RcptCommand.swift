/// RCPT TO (RFC 5321 §4.1.1.3), including the special `<Postmaster>` recipient without a domain.
/// RCPT parameters: NOTIFY= and ORCPT= of the DSN extension (RFC 3461 §4.1, §4.2); any other is
/// answered 555 5.5.4.
import MailCore

/// What the session asks the adapter to resolve for one RCPT.
public enum RecipientQuery: Hashable, Sendable {
    case address(EmailAddress)
    /// RCPT TO:<Postmaster> (RFC 5321 §4.1.1.3, case-insensitive, no domain).
    case barePostmaster
}

public struct RcptCommand: Hashable, Sendable {
    public var recipient: RecipientQuery
    public var parameters: [ESMTPParameter]
    /// NOTIFY= (RFC 3461 §4.1); nil when not given.
    public var notify: DSNNotify?
    /// ORCPT= decoded (RFC 3461 §4.2): `addr-type ";" address`, e.g. `rfc822;a@b.example`.
    public var originalRecipient: String?

    public init(
        recipient: RecipientQuery, parameters: [ESMTPParameter] = [], notify: DSNNotify? = nil,
        originalRecipient: String? = nil
    ) {
        self.recipient = recipient
        self.parameters = parameters
        self.notify = notify
        self.originalRecipient = originalRecipient
    }
}

extension SMTPCommandParser {
    /// rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) [SP Rcpt-parameters] CRLF
    static func parseRcpt(_ argument: ArraySlice<UInt8>?) -> Result<SMTPCommand, SMTPReply> {
        let usage = "RCPT TO:<address>"
        guard let argument, hasPrefixIgnoringCase(argument, "TO:") else { return .failure(.syntax(usage)) }
        let pathBytes = dropSpaces(argument.dropFirst(3))
        guard !pathBytes.isEmpty else { return .failure(.syntax(usage)) }
        let recipient: RecipientQuery
        let rest: ArraySlice<UInt8>
        if hasPrefixIgnoringCase(pathBytes, "<postmaster>") {
            recipient = .barePostmaster
            rest = pathBytes.dropFirst(12)
        } else {
            do {
                let parsed = try MailboxSyntax.parsePath(pathBytes, allowNull: false)
                guard let address = parsed.path.address else { return .failure(.badRecipientSyntax("empty path")) }
                recipient = .address(address)
                rest = parsed.rest
            } catch let error as AddressSyntaxError {
                return .failure(.badRecipientSyntax(error.reason))
            } catch {
                return .failure(.badRecipientSyntax("invalid path"))
            }
        }
        switch parseParameters(rest) {
        case .failure(let reply):
            return .failure(reply)
        case .success(let parameters):
            var command = RcptCommand(recipient: recipient, parameters: parameters)
            for parameter in parameters {
                switch parameter.keyword {
                case "NOTIFY":
                    guard command.notify == nil else { return .failure(.duplicateParameter("NOTIFY")) }
                    guard let value = parameter.value, let notify = DSNNotify(parameter: value) else {
                        return .failure(.badParameterValue("NOTIFY"))
                    }
                    command.notify = notify
                case "ORCPT":
                    guard command.originalRecipient == nil else { return .failure(.duplicateParameter("ORCPT")) }
                    guard let value = parameter.value, let orcpt = parseOriginalRecipient(value) else {
                        return .failure(.badParameterValue("ORCPT"))
                    }
                    command.originalRecipient = orcpt
                default:
                    return .failure(.unsupportedParameter(parameter.keyword))
                }
            }
            return .success(.rcpt(command))
        }
    }

    /// orcpt-parameter = "ORCPT=" original-recipient-address
    /// original-recipient-address = addr-type ";" xtext   (RFC 3461 §4.2; addr-type is an atom)
    /// At most 500 characters. Returns `addr-type;decoded-address`, or nil when malformed.
    static func parseOriginalRecipient(_ value: String) -> String? {
        guard value.utf8.count <= 500, let semicolon = value.firstIndex(of: ";") else { return nil }
        let type = value[value.startIndex..<semicolon]
        guard !type.isEmpty, type.utf8.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: "-") }),
            let address = XText.decode(String(value[value.index(after: semicolon)...])), !address.isEmpty,
            address.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
        else { return nil }
        return "\(type);\(address)"
    }
}
