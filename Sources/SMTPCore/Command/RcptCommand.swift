/// RCPT TO (RFC 5321 §4.1.1.3), including the special `<Postmaster>` recipient without a domain.
/// No RCPT parameters are supported yet (each is answered 555 5.5.4).
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
    public init(recipient: RecipientQuery, parameters: [ESMTPParameter] = []) {
        self.recipient = recipient
        self.parameters = parameters
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
            if let first = parameters.first { return .failure(.unsupportedParameter(first.keyword)) }
            return .success(.rcpt(RcptCommand(recipient: recipient)))
        }
    }
}
