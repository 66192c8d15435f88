/// The SQLite schema of the embedded store, as GRDB migrations.
///
/// A message is stored once (`messages`, body as a BLOB written incrementally) and referenced by one
/// `deliveries` row per recipient mailbox. Delivery ids use AUTOINCREMENT so they are never reused:
/// they become POP3 UIDLs (RFC 1939 §7, "unique-id ... must not be reused"). A later migration will
/// add an outbound queue table that references `messages` the same way deliveries do; body cleanup
/// must then also check it.
import GRDB

enum Schema {
    static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE domains (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL UNIQUE,
                    -- the chosen postmaster mailbox (nil: the default rules)
                    postmaster_id INTEGER REFERENCES mailboxes(id) ON DELETE SET NULL,
                    created_at REAL NOT NULL
                );
                CREATE TABLE mailboxes (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    domain_id INTEGER NOT NULL REFERENCES domains(id),
                    -- lookup key: local part and domain lower-cased
                    address TEXT NOT NULL UNIQUE,
                    password_hash TEXT,
                    locked INTEGER NOT NULL DEFAULT 0,
                    is_admin INTEGER NOT NULL DEFAULT 0,
                    created_at REAL NOT NULL
                );
                CREATE INDEX mailboxes_domain ON mailboxes(domain_id);
                CREATE INDEX mailboxes_admin ON mailboxes(is_admin, id);
                CREATE INDEX domains_postmaster ON domains(postmaster_id);
                CREATE TABLE messages (
                    id INTEGER PRIMARY KEY,
                    queue_id TEXT NOT NULL,
                    sender TEXT NOT NULL,
                    received_at REAL NOT NULL,
                    -- octets of body: trace headers + message
                    size INTEGER NOT NULL,
                    body BLOB NOT NULL
                );
                CREATE TABLE deliveries (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
                    message_id INTEGER NOT NULL REFERENCES messages(id),
                    created_at REAL NOT NULL
                );
                CREATE INDEX deliveries_mailbox ON deliveries(mailbox_id, id);
                CREATE INDEX deliveries_message ON deliveries(message_id);
                """)
        }
        return migrator
    }
}
