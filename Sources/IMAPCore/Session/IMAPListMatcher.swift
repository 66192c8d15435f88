/// LIST / LSUB pattern matching and attributes (RFC 9051 §6.3.9, RFC 5258 LIST-EXTENDED, RFC 6154
/// SPECIAL-USE), pure.
///
/// `*` matches zero or more characters, `%` the same except the hierarchy delimiter `/`. The reference
/// is prepended to the pattern. INBOX matches case-insensitively. Parents that do not exist but have
/// matching children are reported as `\NonExistent` (LIST-EXTENDED; IMAP4rev1: `\Noselect`).
public enum IMAPListMatcher {
    /// Whether `name` matches `pattern` (both Unicode; dynamic programming, no backtracking blow-up).
    public static func matches(_ name: String, pattern: String) -> Bool {
        let n = Array(name.unicodeScalars)
        let p = Array(pattern.unicodeScalars)
        // dp[j]: pattern prefix p[0..<i] matches name prefix n[0..<j]
        var dp = [Bool](repeating: false, count: n.count + 1)
        dp[0] = true
        for i in 0..<p.count {
            var next = [Bool](repeating: false, count: n.count + 1)
            switch p[i] {
            case "*":
                var any = false
                for j in 0...n.count {
                    any = any || dp[j]
                    next[j] = any
                }
            case "%":
                // Like "*" but the run of matched characters may not contain "/".
                var carry = false
                for j in 0...n.count {
                    if j > 0, n[j - 1] == "/" { carry = false }
                    carry = carry || dp[j]
                    next[j] = carry
                }
            default:
                for j in 0..<n.count where dp[j] && n[j] == p[i] { next[j + 1] = true }
            }
            dp = next
        }
        return dp[n.count]
    }

    /// The full pattern: reference and pattern joined, the INBOX component canonical.
    public static func fullPattern(reference: String, pattern: String) -> String {
        var full = reference.isEmpty || pattern.hasPrefix("/") ? pattern : reference + pattern
        if reference.hasSuffix("/"), pattern.hasPrefix("/") { full = reference + pattern.dropFirst() }
        return IMAPMailboxName.canonical(full)
    }

    /// One candidate for a LIST reply.
    public struct Entry: Hashable, Sendable {
        public var name: String
        public var exists: Bool
        public var subscribed: Bool
        public var specialUse: [String]
        public var hasChildren: Bool
        /// A descendant (not the mailbox itself) is subscribed / has a special use.
        public var childSubscribed: Bool
        public var childSpecialUse: Bool
    }

    /// Every mailbox and every missing parent of one, with hierarchy facts, INBOX first then by name.
    public static func entries(_ mailboxes: [IMAPMailboxInfo]) -> [Entry] {
        var byName: [String: Entry] = [:]
        for m in mailboxes {
            var e =
                byName[m.name]
                ?? Entry(
                    name: m.name, exists: false, subscribed: false, specialUse: [],
                    hasChildren: false, childSubscribed: false, childSpecialUse: false)
            e.exists = e.exists || m.exists
            e.subscribed = e.subscribed || m.isSubscribed
            if m.exists { e.specialUse = m.specialUse }
            byName[m.name] = e
        }
        for m in mailboxes {
            var parts = m.name.split(separator: "/", omittingEmptySubsequences: false)
            while parts.count > 1 {
                parts.removeLast()
                let parent = parts.joined(separator: "/")
                var e =
                    byName[parent]
                    ?? Entry(
                        name: parent, exists: false, subscribed: false, specialUse: [],
                        hasChildren: false, childSubscribed: false, childSpecialUse: false)
                if m.exists { e.hasChildren = true }
                if m.isSubscribed { e.childSubscribed = true }
                if m.exists, !m.specialUse.isEmpty { e.childSpecialUse = true }
                byName[parent] = e
            }
        }
        return byName.values.sorted { a, b in
            if a.name == "INBOX" { return b.name != "INBOX" }
            if b.name == "INBOX" { return false }
            return a.name < b.name
        }
    }

    /// The LIST reply for `command` (patterns already decoded), or [] when nothing matches.
    public static func list(_ entries: [Entry], patterns: [String], command: IMAPListCommand, rev2: Bool) -> [IMAPListItem] {
        var items: [IMAPListItem] = []
        let extended = command.isExtended || rev2
        for e in entries where patterns.contains(where: { matches(e.name, pattern: $0) }) {
            var childInfo = false
            if command.selectSubscribed {
                if !e.subscribed {
                    guard command.recursiveMatch, e.childSubscribed else { continue }
                    childInfo = true
                }
            } else if command.selectSpecialUse {
                if e.specialUse.isEmpty || !e.exists {
                    guard command.recursiveMatch, e.childSpecialUse else { continue }
                }
            } else if !e.exists, !e.hasChildren {
                continue // a subscription to a missing mailbox is listed only when subscriptions are asked for
            }
            var attrs: [String] = []
            if !e.exists { attrs.append(extended ? "\\NonExistent" : "\\Noselect") }
            if e.exists || !extended {
                attrs.append(e.hasChildren ? "\\HasChildren" : "\\HasNoChildren")
            } else if e.hasChildren {
                attrs.append("\\HasChildren")
            }
            if command.selectSubscribed || command.returnSubscribed, e.subscribed { attrs.append("\\Subscribed") }
            if e.exists { attrs += e.specialUse }
            items.append(IMAPListItem(attributes: attrs, name: e.name, childInfoSubscribed: childInfo))
        }
        return items
    }
}
