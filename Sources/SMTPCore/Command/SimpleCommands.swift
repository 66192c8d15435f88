/// RSET, NOOP, QUIT, VRFY, EXPN, HELP (RFC 5321 §4.1.1.5–§4.1.1.10) and STARTTLS (RFC 3207 §4).
/// AUTH is in `AuthCommand.swift`.
import MailCore

extension SMTPCommandParser {
    /// rset = "RSET" CRLF ; quit = "QUIT" CRLF ; starttls = "STARTTLS" CRLF
    static func parseNoArgument(_ verb: String, _ argument: ArraySlice<UInt8>?) -> Result<SMTPCommand, SMTPReply> {
        guard argument == nil || argument?.isEmpty == true else { return .failure(.syntax(verb)) }
        switch verb {
        case "RSET": return .success(.rset)
        case "QUIT": return .success(.quit)
        default: return .success(.starttls)
        }
    }

    /// noop = "NOOP" [ SP String ] CRLF ; help = "HELP" [ SP String ] CRLF
    /// vrfy = "VRFY" SP String CRLF ; expn = "EXPN" SP String CRLF
    static func parseStringArgument(_ verb: String, _ argument: ArraySlice<UInt8>?) -> Result<SMTPCommand, SMTPReply> {
        let text = argument.flatMap { $0.isEmpty ? nil : String(decoding: $0, as: UTF8.self) }
        switch verb {
        case "NOOP": return .success(.noop)
        case "HELP": return .success(.help(text))
        case "VRFY":
            guard let text else { return .failure(.syntax("VRFY address")) }
            return .success(.vrfy(text))
        default:
            guard let text else { return .failure(.syntax("EXPN mailing-list")) }
            return .success(.expn(text))
        }
    }
}
