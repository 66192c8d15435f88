/// Response codes (RFC 9051 §7.1, with the extension codes Petrel sends): the bracketed part of a status
/// response, `resp-text = ["[" resp-text-code "]" SP] [text]`.
///
/// ```
/// resp-text-code = "ALERT" / "BADCHARSET" [SP "(" charset *(SP charset) ")" ] / capability-data /
///                  "PARSE" / "PERMANENTFLAGS" SP "(" [flag-perm *(SP flag-perm)] ")" / "READ-ONLY" /
///                  "READ-WRITE" / "TRYCREATE" / "UIDNEXT" SP nz-number / "UIDVALIDITY" SP nz-number /
///                  resp-code-apnd / resp-code-copy / "UIDNOTSTICKY" / "UNAVAILABLE" /
///                  "AUTHENTICATIONFAILED" / "AUTHORIZATIONFAILED" / "EXPIRED" / "PRIVACYREQUIRED" /
///                  "CONTACTADMIN" / "NOPERM" / "INUSE" / "EXPUNGEISSUED" / "CORRUPTION" / "SERVERBUG" /
///                  "CLIENTBUG" / "CANNOT" / "LIMIT" / "OVERQUOTA" / "ALREADYEXISTS" / "NONEXISTENT" /
///                  "NOTSAVED" / "HASCHILDREN" / "CLOSED" / "UNKNOWN-CTE" / atom [SP 1*<any TEXT-CHAR except "]">]
/// resp-code-apnd = "APPENDUID" SP nz-number SP append-uid
/// resp-code-copy = "COPYUID" SP nz-number SP uid-set SP uid-set
/// resp-text-code =/ "HIGHESTMODSEQ" SP mod-sequence-value / "NOMODSEQ" / "MODIFIED" SP sequence-set  ; RFC 7162
/// resp-text-code =/ "TOOBIG"                 ; RFC 4469 §7, RFC 7889
/// resp-text-code =/ "COMPRESSIONACTIVE"      ; RFC 4978 §4
/// resp-text-code =/ "USEATTR"                ; RFC 6154 §6
/// resp-text-code =/ "UNSEEN" SP nz-number    ; RFC 3501 (IMAP4rev1 SELECT)
/// ```
public enum IMAPResponseCode: Hashable, Sendable {
    case alert
    case badCharset([String])
    case capability([String])
    case parse
    /// The flags a client can change permanently; `allowsNewKeywords` adds `\*`.
    case permanentFlags([IMAPFlag], allowsNewKeywords: Bool)
    case readOnly
    case readWrite
    case tryCreate
    case uidNext(UInt32)
    case uidValidity(UInt32)
    case unseen(UInt32)
    case appendUID(uidValidity: UInt32, uids: IMAPSequenceSet)
    case copyUID(uidValidity: UInt32, source: IMAPSequenceSet, destination: IMAPSequenceSet)
    case uidNotSticky
    case unavailable
    case authenticationFailed
    case authorizationFailed
    case expired
    case privacyRequired
    case contactAdmin
    case noPerm
    case inUse
    case expungeIssued
    case corruption
    case serverBug
    case clientBug
    case cannot
    case limit
    case overQuota
    case alreadyExists
    case nonexistent
    case notSaved
    case hasChildren
    case closed
    case unknownCTE
    case highestModSeq(UInt64)
    case noModSeq
    case modified(IMAPSequenceSet)
    case tooBig
    case compressionActive
    /// RFC 6154 §3: CREATE … USE with an attribute the server does not support.
    case useAttr

    // MARK: - Encoding

    func encode(into w: inout IMAPWireWriter) {
        switch self {
        case .alert: w.raw("ALERT")
        case .badCharset(let names):
            w.raw("BADCHARSET")
            if !names.isEmpty {
                w.raw(" (")
                for (i, n) in names.enumerated() {
                    if i > 0 { w.space() }
                    w.astring(Array(n.utf8))
                }
                w.raw(")")
            }
        case .capability(let caps): w.raw("CAPABILITY " + caps.joined(separator: " "))
        case .parse: w.raw("PARSE")
        case .permanentFlags(let flags, let star):
            w.raw("PERMANENTFLAGS (")
            var items = flags.map(\.name)
            if star { items.append("\\*") }
            w.raw(items.joined(separator: " "))
            w.raw(")")
        case .readOnly: w.raw("READ-ONLY")
        case .readWrite: w.raw("READ-WRITE")
        case .tryCreate: w.raw("TRYCREATE")
        case .uidNext(let n): w.raw("UIDNEXT \(n)")
        case .uidValidity(let n): w.raw("UIDVALIDITY \(n)")
        case .unseen(let n): w.raw("UNSEEN \(n)")
        case .appendUID(let v, let uids): w.raw("APPENDUID \(v) \(uids.encoded)")
        case .copyUID(let v, let s, let d): w.raw("COPYUID \(v) \(s.encoded) \(d.encoded)")
        case .uidNotSticky: w.raw("UIDNOTSTICKY")
        case .unavailable: w.raw("UNAVAILABLE")
        case .authenticationFailed: w.raw("AUTHENTICATIONFAILED")
        case .authorizationFailed: w.raw("AUTHORIZATIONFAILED")
        case .expired: w.raw("EXPIRED")
        case .privacyRequired: w.raw("PRIVACYREQUIRED")
        case .contactAdmin: w.raw("CONTACTADMIN")
        case .noPerm: w.raw("NOPERM")
        case .inUse: w.raw("INUSE")
        case .expungeIssued: w.raw("EXPUNGEISSUED")
        case .corruption: w.raw("CORRUPTION")
        case .serverBug: w.raw("SERVERBUG")
        case .clientBug: w.raw("CLIENTBUG")
        case .cannot: w.raw("CANNOT")
        case .limit: w.raw("LIMIT")
        case .overQuota: w.raw("OVERQUOTA")
        case .alreadyExists: w.raw("ALREADYEXISTS")
        case .nonexistent: w.raw("NONEXISTENT")
        case .notSaved: w.raw("NOTSAVED")
        case .hasChildren: w.raw("HASCHILDREN")
        case .closed: w.raw("CLOSED")
        case .unknownCTE: w.raw("UNKNOWN-CTE")
        case .highestModSeq(let m): w.raw("HIGHESTMODSEQ \(m)")
        case .noModSeq: w.raw("NOMODSEQ")
        case .modified(let set): w.raw("MODIFIED \(set.encoded)")
        case .tooBig: w.raw("TOOBIG")
        case .compressionActive: w.raw("COMPRESSIONACTIVE")
        case .useAttr: w.raw("USEATTR")
        }
    }
}
