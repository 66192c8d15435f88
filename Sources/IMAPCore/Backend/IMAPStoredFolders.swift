/// What every store that keeps IMAP folders (SQLite, PostgreSQL) does the same way, kept once: the
/// folders each mailbox gets, how long tombstones of expunged messages stay, and the text form of a
/// message's flags in a column (docs/IMAP.md "Storage").
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
}
