/// MAIL FROM (RFC 5321 §4.1.1.2) with the ESMTP parameters Petrel supports:
/// SIZE (RFC 1870 §6), BODY=7BIT|8BITMIME (RFC 6152 §2), SMTPUTF8 (RFC 6531 §3.4),
/// AUTH= (RFC 4954 §5: accepted and ignored — Petrel does not relay the submitter identity),
/// RET= and ENVID= (RFC 3461 §4.3, §4.4: kept for the delivery status notifications of this message).
import MailCore

/// The message body type declared with MAIL BODY= (RFC 6152).
public enum BodyType: String, Hashable, Sendable { case sevenBit = "7BIT", eightBitMIME = "8BITMIME" }

public struct MailCommand: Hashable, Sendable {
    public var reversePath: MailPath
    /// SIZE=; a value too large for Int is clamped to Int.max (it is over any limit anyway).
    public var size: Int?
    /// BODY=; nil when not given (7BIT is then implied).
    public var body: BodyType?
    public var smtpUTF8: Bool
    /// RET= (RFC 3461 §4.3).
    public var dsnReturn: DSNReturn?
    /// ENVID= decoded from xtext (RFC 3461 §4.4).
    public var envelopeID: String?
    /// All parameters as sent, for the "no ESMTP parameters after HELO" rule and logging.
    public var parameters: [ESMTPParameter]

    public init(
        reversePath: MailPath, size: Int? = nil, body: BodyType? = nil, smtpUTF8: Bool = false,
        parameters: [ESMTPParameter] = []
    ) {
        self.reversePath = reversePath
        self.size = size
        self.body = body
        self.smtpUTF8 = smtpUTF8
        self.parameters = parameters
    }
}

extension SMTPCommandParser {
    /// mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
    /// Mail-parameters = esmtp-param *(SP esmtp-param)
    ///
    /// Lenient: spaces after the colon are skipped (many clients send "MAIL FROM: <a@b>").
    static func parseMail(_ argument: ArraySlice<UInt8>?) -> Result<SMTPCommand, SMTPReply> {
        let usage = "MAIL FROM:<address>"
        guard let argument, hasPrefixIgnoringCase(argument, "FROM:") else { return .failure(.syntax(usage)) }
        let pathBytes = dropSpaces(argument.dropFirst(5))
        guard !pathBytes.isEmpty else { return .failure(.syntax(usage)) }
        let path: MailPath
        let rest: ArraySlice<UInt8>
        do {
            (path, rest) = try MailboxSyntax.parsePath(pathBytes, allowNull: true)
        } catch let error as AddressSyntaxError {
            return .failure(.badSenderSyntax(error.reason))
        } catch {
            return .failure(.badSenderSyntax("invalid path"))
        }
        var command = MailCommand(reversePath: path)
        switch parseParameters(rest) {
        case .failure(let reply): return .failure(reply)
        case .success(let parameters): command.parameters = parameters
        }
        var sawAuth = false
        for parameter in command.parameters {
            switch parameter.keyword {
            case "SIZE":
                guard command.size == nil else { return .failure(.duplicateParameter("SIZE")) }
                guard let size = parseSize(parameter.value) else { return .failure(.badParameterValue("SIZE")) }
                command.size = size
            case "BODY":
                guard command.body == nil else { return .failure(.duplicateParameter("BODY")) }
                guard let value = parameter.value, let body = BodyType(rawValue: value.uppercased()) else {
                    return .failure(.badParameterValue("BODY"))
                }
                command.body = body
            case "AUTH":
                // auth-param = "AUTH=" xtext ; typically "AUTH=<>" (RFC 4954 §5). Ignored.
                guard !sawAuth else { return .failure(.duplicateParameter("AUTH")) }
                guard parameter.value != nil else { return .failure(.badParameterValue("AUTH")) }
                sawAuth = true
            case "RET":
                // ret-value = "FULL" / "HDRS"
                guard command.dsnReturn == nil else { return .failure(.duplicateParameter("RET")) }
                guard let value = parameter.value, let ret = DSNReturn(rawValue: value.uppercased()) else {
                    return .failure(.badParameterValue("RET"))
                }
                command.dsnReturn = ret
            case "ENVID":
                // envid-value = xtext, at most 100 characters (RFC 3461 §4.4)
                guard command.envelopeID == nil else { return .failure(.duplicateParameter("ENVID")) }
                guard let value = parameter.value, value.utf8.count <= 100, let decoded = XText.decode(value),
                    decoded.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F })
                else {
                    return .failure(.badParameterValue("ENVID"))
                }
                command.envelopeID = decoded
            case "SMTPUTF8":
                guard !command.smtpUTF8 else { return .failure(.duplicateParameter("SMTPUTF8")) }
                guard parameter.value == nil else { return .failure(.badParameterValue("SMTPUTF8")) }
                command.smtpUTF8 = true
            default:
                return .failure(.unsupportedParameter(parameter.keyword))
            }
        }
        return .success(.mail(command))
    }

    /// size-value = 1*20DIGIT  (RFC 1870 §6); larger numbers are clamped to Int.max.
    static func parseSize(_ value: String?) -> Int? {
        guard let value, !value.isEmpty, value.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return Int(value) ?? Int.max
    }

    /// esmtp-param = esmtp-keyword ["=" esmtp-value]
    /// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
    /// esmtp-value = 1*(%d33-60 / %d62-126 / UTF8-non-ascii)   (RFC 5321 §4.1.2, RFC 6531 §3.3)
    ///
    /// `rest` is what follows the path: empty, or SP-separated parameters (extra spaces tolerated).
    static func parseParameters(_ rest: ArraySlice<UInt8>) -> Result<[ESMTPParameter], SMTPReply> {
        guard !rest.isEmpty else { return .success([]) }
        guard rest.first == 0x20 || rest.first == 0x09 else { return .failure(.syntax("garbage after address")) }
        var result: [ESMTPParameter] = []
        for token in rest.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }) {
            let keywordBytes: ArraySlice<UInt8>
            var value: String?
            if let eq = token.firstIndex(of: UInt8(ascii: "=")) {
                keywordBytes = token[token.startIndex..<eq]
                let valueBytes = token[(eq + 1)...]
                guard !valueBytes.isEmpty,
                    valueBytes.allSatisfy({ (33...60).contains($0) || (62...126).contains($0) || $0 >= 0x80 }),
                    let text = String(validating: valueBytes, as: UTF8.self)
                else {
                    return .failure(.syntax("bad parameter value"))
                }
                value = text
            } else {
                keywordBytes = token
            }
            guard let first = keywordBytes.first, isAlnum(first),
                keywordBytes.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: "-") })
            else {
                return .failure(.syntax("bad parameter keyword"))
            }
            result.append(ESMTPParameter(keyword: String(decoding: keywordBytes, as: UTF8.self).uppercased(), value: value))
        }
        return .success(result)
    }

    @inline(__always) static func isAlnum(_ b: UInt8) -> Bool {
        (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b)
    }
}
