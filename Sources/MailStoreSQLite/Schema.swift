/// The SQLite schema of the embedded store, as GRDB migrations.
///
/// A message is stored once (`messages`, body as a BLOB written incrementally) and referenced by one
/// `deliveries` row per recipient mailbox. Delivery ids use AUTOINCREMENT so they are never reused:
/// they become POP3 UIDLs (RFC 1939 §7, "unique-id ... must not be reused").
///
/// "v2-queue" adds the outbound queue: one `queue` row per non-local recipient, referencing `messages`
/// the same way deliveries do (a body is removed only when neither a delivery nor a queue entry
/// references it: see `SQLiteMailStore.deleteUnreferencedMessages`), and the message-level envelope
/// properties outbound delivery needs (RFC 3461 ENVID/RET, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8) as
/// `messages` columns. Queue entry ids are AUTOINCREMENT too: never reused.
///
/// "v3-relay" adds `access_entries`: the relay and connection access lists the CLI manages
/// (RelayDirectory.swift, SQLiteMailStore+Relay.swift).
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
        migrator.registerMigration("v2-queue") { db in
            try db.execute(sql: """
                ALTER TABLE messages ADD COLUMN envid TEXT;
                -- RET: 'FULL', 'HDRS' or NULL
                ALTER TABLE messages ADD COLUMN ret TEXT;
                ALTER TABLE messages ADD COLUMN eight_bit_mime INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE messages ADD COLUMN smtputf8 INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX messages_queue_id ON messages(queue_id);
                CREATE TABLE queue (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    message_id INTEGER NOT NULL REFERENCES messages(id),
                    -- the address as accepted, and the routing domain (lower case, A-labels or a literal)
                    recipient TEXT NOT NULL,
                    domain TEXT NOT NULL,
                    -- NOTIFY as DSNNotify.description ('NEVER', 'FAILURE,DELAY', ...); NULL when not given
                    notify TEXT,
                    -- ORCPT, decoded: 'addr-type;address'
                    orcpt TEXT,
                    -- 'active' or 'held'
                    state TEXT NOT NULL DEFAULT 'active',
                    attempts INTEGER NOT NULL DEFAULT 0,
                    arrived_at REAL NOT NULL,
                    next_attempt REAL NOT NULL,
                    last_attempt REAL,
                    last_error TEXT,
                    delay_notified INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX queue_due ON queue(state, next_attempt);
                CREATE INDEX queue_message ON queue(message_id);
                """)
        }
        migrator.registerMigration("v3-relay") { db in
            try db.execute(sql: """
                CREATE TABLE access_entries (
                    -- 'relay-network', 'relay-domain', 'connection-allow' or 'connection-deny' (AccessList)
                    list TEXT NOT NULL,
                    -- a CIDR network or a lower-cased domain, validated by the caller
                    value TEXT NOT NULL,
                    added_at REAL NOT NULL,
                    PRIMARY KEY (list, value)
                );
                """)
        }
        return migrator
    }
}
