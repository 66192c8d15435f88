/// IMAP commands (RFC 9051 §6, with RFC 3501 for IMAP4rev1 clients and the extensions Petrel offers) and
/// the top-level parser: `command = tag SP (command-any / command-auth / command-nonauth /
/// command-select) CRLF` (RFC 9051 §9).
///
/// One file per command family parses the arguments:
/// - `IMAPCommand+Session.swift`  — CAPABILITY, NOOP, LOGOUT, ID, ENABLE, STARTTLS, LOGIN, AUTHENTICATE,
///                                   COMPRESS, IDLE, NAMESPACE, UNSELECT, CLOSE, CHECK, EXPUNGE
/// - `IMAPCommand+Mailbox.swift`  — SELECT/EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE,
///                                   STATUS, GETQUOTA, GETQUOTAROOT
/// - `IMAPCommand+List.swift`     — LIST (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE), LSUB
/// - `IMAPCommand+Append.swift`   — APPEND (flags, date-time, literal8, UTF8)
/// - `IMAPCommand+Fetch.swift`    — FETCH items, sections, partials, CHANGEDSINCE/VANISHED
/// - `IMAPCommand+Store.swift`    — STORE, COPY, MOVE, UID EXPUNGE
/// - `IMAPCommand+Search.swift`   — SEARCH keys, CHARSET, ESEARCH return options
import MailMIME

/// A command with its tag.
public struct IMAPTaggedCommand: Hashable, Sendable {
    public var tag: String
    public var command: IMAPCommand

    public init(tag: String, command: IMAPCommand) {
        self.tag = tag
        self.command = command
    }
}

public enum IMAPCommand: Hashable, Sendable {
    // Any state (RFC 9051 §6.1)
    case capability
    case noop
    case logout
    /// RFC 2971: the client's identification; nil for `ID NIL`.
    case id([IMAPIDField]?)
    // Not authenticated (RFC 9051 §6.2)
    case startTLS
    /// RFC 9051 §6.2.2, RFC 4959 SASL-IR: the initial response as sent (base64 text, or "=").
    case authenticate(mechanism: String, initialResponse: String?)
    case login(username: [UInt8], password: [UInt8])
    // Authenticated (RFC 9051 §6.3)
    /// RFC 5161
    case enable([String])
    case select(IMAPMailboxName, IMAPSelectParameters)
    case examine(IMAPMailboxName, IMAPSelectParameters)
    /// RFC 6154 §3: `CREATE name (USE (\Sent))`.
    case create(IMAPMailboxName, specialUse: [String])
    case delete(IMAPMailboxName)
    case rename(IMAPMailboxName, IMAPMailboxName)
    case subscribe(IMAPMailboxName)
    case unsubscribe(IMAPMailboxName)
    case list(IMAPListCommand)
    /// RFC 3501 §6.3.9 (deprecated in RFC 9051 but sent by IMAP4rev1 clients).
    case lsub(reference: IMAPMailboxName, pattern: [UInt8])
    /// RFC 2342
    case namespace
    case status(IMAPMailboxName, [IMAPStatusItem])
    case append(IMAPAppendCommand)
    /// RFC 2177
    case idle
    /// RFC 9208 §4.2, §4.3
    case getQuota(root: [UInt8])
    case getQuotaRoot(IMAPMailboxName)
    /// RFC 9208 §4.1: parsed so it can be refused with NO (quota is set by the administrator).
    case setQuota(root: [UInt8])
    /// RFC 4978
    case compress(algorithm: String)
    // Selected (RFC 9051 §6.4)
    /// RFC 3501 §6.4.1 (removed in RFC 9051; answered like NOOP).
    case check
    case close
    /// RFC 3691, RFC 9051 §6.4.2
    case unselect
    case expunge
    /// RFC 4315 §2.1, RFC 9051 §6.4.9
    case uidExpunge(IMAPSequenceSet)
    case search(IMAPSearchCommand, uid: Bool)
    case fetch(IMAPSequenceSet, [IMAPFetchAttribute], IMAPFetchModifiers, uid: Bool)
    case store(IMAPSequenceSet, IMAPStoreModifiers, IMAPStoreFlags, uid: Bool)
    case copy(IMAPSequenceSet, IMAPMailboxName, uid: Bool)
    /// RFC 6851, RFC 9051 §6.4.8
    case move(IMAPSequenceSet, IMAPMailboxName, uid: Bool)

    /// The command name, for logs and metrics.
    public var name: String {
        switch self {
        case .capability: return "CAPABILITY"
        case .noop: return "NOOP"
        case .logout: return "LOGOUT"
        case .id: return "ID"
        case .startTLS: return "STARTTLS"
        case .authenticate: return "AUTHENTICATE"
        case .login: return "LOGIN"
        case .enable: return "ENABLE"
        case .select: return "SELECT"
        case .examine: return "EXAMINE"
        case .create: return "CREATE"
        case .delete: return "DELETE"
        case .rename: return "RENAME"
        case .subscribe: return "SUBSCRIBE"
        case .unsubscribe: return "UNSUBSCRIBE"
        case .list: return "LIST"
        case .lsub: return "LSUB"
        case .namespace: return "NAMESPACE"
        case .status: return "STATUS"
        case .append: return "APPEND"
        case .idle: return "IDLE"
        case .getQuota: return "GETQUOTA"
        case .getQuotaRoot: return "GETQUOTAROOT"
        case .setQuota: return "SETQUOTA"
        case .compress: return "COMPRESS"
        case .check: return "CHECK"
        case .close: return "CLOSE"
        case .unselect: return "UNSELECT"
        case .expunge: return "EXPUNGE"
        case .uidExpunge: return "UID EXPUNGE"
        case .search(_, let uid): return uid ? "UID SEARCH" : "SEARCH"
        case .fetch(_, _, _, let uid): return uid ? "UID FETCH" : "FETCH"
        case .store(_, _, _, let uid): return uid ? "UID STORE" : "STORE"
        case .copy(_, _, let uid): return uid ? "UID COPY" : "COPY"
        case .move(_, _, let uid): return uid ? "UID MOVE" : "MOVE"
        }
    }
}

/// A command that could not be parsed: answer `tag BAD message` (or `* BAD` without a tag).
public struct IMAPCommandError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The tag, when the command got that far.
    public var tag: String?
    public var message: String

    public init(tag: String?, message: String) {
        self.tag = tag
        self.message = message
    }

    public var description: String { message }
}

public enum IMAPCommandParser {
    /// Parses one complete command as framed by `IMAPCommandFramer` (literals inline, the final line
    /// end removed).
    ///
    /// `command = tag SP (command-any / command-auth / command-nonauth / command-select) CRLF`
    public static func parse(_ bytes: [UInt8]) -> Result<IMAPTaggedCommand, IMAPCommandError> {
        var p = IMAPParser(bytes)
        let tag: String
        do {
            tag = try p.tag()
            try p.space()
        } catch {
            return .failure(IMAPCommandError(tag: nil, message: "Missing or invalid tag"))
        }
        do {
            let command = try parseCommand(&p)
            try p.end()
            return .success(IMAPTaggedCommand(tag: tag, command: command))
        } catch {
            return .failure(IMAPCommandError(tag: tag, message: error.message))
        }
    }

    static func parseCommand(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPCommand {
        let name = try p.atom().uppercased()
        switch name {
        case "CAPABILITY": return .capability
        case "NOOP": return .noop
        case "LOGOUT": return .logout
        case "ID": return try parseID(&p)
        case "ENABLE": return try parseEnable(&p)
        case "STARTTLS": return .startTLS
        case "LOGIN": return try parseLogin(&p)
        case "AUTHENTICATE": return try parseAuthenticate(&p)
        case "COMPRESS": return try parseCompress(&p)
        case "IDLE": return .idle
        case "NAMESPACE": return .namespace
        case "SELECT": return try parseSelect(&p, examine: false)
        case "EXAMINE": return try parseSelect(&p, examine: true)
        case "CREATE": return try parseCreate(&p)
        case "DELETE": return .delete(try parseMailboxArgument(&p))
        case "RENAME": return try parseRename(&p)
        case "SUBSCRIBE": return .subscribe(try parseMailboxArgument(&p))
        case "UNSUBSCRIBE": return .unsubscribe(try parseMailboxArgument(&p))
        case "LIST": return try parseList(&p)
        case "LSUB": return try parseLsub(&p)
        case "STATUS": return try parseStatus(&p)
        case "APPEND": return try parseAppend(&p)
        case "GETQUOTA": return try parseGetQuota(&p)
        case "GETQUOTAROOT": return .getQuotaRoot(try parseMailboxArgument(&p))
        case "SETQUOTA": return try parseSetQuota(&p)
        case "CHECK": return .check
        case "CLOSE": return .close
        case "UNSELECT": return .unselect
        case "EXPUNGE": return .expunge
        case "SEARCH": return try parseSearch(&p, uid: false)
        case "FETCH": return try parseFetch(&p, uid: false)
        case "STORE": return try parseStore(&p, uid: false)
        case "COPY": return try parseCopyMove(&p, uid: false, move: false)
        case "MOVE": return try parseCopyMove(&p, uid: false, move: true)
        case "UID": return try parseUID(&p)
        default: throw IMAPParseError("Unknown command \(name.prefix(40))")
        }
    }

    /// `uid = "UID" SP (copy / move / fetch / search / store / uid-expunge)` (RFC 9051 §9)
    static func parseUID(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPCommand {
        try p.space()
        let name = try p.atom().uppercased()
        switch name {
        case "SEARCH": return try parseSearch(&p, uid: true)
        case "FETCH": return try parseFetch(&p, uid: true)
        case "STORE": return try parseStore(&p, uid: true)
        case "COPY": return try parseCopyMove(&p, uid: true, move: false)
        case "MOVE": return try parseCopyMove(&p, uid: true, move: true)
        case "EXPUNGE": return try parseUIDExpunge(&p)
        default: throw IMAPParseError("Unknown UID command \(name.prefix(40))")
        }
    }

    /// `SP mailbox` as the only argument (`delete`, `subscribe`, `unsubscribe`, `getquotaroot`; RFC 9051 §9).
    static func parseMailboxArgument(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPMailboxName {
        try p.space()
        return try IMAPMailboxName.parse(&p)
    }
}
