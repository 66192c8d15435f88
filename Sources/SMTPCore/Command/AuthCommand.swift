/// AUTH (RFC 4954 §4): the command line that starts a SASL exchange (RFC 4422). The exchange itself
/// is `SASLServerExchange` in MailCore; the session runs it.
import MailCore

extension SMTPCommandParser {
    /// auth-command = "AUTH" SP sasl-mech [SP initial-response] *(CRLF [base64]) [CRLF cancel-response] CRLF
    /// initial-response = base64 / "="
    /// sasl-mech = 1*20mech-char ; mech-char = UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE  (RFC 4422 §3.1)
    ///
    /// Mechanism names are matched case-insensitively. The initial response is not decoded here
    /// (the exchange does it, so a bad one gets 501 5.5.2 like a bad continuation line).
    static func parseAuth(_ argument: ArraySlice<UInt8>?) -> Result<SMTPCommand, SMTPReply> {
        let usage = "AUTH mechanism [initial-response]"
        guard let argument, !argument.isEmpty else { return .failure(.syntax(usage)) }
        let parts = argument.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 })
        guard let mechanism = parts.first, parts.count <= 2, (1...20).contains(mechanism.count),
            mechanism.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
        else {
            return .failure(.syntax(usage))
        }
        let name = String(decoding: mechanism.map { (0x61...0x7A).contains($0) ? $0 - 0x20 : $0 }, as: UTF8.self)
        let initial = parts.count == 2 ? parts.last.map { String(decoding: $0, as: UTF8.self) } : nil
        return .success(.auth(mechanism: name, initialResponse: initial))
    }
}
