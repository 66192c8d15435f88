/// The PostgreSQL schema of the store, as numbered migrations.
///
/// The same discipline as the SQLite store (MailStoreSQLite/Schema.swift): migrations are numbered,
/// applied in order, each in its own transaction and recorded in `petrel_migrations`; a database that
/// records a version this build does not know (a newer Petrel migrated it) is refused, never touched.
/// Two nodes starting at once serialize on a transaction-scoped advisory lock.
///
/// Version 1 is the whole current model (SQLite's v1…v5 in one step, the store being new):
/// - `domains`, `mailboxes` (lookup keys in canonical form, `COLLATE "C"` so every listing is in octet
///   order as on SQLite), the chosen postmaster per domain;
/// - `messages` (one row per stored message, the envelope properties outbound delivery needs) and its
///   body in `message_parts`: consecutive pieces of at most `PostgresMailStore.partSize` octets keyed by
///   their start offset, stored uncompressed out of line (STORAGE EXTERNAL), so a ranged read touches
///   only the parts it needs and a 50 MB body is never built or read whole;
/// - `deliveries` (one row per recipient mailbox; identity ids are never reused);
/// - `queue` (one row per non-local recipient) and `access_entries` (the relay and connection lists).
/// Version 2 adds the queue leases: `queue.lease_owner` (the node id) and `queue.lease_until`.
/// Version 3 the POP3 maildrop leases, 4 the IMAP folders, 5 the per-mailbox quota, 6 IMAP4rev1 \Recent.
/// Times are seconds since 1970 as `double precision`, as on SQLite, so values round-trip exactly.
enum PostgresSchema {
    struct Migration: Sendable {
        let version: Int
        let name: String
        let statements: [String]
    }

    /// The advisory lock key migrations hold ("petrel" in ASCII).
    static let migrationLock: Int64 = 0x7065_7472_656C

    static let migrations: [Migration] = [
        Migration(
            version: 1, name: "v1-initial",
            statements: [
                """
                CREATE TABLE domains (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    name text COLLATE "C" NOT NULL UNIQUE,
                    postmaster_id bigint,
                    created_at double precision NOT NULL
                )
                """,
                """
                CREATE TABLE mailboxes (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    domain_id bigint NOT NULL REFERENCES domains(id),
                    address text COLLATE "C" NOT NULL UNIQUE,
                    password_hash text,
                    scram_sha256 text,
                    locked boolean NOT NULL DEFAULT false,
                    is_admin boolean NOT NULL DEFAULT false,
                    created_at double precision NOT NULL
                )
                """,
                "ALTER TABLE domains ADD FOREIGN KEY (postmaster_id) REFERENCES mailboxes(id) ON DELETE SET NULL",
                "CREATE INDEX mailboxes_domain ON mailboxes(domain_id)",
                "CREATE INDEX mailboxes_admin ON mailboxes(is_admin, id)",
                "CREATE INDEX domains_postmaster ON domains(postmaster_id)",
                """
                CREATE TABLE messages (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    queue_id text COLLATE "C" NOT NULL,
                    sender text NOT NULL,
                    received_at double precision NOT NULL,
                    size bigint NOT NULL,
                    envid text,
                    ret text,
                    eight_bit_mime boolean NOT NULL DEFAULT false,
                    smtputf8 boolean NOT NULL DEFAULT false
                )
                """,
                "CREATE INDEX messages_queue_id ON messages(queue_id)",
                """
                CREATE TABLE message_parts (
                    message_id bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
                    start bigint NOT NULL,
                    data bytea NOT NULL,
                    PRIMARY KEY (message_id, start)
                )
                """,
                "ALTER TABLE message_parts ALTER COLUMN data SET STORAGE EXTERNAL",
                """
                CREATE TABLE deliveries (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    mailbox_id bigint NOT NULL REFERENCES mailboxes(id),
                    message_id bigint NOT NULL REFERENCES messages(id),
                    created_at double precision NOT NULL
                )
                """,
                "CREATE INDEX deliveries_mailbox ON deliveries(mailbox_id, id)",
                "CREATE INDEX deliveries_message ON deliveries(message_id)",
                """
                CREATE TABLE queue (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    message_id bigint NOT NULL REFERENCES messages(id),
                    recipient text NOT NULL,
                    domain text NOT NULL,
                    notify text,
                    orcpt text,
                    state text NOT NULL DEFAULT 'active',
                    attempts integer NOT NULL DEFAULT 0,
                    arrived_at double precision NOT NULL,
                    next_attempt double precision NOT NULL,
                    last_attempt double precision,
                    last_error text,
                    delay_notified boolean NOT NULL DEFAULT false
                )
                """,
                "CREATE INDEX queue_due ON queue(state, next_attempt)",
                "CREATE INDEX queue_message ON queue(message_id)",
                """
                CREATE TABLE access_entries (
                    list text COLLATE "C" NOT NULL,
                    value text COLLATE "C" NOT NULL,
                    added_at double precision NOT NULL,
                    PRIMARY KEY (list, value)
                )
                """
            ]),
        // Queue leases (docs/QUEUE.md "Leases"): the node working on an entry and until when.
        Migration(
            version: 2, name: "v2-queue-lease",
            statements: [
                "ALTER TABLE queue ADD COLUMN lease_owner text",
                "ALTER TABLE queue ADD COLUMN lease_until double precision"
            ]),
        // POP3 maildrop leases (MailStore MaildropLocking.swift, PostgresMailStore+Relay.swift): one row per
        // locked mailbox, renewed by the holding session, taken over only after `expires_at`.
        Migration(
            version: 3, name: "v3-maildrop-lock",
            statements: [
                """
                CREATE TABLE maildrop_locks (
                    mailbox_id bigint PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,
                    owner text COLLATE "C" NOT NULL,
                    expires_at double precision NOT NULL
                )
                """
            ]),
        // IMAP folders (docs/IMAP.md "Storage"); existing deliveries move into INBOX (UIDs in delivery
        // order, MODSEQ 1).
        Migration(
            version: 4, name: "v4-imap-folders",
            statements: [
                // UIDVALIDITY values: from the time of the migration in seconds on, never reused.
                "CREATE SEQUENCE imap_uid_validity MAXVALUE 4294967294",
                "SELECT setval('imap_uid_validity', GREATEST(1, floor(extract(epoch FROM clock_timestamp())))::bigint)",
                """
                CREATE TABLE imap_folders (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    mailbox_id bigint NOT NULL REFERENCES mailboxes(id),
                    name text COLLATE "C" NOT NULL,
                    uid_validity bigint NOT NULL,
                    uid_next bigint NOT NULL DEFAULT 1,
                    highest_modseq bigint NOT NULL DEFAULT 1,
                    special_use text NOT NULL DEFAULT '',
                    purged_modseq bigint NOT NULL DEFAULT 0,
                    UNIQUE (mailbox_id, name)
                )
                """,
                """
                CREATE TABLE imap_subscriptions (
                    mailbox_id bigint NOT NULL REFERENCES mailboxes(id),
                    name text COLLATE "C" NOT NULL,
                    PRIMARY KEY (mailbox_id, name)
                )
                """,
                """
                CREATE TABLE imap_expunged (
                    folder_id bigint NOT NULL REFERENCES imap_folders(id),
                    uid bigint NOT NULL,
                    modseq bigint NOT NULL,
                    expunged_at double precision NOT NULL,
                    PRIMARY KEY (folder_id, uid)
                )
                """,
                "CREATE INDEX imap_expunged_modseq ON imap_expunged(folder_id, modseq)",
                """
                ALTER TABLE deliveries ADD COLUMN folder_id bigint REFERENCES imap_folders(id), ADD COLUMN uid bigint,
                    ADD COLUMN modseq bigint NOT NULL DEFAULT 1, ADD COLUMN flags text NOT NULL DEFAULT ' ',
                    ADD COLUMN internal_date bigint, ADD COLUMN internal_zone integer NOT NULL DEFAULT 0
                """,
                "CREATE UNIQUE INDEX deliveries_folder_uid ON deliveries(folder_id, uid)",
                "CREATE INDEX deliveries_folder_modseq ON deliveries(folder_id, modseq)",
                """
                INSERT INTO imap_folders (mailbox_id, name, uid_validity, special_use)
                SELECT m.id, f.name, nextval('imap_uid_validity'), f.special_use
                FROM mailboxes m CROSS JOIN (VALUES (1, 'INBOX', ''), (2, 'Sent', '\\Sent'), (3, 'Drafts', '\\Drafts'),
                    (4, 'Trash', '\\Trash'), (5, 'Junk', '\\Junk'), (6, 'Archive', '\\Archive')) AS f(position, name, special_use)
                ORDER BY m.id, f.position
                """,
                """
                UPDATE deliveries d SET folder_id = f.id, uid = r.n, internal_date = floor(msg.received_at)::bigint
                FROM (SELECT id, row_number() OVER (PARTITION BY mailbox_id ORDER BY id) AS n FROM deliveries) r,
                     imap_folders f, messages msg
                WHERE r.id = d.id AND f.mailbox_id = d.mailbox_id AND f.name = 'INBOX' AND msg.id = d.message_id
                """,
                """
                UPDATE imap_folders f SET uid_next = COALESCE((SELECT MAX(uid) FROM deliveries d WHERE d.folder_id = f.id), 0) + 1
                WHERE f.name = 'INBOX'
                """
            ]),
        // Per-mailbox quota (docs/IMAP.md "Quota"): the limits on `mailboxes` (NULL: none) and each
        // delivery's size beside it, so a mailbox's usage is a sum over the covering index
        // `deliveries_mailbox_size` (an index-only scan, no join with `messages`, no counter row that every
        // delivery to the mailbox would have to lock).
        Migration(
            version: 5, name: "v5-quota",
            statements: [
                "ALTER TABLE mailboxes ADD COLUMN quota_storage bigint, ADD COLUMN quota_messages bigint",
                "ALTER TABLE deliveries ADD COLUMN size bigint NOT NULL DEFAULT 0",
                "UPDATE deliveries d SET size = m.size FROM messages m WHERE m.id = d.message_id",
                "CREATE INDEX deliveries_mailbox_size ON deliveries(mailbox_id, size)"
            ]),
        // IMAP4rev1 \Recent: messages with a UID at or above `first_recent_uid` are recent for the next
        // session that SELECTs the folder (which moves it to uid_next under the row lock). Mail already
        // there is not recent.
        Migration(
            version: 6, name: "v6-imap-recent",
            statements: [
                "ALTER TABLE imap_folders ADD COLUMN first_recent_uid bigint NOT NULL DEFAULT 1",
                "UPDATE imap_folders SET first_recent_uid = uid_next"
            ]),
        // What the receiver knew about the stored octets (`BodyForm`, MailCore): 0, nothing known, for mail
        // stored before, which readers scan as they always did. A constant default: no table rewrite.
        Migration(
            version: 7, name: "v7-body-form",
            statements: ["ALTER TABLE messages ADD COLUMN body_form bigint NOT NULL DEFAULT 0"])
    ]

    /// The newest version this build knows.
    static var latestVersion: Int { migrations.last?.version ?? 0 }
}
