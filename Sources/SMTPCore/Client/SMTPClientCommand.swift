/// The commands the SMTP client sends, encoded with CRLF (RFC 5321 §4.1.1, §2.3.8): EHLO/HELO, STARTTLS
/// (RFC 3207), AUTH (RFC 4954), MAIL/RCPT with SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531),
/// RET/ENVID/NOTIFY/ORCPT (RFC 3461 §4), DATA, RSET, QUIT.
///
/// Nothing from a stored envelope can inject a command: addresses and parameter values with CR, LF,
/// other control characters, spaces or angle brackets are refused (`isSafePath`).
import MailCore

public enum SMTPClientCommand: Hashable, Sendable {
    case ehlo(String)
    case helo(String)
    case startTLS
    /// AUTH mechanism [initial-response]; the response is hidden in the transcript.
    case auth(mechanism: String, initialResponse: String?)
    /// A SASL continuation line (base64); hidden in the transcript.
    case authResponse(String)
    case mail(from: String, parameters: [String])
    case rcpt(to: String, parameters: [String])
    case data
    case rset
    case quit

    // MARK: - Encoding

    /// The command line without CRLF.
    public var line: String {
        switch self {
        case .ehlo(let name): return "EHLO \(name)"
        case .helo(let name): return "HELO \(name)"
        case .startTLS: return "STARTTLS"
        case .auth(let mechanism, let initial):
            guard let initial else { return "AUTH \(mechanism)" }
            // "=" is the empty initial response (RFC 4954 §4).
            return "AUTH \(mechanism) \(initial.isEmpty ? "=" : initial)"
        case .authResponse(let text): return text
        case .mail(let from, let parameters): return (["MAIL FROM:<\(from)>"] + parameters).joined(separator: " ")
        case .rcpt(let to, let parameters): return (["RCPT TO:<\(to)>"] + parameters).joined(separator: " ")
        case .data: return "DATA"
        case .rset: return "RSET"
        case .quit: return "QUIT"
        }
    }

    /// The octets on the wire: the line and CRLF.
    public var encoded: [UInt8] { Array(line.utf8) + [0x0D, 0x0A] }

    /// What the transcript shows: AUTH payloads are never logged.
    public var transcriptLine: String {
        switch self {
        case .auth(let mechanism, let initial): return initial == nil ? "AUTH \(mechanism)" : "AUTH \(mechanism) <hidden>"
        case .authResponse: return "<hidden>"
        default: return line
        }
    }

    /// True when `text` can go between angle brackets of MAIL/RCPT, or be a parameter value, without
    /// breaking the command line: no control characters, DEL, SP, "<" or ">". (8-bit UTF-8 is allowed:
    /// whether the server may see it is the SMTPUTF8 decision.)
    public static func isSafePath(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 > 0x20 && $0 != 0x7F && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") }
    }

    /// orcpt-parameter = "ORCPT=" original-recipient-address
    /// original-recipient-address = addr-type ";" xtext      (RFC 3461 §4.2)
    /// The stored value is decoded (`rfc822;a@b`); a value without a type gets "rfc822".
    public static func orcptParameter(_ decoded: String) -> String {
        if let semicolon = decoded.firstIndex(of: ";") {
            let type = decoded[..<semicolon]
            let address = decoded[decoded.index(after: semicolon)...]
            if !type.isEmpty, isSafePath(String(type)), !type.contains("=") {
                return "ORCPT=\(type);\(XText.encode(String(address)))"
            }
        }
        return "ORCPT=rfc822;\(XText.encode(decoded))"
    }
}
