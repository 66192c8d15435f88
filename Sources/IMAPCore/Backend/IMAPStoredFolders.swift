/// What every store that keeps IMAP folders (SQLite, PostgreSQL) does the same way, kept once: the
/// folders each mailbox gets, how long tombstones of expunged messages stay, and the text form of a
/// message's flags in a column (docs/IMAP.md "Storage"), and the quota resources of a mailbox.
public enum IMAPStoredFolders {
    /// INBOX and the RFC 6154 folders every mailbox gets.
    public static let defaults: [(name: String, specialUse: String)] = [
        ("INBOX", ""), ("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash"), ("Junk", "\\Junk"),
        ("Archive", "\\Archive")
    ]

    /// How long tombstones of expunged messages are kept (seconds): sessions that last knew a MODSEQ older
    /// than the purged ones get the `.unknown` fallback (the core compares UIDs).
    public static let tombstoneRetention: Double = 30 * 86_400

    /// Flags as stored: sorted, without duplicates and `\Recent`, space-separated with a space on each
    /// side (so `instr(flags, ' \Seen ')` in SQL finds one).
    public static func encodeFlags(_ flags: [IMAPFlag]) -> String {
        var seen = Set<IMAPFlag>()
        let names = flags.filter { $0 != .recent && seen.insert($0).inserted }.sorted().map(\.name)
        return names.isEmpty ? " " : " " + names.joined(separator: " ") + " "
    }

    /// The flags of a stored text (`encodeFlags`).
    public static func decodeFlags(_ text: String) -> [IMAPFlag] {
        text.split(separator: " ").map { IMAPFlag(String($0)) }.sorted()
    }

    /// The quota root "" as RFC 9208 reports it: STORAGE in units of 1024 octets (the usage rounded up, the
    /// limit down, so a full mailbox never shows room) and MESSAGE, each only when it has a limit; empty
    /// when the mailbox is unlimited. Limits and usage are octets and messages (MailStore `MailboxQuota`).
    public static func quotaResources(
        storageLimit: Int64?, messageLimit: Int64?, usedOctets: Int64, usedMessages: Int64
    ) -> [IMAPQuotaResource] {
        var out: [IMAPQuotaResource] = []
        if let limit = storageLimit {
            let used = UInt64(max(0, usedOctets))
            out.append(IMAPQuotaResource("STORAGE", usage: used / 1024 + (used % 1024 == 0 ? 0 : 1), limit: UInt64(max(0, limit)) / 1024))
        }
        if let limit = messageLimit {
            out.append(IMAPQuotaResource("MESSAGE", usage: UInt64(max(0, usedMessages)), limit: UInt64(max(0, limit))))
        }
        return out
    }
}
