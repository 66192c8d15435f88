/// Message flags (RFC 9051 §2.3.2).
///
/// ```
/// flag            = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / flag-keyword / flag-extension
/// flag-extension  = "\" atom
/// flag-keyword    = "$MDNSent" / "$Forwarded" / "$Junk" / "$NotJunk" / "$Phishing" / atom
/// flag-list       = "(" [flag *(SP flag)] ")"
/// flag-perm       = flag / "\*"
/// ```
/// Flags compare ASCII case-insensitively; system flags are kept in their canonical spelling, keywords
/// as the client first wrote them.
public struct IMAPFlag: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let name: String
    let key: String

    public init(_ name: String) {
        let lower = name.lowercased()
        if let system = IMAPFlag.systemNames[lower] {
            self.name = system
        } else {
            self.name = name
        }
        self.key = lower
    }

    public static let answered = IMAPFlag("\\Answered")
    public static let flagged = IMAPFlag("\\Flagged")
    public static let deleted = IMAPFlag("\\Deleted")
    public static let seen = IMAPFlag("\\Seen")
    public static let draft = IMAPFlag("\\Draft")
    /// IMAP4rev1 only (RFC 3501 §2.3.2); Petrel never sets it and never lets a client set it.
    public static let recent = IMAPFlag("\\Recent")

    static let systemNames: [String: String] = [
        "\\answered": "\\Answered", "\\flagged": "\\Flagged", "\\deleted": "\\Deleted", "\\seen": "\\Seen",
        "\\draft": "\\Draft", "\\recent": "\\Recent"
    ]

    /// The five system flags every mailbox supports, in canonical order.
    public static let system: [IMAPFlag] = [.answered, .flagged, .deleted, .seen, .draft]

    public var isSystem: Bool { name.hasPrefix("\\") }

    public static func == (a: IMAPFlag, b: IMAPFlag) -> Bool { a.key == b.key }
    public func hash(into hasher: inout Hasher) { hasher.combine(key) }
    public static func < (a: IMAPFlag, b: IMAPFlag) -> Bool {
        if a.isSystem != b.isSystem { return a.isSystem }
        return a.key < b.key
    }
    public var description: String { name }

    /// `flag` (RFC 9051 §9)
    static func parse(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPFlag {
        if p.consume(UInt8(ascii: "\\")) {
            let atom = try p.atom()
            return IMAPFlag("\\" + atom)
        }
        return IMAPFlag(try p.atom())
    }

    /// `flag-list` (RFC 9051 §9)
    static func parseList(_ p: inout IMAPParser) throws(IMAPParseError) -> [IMAPFlag] {
        let flags = try p.parenthesizedList(allowEmpty: true) { (p: inout IMAPParser) throws(IMAPParseError) in
            try IMAPFlag.parse(&p)
        }
        guard flags.count <= 1000 else { throw IMAPParseError("Too many flags") }
        return flags
    }
}

/// A set of flags in a stable (canonical) order for responses.
extension Collection where Element == IMAPFlag {
    public var sortedForDisplay: [IMAPFlag] { sorted() }
}
