/// POP3 commands and their parser: RFC 1939 §3–§7 (USER PASS QUIT STAT LIST RETR DELE NOOP RSET
/// TOP UIDL APOP), RFC 2449 §5 (CAPA) and §4 (command syntax), RFC 5034 §4 (AUTH), RFC 2595 §4 (STLS).
///
/// Keywords are case-insensitive. Arguments are separated by a single space (RFC 1939 §3); Petrel
/// is lenient and also accepts runs of spaces between arguments, except for PASS, whose argument is
/// the rest of the line so that passwords may contain spaces (RFC 1939 §7, note on PASS).

/// A parsed client command.
public enum POP3Command: Hashable, Sendable {
    case user(String)
    case pass(String)
    case apop(name: String, digest: String)
    case quit
    case stat
    /// LIST with an optional message number.
    case list(Int?)
    case retr(Int)
    case dele(Int)
    case noop
    case rset
    /// TOP msg n.
    case top(message: Int, lines: Int)
    /// UIDL with an optional message number.
    case uidl(Int?)
    case capa
    /// AUTH mechanism [initial-response]; the mechanism is upper-cased, nil when absent.
    case auth(mechanism: String?, initialResponse: String?)
    case stls

    /// The command keyword in upper case, as used in replies and logs.
    public var keyword: String {
        switch self {
        case .user: return "USER"
        case .pass: return "PASS"
        case .apop: return "APOP"
        case .quit: return "QUIT"
        case .stat: return "STAT"
        case .list: return "LIST"
        case .retr: return "RETR"
        case .dele: return "DELE"
        case .noop: return "NOOP"
        case .rset: return "RSET"
        case .top: return "TOP"
        case .uidl: return "UIDL"
        case .capa: return "CAPA"
        case .auth: return "AUTH"
        case .stls: return "STLS"
        }
    }
}

/// Why a command line was refused. `description` is the text sent after `-ERR `.
public enum POP3CommandError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The keyword is not a POP3 command Petrel knows.
    case unknownCommand(String)
    /// A known command with wrong arguments; the associated text says what is wrong.
    case syntax(String)

    public var description: String {
        switch self {
        case .unknownCommand: return "Unknown command"
        case .syntax(let reason): return reason
        }
    }
}

public enum POP3CommandParser {
    /// RFC 2449 §4: arguments may be up to 40 characters long. Petrel allows more (user names are
    /// full addresses, AUTH initial responses are long) and relies on the line-length limit instead;
    /// message numbers are limited here so they always fit in an `Int`.
    static let maxNumberDigits = 18

    /// Parses one command line (CRLF already removed).
    ///
    /// RFC 1939 §3 / RFC 2449 §4:
    /// ```
    /// command = keyword *(SP param) CRLF
    /// keyword = 3*4VCHAR          ; case-insensitive
    /// param   = 1*40VCHAR
    /// ```
    /// NUL, CR and LF anywhere in the line are rejected.
    public static func parse(_ line: some Collection<UInt8>) throws(POP3CommandError) -> POP3Command {
        let bytes = Array(line)
        if bytes.contains(where: { $0 == 0 || $0 == 0x0D || $0 == 0x0A }) {
            throw .syntax("Invalid characters in command")
        }
        let keywordEnd = bytes.firstIndex(of: 0x20) ?? bytes.endIndex
        let keywordBytes = bytes[..<keywordEnd]
        guard (3...4).contains(keywordBytes.count), keywordBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .unknownCommand(String(decoding: keywordBytes.prefix(16), as: UTF8.self))
        }
        let keyword = String(decoding: keywordBytes, as: UTF8.self).uppercased()
        // Everything after the single space that ends the keyword.
        let rest = keywordEnd < bytes.endIndex ? bytes[(keywordEnd + 1)...] : []
        let args = rest.split(separator: 0x20, omittingEmptySubsequences: true)

        switch keyword {
        case "USER":
            return .user(try singleText(args, what: "user name"))
        case "PASS":
            // RFC 1939 §7: "the server may treat spaces in the argument as part of the password".
            guard !rest.isEmpty, let password = String(validating: rest, as: UTF8.self) else {
                throw .syntax("PASS requires a password")
            }
            return .pass(password)
        case "APOP":
            guard args.count == 2, let name = text(args[0]), let digest = text(args[1]) else {
                throw .syntax("APOP requires a name and a digest")
            }
            return .apop(name: name, digest: digest)
        case "QUIT": try noArguments(args, keyword); return .quit
        case "STAT": try noArguments(args, keyword); return .stat
        case "NOOP": try noArguments(args, keyword); return .noop
        case "RSET": try noArguments(args, keyword); return .rset
        case "CAPA": try noArguments(args, keyword); return .capa
        case "STLS": try noArguments(args, keyword); return .stls
        case "LIST": return .list(try optionalNumber(args, keyword))
        case "UIDL": return .uidl(try optionalNumber(args, keyword))
        case "RETR": return .retr(try requiredNumber(args, keyword))
        case "DELE": return .dele(try requiredNumber(args, keyword))
        case "TOP":
            guard args.count == 2 else { throw .syntax("TOP requires a message number and a line count") }
            guard let message = number(args[0]) else { throw .syntax("Invalid message number") }
            guard let lines = number(args[1]) else { throw .syntax("Invalid line count") }
            return .top(message: message, lines: lines)
        case "AUTH":
            return try auth(args)
        default:
            throw .unknownCommand(keyword)
        }
    }

    /// RFC 5034 §4:
    /// ```
    /// auth-command     = "AUTH" SP sasl-mech [SP (base64 / "=")] *(CRLF [base64]) CRLF
    /// sasl-mech        = 1*20(ALPHA / DIGIT / "-" / "_")   ; RFC 4422 §3.1
    /// ```
    static func auth(_ args: [ArraySlice<UInt8>]) throws(POP3CommandError) -> POP3Command {
        guard let first = args.first else { return .auth(mechanism: nil, initialResponse: nil) }
        guard args.count <= 2 else { throw .syntax("Too many arguments to AUTH") }
        let isMechChar: (UInt8) -> Bool = { b in
            (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x5F
        }
        guard (1...20).contains(first.count), first.allSatisfy(isMechChar) else {
            throw .syntax("Invalid SASL mechanism name")
        }
        let mechanism = String(decoding: first, as: UTF8.self).uppercased()
        var initial: String? = nil
        if args.count == 2 { initial = String(decoding: args[1], as: UTF8.self) }
        return .auth(mechanism: mechanism, initialResponse: initial)
    }

    // MARK: - Argument helpers

    static func text(_ bytes: ArraySlice<UInt8>) -> String? {
        String(validating: bytes, as: UTF8.self)
    }

    static func singleText(_ args: [ArraySlice<UInt8>], what: String) throws(POP3CommandError) -> String {
        guard args.count == 1, let value = text(args[0]) else { throw .syntax("Expected one \(what)") }
        return value
    }

    static func noArguments(_ args: [ArraySlice<UInt8>], _ keyword: String) throws(POP3CommandError) {
        guard args.isEmpty else { throw .syntax("\(keyword) takes no arguments") }
    }

    /// RFC 1939 §3: message numbers are decimal; `msg = 1*DIGIT`, `n = 1*DIGIT`.
    /// Returns nil for non-digits or more than `maxNumberDigits` digits.
    static func number(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= maxNumberDigits,
            bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
        else { return nil }
        var value = 0
        for digit in bytes { value = value * 10 + Int(digit - 0x30) }
        return value
    }

    static func optionalNumber(_ args: [ArraySlice<UInt8>], _ keyword: String) throws(POP3CommandError) -> Int? {
        guard let first = args.first else { return nil }
        guard args.count == 1 else { throw .syntax("Too many arguments to \(keyword)") }
        guard let value = number(first) else { throw .syntax("Invalid message number") }
        return value
    }

    static func requiredNumber(_ args: [ArraySlice<UInt8>], _ keyword: String) throws(POP3CommandError) -> Int {
        guard args.count == 1 else { throw .syntax("\(keyword) requires a message number") }
        guard let value = number(args[0]) else { throw .syntax("Invalid message number") }
        return value
    }
}
