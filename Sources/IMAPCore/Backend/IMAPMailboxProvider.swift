/// A store that serves IMAP: it opens the mailbox access of one authenticated user and tells watchers when
/// an IMAP mailbox changes. The SQLite and PostgreSQL stores implement it over their folder tables; the
/// IMAP adapter (MailServerNIO) holds one and knows nothing of the backend behind it.
///
/// Users are identified as everywhere else in Petrel: by the store's mailbox id, which the `Authenticator`
/// returns for a successful login (the same id POP3 sessions use). `IMAPMailboxID` values are folder ids,
/// unique across the store.
public protocol IMAPMailboxProvider: Sendable {
    /// The access for the user whose store mailbox is `mailboxID`; INBOX and the special-use folders
    /// exist once it returns. `.nonexistent` if the mailbox is gone.
    func imapAccess(mailboxID: Int64) async throws(IMAPBackendError) -> any IMAPMailboxAccess

    /// Yields whenever a message is added to, expunged from, or has its flags changed in `mailbox` — by
    /// this node, and by other nodes where the backend can tell (PostgreSQL: NOTIFY). Used while a session
    /// is IDLE; the adapter stops consuming the stream (and the provider releases the watch) when IDLE ends.
    /// A yield is only a hint: the session asks `IMAPMailboxAccess.changes` what actually changed.
    func mailboxChanges(_ mailbox: IMAPMailboxID) -> AsyncStream<Void>
}
