/// The SQLite schema of the embedded store, as GRDB migrations.
///
/// A message is stored once (`messages`, body as a BLOB written incrementally) and referenced by one
/// `deliveries` row per recipient mailbox. Delivery ids use AUTOINCREMENT so they are never reused
/// (POP3 UIDLs are INBOX's UIDVALIDITY and the UID: `RetrievableMessage.uniqueID`).
///
/// "v2-queue" adds the outbound queue: one `queue` row per non-local recipient, referencing `messages`
/// the same way deliveries do (a body is removed only when neither a delivery nor a queue entry
/// references it: see `SQLiteMailStore.deleteUnreferencedMessages`), and the message-level envelope
/// properties outbound delivery needs (RFC 3461 ENVID/RET, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8) as
/// `messages` columns. Queue entry ids are AUTOINCREMENT too: never reused.
///
/// "v3-relay" adds `access_entries`: the relay and connection access lists the CLI manages
/// (RelayDirectory.swift, SQLiteMailStore+Relay.swift).
///
/// "v6-queue-lease" adds `queue.lease_owner` and `queue.lease_until`: the node that claimed an entry
/// and until when (SQLiteMailStore+Queue.swift, docs/QUEUE.md "Leases").
///
/// "v4-idn-canonical" rewrites domain names to their canonical key (`IDNA.canonicalDomain`: lower case,
/// A-labels, RFC 5890 §2.3.2.1): `domains.name`, the domain half of `mailboxes.address` and
/// `relay-domain` access entries. Earlier versions stored a domain as typed, so `bücher.example` and
/// `xn--bcher-kva.example` were two different domains. Where both spellings exist they are merged into the
/// canonical one: its mailboxes, its chosen postmaster (when it had none), and the mail of a mailbox that
/// existed under both spellings (the canonical mailbox's password and flags win). Names that are not
/// valid IDNs are left as they are.
import Foundation
import GRDB
import MailCore

enum Schema {
    static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
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
            try db.execute(
                sql: """
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
            try db.execute(
                sql: """
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
        migrator.registerMigration("v4-idn-canonical") { db in
            try canonicalizeDomains(db)
        }
        // SCRAM-SHA-256 verifiers (MailAuth SCRAMVerifier text), made when a password is next set.
        migrator.registerMigration("v5-scram-verifier") { db in
            try db.execute(sql: "ALTER TABLE mailboxes ADD COLUMN scram_sha256 TEXT")
        }
        // Queue leases (docs/QUEUE.md): the node working on an entry and until when (seconds since 1970).
        migrator.registerMigration("v6-queue-lease") { db in
            try db.execute(
                sql: """
                    ALTER TABLE queue ADD COLUMN lease_owner TEXT;
                    ALTER TABLE queue ADD COLUMN lease_until REAL;
                    """)
        }
        // POP3 maildrop leases (MailStore MaildropLocking.swift): one row per locked mailbox, shared by
        // every process on this file.
        migrator.registerMigration("v7-maildrop-lock") { db in
            try db.execute(
                sql: """
                    CREATE TABLE maildrop_locks (
                        mailbox_id INTEGER PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,
                        -- the holding session's token (MaildropLease.makeOwner)
                        owner TEXT NOT NULL,
                        -- seconds since 1970 (the store's clock); after it another owner may take the lock
                        expires_at REAL NOT NULL
                    );
                    """)
        }
        // IMAP folders (docs/IMAP.md "Storage"); existing deliveries move into INBOX.
        migrator.registerMigration("v8-imap-folders") { db in
            try db.execute(
                sql: """
                    CREATE TABLE imap_folders (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
                        -- Unicode, '/' as the hierarchy delimiter, 'INBOX' canonical
                        name TEXT NOT NULL,
                        uid_validity INTEGER NOT NULL,
                        uid_next INTEGER NOT NULL DEFAULT 1,
                        highest_modseq INTEGER NOT NULL DEFAULT 1,
                        -- RFC 6154 attributes, space-separated ('\\Sent')
                        special_use TEXT NOT NULL DEFAULT '',
                        -- tombstones with a MODSEQ at or below this were purged
                        purged_modseq INTEGER NOT NULL DEFAULT 0,
                        UNIQUE (mailbox_id, name)
                    );
                    CREATE TABLE imap_subscriptions (
                        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
                        name TEXT NOT NULL,
                        PRIMARY KEY (mailbox_id, name)
                    );
                    CREATE TABLE imap_expunged (
                        folder_id INTEGER NOT NULL REFERENCES imap_folders(id),
                        uid INTEGER NOT NULL,
                        modseq INTEGER NOT NULL,
                        expunged_at REAL NOT NULL,
                        PRIMARY KEY (folder_id, uid)
                    );
                    CREATE INDEX imap_expunged_modseq ON imap_expunged(folder_id, modseq);
                    -- store-wide counters: 'uid_validity' (the last UIDVALIDITY handed out)
                    CREATE TABLE imap_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                    ALTER TABLE deliveries ADD COLUMN folder_id INTEGER REFERENCES imap_folders(id);
                    ALTER TABLE deliveries ADD COLUMN uid INTEGER;
                    ALTER TABLE deliveries ADD COLUMN modseq INTEGER NOT NULL DEFAULT 1;
                    -- ' \\Seen $Work ': flag names separated and surrounded by one space
                    ALTER TABLE deliveries ADD COLUMN flags TEXT NOT NULL DEFAULT ' ';
                    -- INTERNALDATE: seconds since the epoch and the zone in minutes east of UTC
                    ALTER TABLE deliveries ADD COLUMN internal_date INTEGER;
                    ALTER TABLE deliveries ADD COLUMN internal_zone INTEGER NOT NULL DEFAULT 0;
                    CREATE UNIQUE INDEX deliveries_folder_uid ON deliveries(folder_id, uid);
                    CREATE INDEX deliveries_folder_modseq ON deliveries(folder_id, modseq);
                    """)
            try SQLiteFolders.migrateDeliveries(db, now: Date().timeIntervalSince1970)
        }
        // Per-mailbox quota (docs/IMAP.md "Quota"): the limits on `mailboxes` (NULL: none), and each
        // delivery's size beside it, so a mailbox's usage is a sum over the covering index
        // `deliveries_mailbox_size` (no join with `messages`, no counter row to keep in step).
        migrator.registerMigration("v9-quota") { db in
            try db.execute(
                sql: """
                    -- octets and messages; NULL: no limit
                    ALTER TABLE mailboxes ADD COLUMN quota_storage INTEGER;
                    ALTER TABLE mailboxes ADD COLUMN quota_messages INTEGER;
                    -- the stored size of the message (messages.size), copied when the row is made
                    ALTER TABLE deliveries ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
                    UPDATE deliveries SET size = (SELECT size FROM messages WHERE messages.id = deliveries.message_id);
                    CREATE INDEX deliveries_mailbox_size ON deliveries(mailbox_id, size);
                    """)
        }
        // IMAP4rev1 \Recent (docs/IMAP.md "Storage"): messages with a UID at or above it are recent for the
        // next session that SELECTs the folder. Mail already there is not recent.
        migrator.registerMigration("v10-imap-recent") { db in
            try db.execute(
                sql: """
                    ALTER TABLE imap_folders ADD COLUMN first_recent_uid INTEGER NOT NULL DEFAULT 1;
                    UPDATE imap_folders SET first_recent_uid = uid_next;
                    """)
        }
        // What the receiver knew about the stored octets (`BodyForm`, MailCore), on each delivery of the
        // message: 0, nothing known, for mail stored before (and for copies made by IMAP COPY/MOVE), which
        // readers scan as they always did. Not on `messages`: a column added there comes after `body` in the
        // record, and SQLite writes a zeroblob without building it in memory only while every field after it
        // takes no payload octets (NULL, 0 or 1); a form of 7 behind a 40 MB body made the INSERT build
        // the 40 MB record in memory (e2e test_limits caught it).
        migrator.registerMigration("v11-body-form") { db in
            try db.execute(sql: "ALTER TABLE deliveries ADD COLUMN body_form INTEGER NOT NULL DEFAULT 0")
        }
        // The DSN envelope id and RET (RFC 3461) of a queued message go on its queue entries: on `messages`
        // they come after `body` in SQLite's record (see "v11-body-form"), so a large message with ENVID or
        // RET was built whole in memory when it was stored. Messages stored before keep theirs on `messages`
        // (the queue reads `COALESCE(q.envid, m.envid)`).
        migrator.registerMigration("v12-queue-dsn") { db in
            try db.execute(
                sql: """
                    ALTER TABLE queue ADD COLUMN envid TEXT;
                    ALTER TABLE queue ADD COLUMN ret TEXT;
                    """)
        }
        return migrator
    }

    /// The "v4-idn-canonical" rewrite (see above). Runs in the migration's transaction.
    static func canonicalizeDomains(_ db: Database) throws {
        for row in try Row.fetchAll(db, sql: "SELECT id, name, postmaster_id FROM domains ORDER BY id") {
            let id: Int64 = try row.decode(Int64.self, forColumn: "id")
            let name: String = try row.decode(String.self, forColumn: "name")
            guard let key = IDNA.canonicalKey(name), key != name else { continue }
            if let canonicalID = try Int64.fetchOne(db, sql: "SELECT id FROM domains WHERE name = ?", arguments: [key]) {
                let postmaster = try row.decode(Int64?.self, forColumn: "postmaster_id")
                try db.execute(sql: "UPDATE mailboxes SET domain_id = ? WHERE domain_id = ?", arguments: [canonicalID, id])
                try db.execute(
                    sql: "UPDATE domains SET postmaster_id = COALESCE(postmaster_id, ?) WHERE id = ?",
                    arguments: [postmaster, canonicalID])
                try db.execute(sql: "DELETE FROM domains WHERE id = ?", arguments: [id])
            } else {
                try db.execute(sql: "UPDATE domains SET name = ? WHERE id = ?", arguments: [key, id])
            }
        }
        for row in try Row.fetchAll(db, sql: "SELECT id, address FROM mailboxes ORDER BY id") {
            let id: Int64 = try row.decode(Int64.self, forColumn: "id")
            let address: String = try row.decode(String.self, forColumn: "address")
            guard let at = address.lastIndex(of: "@") else { continue }
            let domain = String(address[address.index(after: at)...])
            guard let key = IDNA.canonicalKey(domain), key != domain else { continue }
            let canonical = String(address[..<at]) + "@" + key
            if let canonicalID = try Int64.fetchOne(db, sql: "SELECT id FROM mailboxes WHERE address = ?", arguments: [canonical]) {
                try db.execute(sql: "UPDATE deliveries SET mailbox_id = ? WHERE mailbox_id = ?", arguments: [canonicalID, id])
                try db.execute(sql: "UPDATE domains SET postmaster_id = ? WHERE postmaster_id = ?", arguments: [canonicalID, id])
                try db.execute(sql: "DELETE FROM mailboxes WHERE id = ?", arguments: [id])
            } else {
                try db.execute(sql: "UPDATE mailboxes SET address = ? WHERE id = ?", arguments: [canonical, id])
            }
        }
        let list = "relay-domain"
        for value in try String.fetchAll(db, sql: "SELECT value FROM access_entries WHERE list = ?", arguments: [list]) {
            guard let key = IDNA.canonicalKey(value), key != value else { continue }
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO access_entries (list, value, added_at)
                    SELECT list, ?, added_at FROM access_entries WHERE list = ? AND value = ?
                    """, arguments: [key, list, value])
            try db.execute(sql: "DELETE FROM access_entries WHERE list = ? AND value = ?", arguments: [list, value])
        }
    }
}
