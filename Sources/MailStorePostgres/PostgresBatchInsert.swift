/// The fast path of group commit on PostgreSQL: every message of a batch whose body is in memory is
/// written with ONE statement — its `messages` row, its body parts, one delivery per local recipient with
/// that INBOX's next UID and a new MODSEQ, one queue entry per remote recipient, and the NOTIFYs — the
/// values bound as arrays and unrolled with `unnest`. The per-message path (`PostgresMailStore.insert`, a
/// savepoint per message) costs about nine round trips per message, each parsed and planned by the
/// server; this costs one prepared statement per batch (issue 16: the PostgreSQL path was CPU-bound).
///
/// It writes the same rows as the per-message path: ids from the tables' own identity sequences (taken
/// with `nextval` in message order, so delivery ids — POP3 UIDLs — still grow in arrival order), UIDs and
/// MODSEQs as if each delivery had taken `uid_next` and bumped `highest_modseq` in turn. The caller has
/// locked the INBOX rows (`FOR UPDATE`, id order) and passes their ids; the statement returns what the
/// caller checks before COMMIT (every row written, no UID past 2^32-1). When it fails nothing is kept: the
/// whole batch is rolled back and redone per message (PostgresGroupCommitter.swift), so one bad message
/// still fails alone.
///
/// A per-message rule added to `PostgresMailStore.insert` (e.g. a check before a delivery) must either be
/// added here too or make such messages ineligible (`isEligible`), so that they take the per-message path.
import Foundation
import Logging
import MailCore
import MailStore
import NIOCore
import PostgresNIO

enum PostgresBatchInsert {
    /// Messages this path takes: the body is in memory (a spooled file is streamed part by part by the
    /// per-message path instead, never read whole).
    static func isEligible(_ message: IncomingMessage) -> Bool {
        if case .bytes = message.body { return true }
        return false
    }

    /// One batch's rows as parallel arrays (the statement's parameters).
    struct Rows: Sendable {
        var queueIDs: [String] = []
        var senders: [String] = []
        var receivedAt: [Double] = []
        var sizes: [Int64] = []
        var envelopeIDs: [String?] = []
        var returns: [String?] = []
        var eightBitMIME: [Bool] = []
        var smtpUTF8: [Bool] = []
        var bodyForms: [Int64] = []
        // Body parts: the message's position (1-based), the part's start offset, its octets.
        var partMessage: [Int64] = []
        var partStart: [Int64] = []
        var partData: [ByteBuffer] = []
        // Deliveries: message position, mailbox, its INBOX.
        var deliveryMessage: [Int64] = []
        var deliveryMailbox: [Int64] = []
        var deliveryFolder: [Int64] = []
        // Queue entries: message position, recipient, routing domain, NOTIFY, ORCPT.
        var queueMessage: [Int64] = []
        var queueRecipient: [String] = []
        var queueDomain: [String] = []
        var queueNotify: [String?] = []
        var queueOriginal: [String?] = []
        /// The INBOXes that get a delivery, each once, in id order (their IMAP notifications).
        var foldersNotified: [Int64] { Array(Set(deliveryFolder)).sorted() }
        /// Local recipients per message (duplicates removed), to split the returned delivery ids.
        var deliveriesPerMessage: [Int] = []

        /// Adds one message (with at least one recipient); `inboxes` maps each local mailbox to its INBOX.
        /// Returns false when a mailbox has no INBOX row (the per-message path creates it).
        mutating func add(_ message: IncomingMessage, inboxes: [Int64: Int64]) throws -> Bool {
            var seen = Set<Int64>()
            let locals = message.localRecipients.filter { seen.insert($0).inserted }
            let remote = QueueRules.distinctRemoteRecipients(message.remoteRecipients)
            guard case .bytes(let body) = message.body, locals.allSatisfy({ inboxes[$0] != nil }) else { return false }
            let size = message.storedSize
            guard size >= 0 else { throw StoreError.backend("negative message size") }
            let position = Int64(queueIDs.count + 1)
            queueIDs.append(message.queueID)
            senders.append(message.sender.description)
            receivedAt.append(message.receivedAt.timeIntervalSince1970)
            sizes.append(size)
            envelopeIDs.append(message.envelope.envelopeID)
            returns.append(message.envelope.dsnReturn?.rawValue)
            eightBitMIME.append(message.envelope.eightBitMIME)
            smtpUTF8.append(message.envelope.smtpUTF8)
            bodyForms.append(Int64(message.storedForm.rawValue))
            // Parts of exactly `partSize` octets (the last one shorter), as the per-message path cuts them.
            let partSize = Int64(PostgresMailStore.partSize)
            var start: Int64 = 0
            var part = ByteBuffer()
            part.reserveCapacity(Int(min(size, partSize)))
            func append(_ bytes: [UInt8]) {
                var index = 0
                while index < bytes.count {
                    let take = min(Int(partSize) - part.readableBytes, bytes.count - index)
                    part.writeBytes(bytes[index..<(index + take)])
                    index += take
                    if part.readableBytes == Int(partSize) { flush() }
                }
            }
            func flush() {
                guard part.readableBytes > 0 else { return }
                partMessage.append(position)
                partStart.append(start)
                start += Int64(part.readableBytes)
                partData.append(part)
                part = ByteBuffer()
            }
            append(message.traceHeaders)
            append(body)
            flush()
            for mailbox in locals {
                deliveryMessage.append(position)
                deliveryMailbox.append(mailbox)
                deliveryFolder.append(inboxes[mailbox] ?? 0)
            }
            deliveriesPerMessage.append(locals.count)
            for r in remote {
                queueMessage.append(position)
                queueRecipient.append(r.address.description)
                queueDomain.append(r.domain)
                queueNotify.append(r.notify?.description)
                queueOriginal.append(r.originalRecipient)
            }
            return true
        }

        var isEmpty: Bool { queueIDs.isEmpty }
    }

    /// Thrown when the batch statement failed or wrote other than it was given: the caller rolls the
    /// transaction back and redoes the batch per message.
    struct Failed: Error {
        var underlying: any Error
    }

    /// Runs the statement on `conn` (inside the caller's transaction); returns each message's delivery ids.
    /// `imapPayloads` are the `NOTIFY` payloads on `imapChannel` that announce the new messages in
    /// `rows.foldersNotified` to IMAP sessions (what `PGFolders.notify` sends on the per-message path).
    static func run(
        _ rows: Rows, now: Double, queueChannel: String, imapChannel: String, imapPayloads: [String], on conn: PostgresConnection,
        logger: Logger
    ) async throws -> [[Int64]] {
        let statement = Statement(
            rows: rows, createdAt: now, queueChannel: queueChannel, imapChannel: imapChannel, imapPayloads: imapPayloads)
        var result: Statement.Row?
        do {
            for try await row in try await conn.execute(statement, logger: logger) where result == nil { result = row }
        } catch {
            throw Failed(underlying: error)
        }
        guard let result else { throw Failed(underlying: StoreError.backend("the batch insert returned no row")) }
        let (ids, deliveries, queued, lastUID) = result
        let expected = rows.deliveryMessage.count
        guard ids.count == expected, deliveries == expected, queued == rows.queueMessage.count else {
            throw Failed(
                underlying: StoreError.backend(
                    "the batch insert wrote \(deliveries) of \(expected) deliveries, \(queued) of \(rows.queueMessage.count) queue entries"))
        }
        // A UID must fit in 32 bits (RFC 9051 §2.3.1.1); past that the per-message path reports the limit.
        guard lastUID <= Int64(UInt32.max) else {
            throw Failed(underlying: StoreError.backend("UID space of an INBOX exhausted"))
        }
        var out: [[Int64]] = []
        out.reserveCapacity(rows.deliveriesPerMessage.count)
        var index = 0
        for count in rows.deliveriesPerMessage {
            out.append(Array(ids[index..<(index + count)]))
            index += count
        }
        return out
    }

    /// The statement, prepared once per connection (postgres-nio keeps it by name).
    struct Statement: PostgresPreparedStatement {
        static let name = "petrel_batch_insert_v3"
        static let sql = """
            WITH m AS MATERIALIZED (
                SELECT nextval(pg_get_serial_sequence('messages', 'id')) AS id, t.*
                FROM unnest($1::text[], $2::text[], $3::float8[], $4::int8[], $5::text[], $6::text[], $7::bool[], $8::bool[],
                            $24::int8[])
                     WITH ORDINALITY AS t(queue_id, sender, received_at, size, envid, ret, eight_bit_mime, smtputf8, body_form, ord)
            ),
            ins_m AS (
                INSERT INTO messages (id, queue_id, sender, received_at, size, envid, ret, eight_bit_mime, smtputf8, body_form)
                OVERRIDING SYSTEM VALUE
                SELECT id, queue_id, sender, received_at, size, envid, ret, eight_bit_mime, smtputf8, body_form FROM m ORDER BY ord
                RETURNING 1
            ),
            ins_p AS (
                INSERT INTO message_parts (message_id, start, data)
                SELECT m.id, p.start, p.data FROM unnest($9::int8[], $10::int8[], $11::bytea[]) AS p(ord, start, data)
                JOIN m ON m.ord = p.ord
                RETURNING 1
            ),
            d0 AS MATERIALIZED (
                SELECT nextval(pg_get_serial_sequence('deliveries', 'id')) AS id, t.*
                FROM unnest($12::int8[], $13::int8[], $14::int8[]) WITH ORDINALITY AS t(msg, mailbox, folder, ord)
            ),
            d AS (
                SELECT d0.*, row_number() OVER (PARTITION BY d0.folder ORDER BY d0.ord) AS k FROM d0
            ),
            f AS (
                UPDATE imap_folders SET uid_next = uid_next + c.n, highest_modseq = highest_modseq + c.n
                FROM (SELECT folder, count(*) AS n FROM d0 GROUP BY folder) AS c
                WHERE imap_folders.id = c.folder
                RETURNING imap_folders.id, imap_folders.uid_next - c.n AS first_uid,
                          imap_folders.highest_modseq - c.n AS base_modseq, imap_folders.uid_next - 1 AS last_uid
            ),
            ins_d AS (
                INSERT INTO deliveries (id, mailbox_id, message_id, created_at, folder_id, uid, modseq, flags, internal_date, internal_zone,
                                        size)
                OVERRIDING SYSTEM VALUE
                SELECT d.id, d.mailbox, m.id, $15::float8, d.folder, f.first_uid + d.k - 1, f.base_modseq + d.k, ' ',
                       floor(m.received_at)::bigint, 0, m.size
                FROM d JOIN m ON m.ord = d.msg JOIN f ON f.id = d.folder ORDER BY d.ord
                RETURNING 1
            ),
            ins_q AS (
                INSERT INTO queue (message_id, recipient, domain, notify, orcpt, state, attempts, arrived_at,
                                   next_attempt, last_attempt, last_error, delay_notified)
                SELECT m.id, q.recipient, q.domain, q.notify, q.orcpt, 'active', 0, m.received_at, m.received_at, NULL, NULL, false
                FROM unnest($16::int8[], $17::text[], $18::text[], $19::text[], $20::text[]) WITH ORDINALITY
                     AS q(msg, recipient, domain, notify, orcpt, ord)
                JOIN m ON m.ord = q.msg ORDER BY q.ord
                RETURNING 1
            )
            SELECT COALESCE((SELECT array_agg(id ORDER BY ord) FROM d0), '{}'::bigint[]),
                   (SELECT count(*) FROM ins_d), (SELECT count(*) FROM ins_q),
                   COALESCE((SELECT max(last_uid) FROM f), 0),
                   (SELECT count(*) FROM ins_m) + (SELECT count(*) FROM ins_p)
                       + (SELECT count(pg_notify($22::text, p)) FROM unnest($23::text[]) AS p)
                       + (SELECT count(pg_notify($21::text, '')) WHERE cardinality($16::int8[]) > 0)
            """
        typealias Row = ([Int64], Int64, Int64, Int64)

        var rows: Rows
        var createdAt: Double
        var queueChannel: String
        var imapChannel: String
        var imapPayloads: [String]

        func makeBindings() throws -> PostgresBindings {
            var b = PostgresBindings(capacity: 24)
            b.append(rows.queueIDs)
            b.append(rows.senders)
            b.append(rows.receivedAt)
            b.append(rows.sizes)
            b.append(NullableTextArray(rows.envelopeIDs))
            b.append(NullableTextArray(rows.returns))
            b.append(rows.eightBitMIME)
            b.append(rows.smtpUTF8)
            b.append(rows.partMessage)
            b.append(rows.partStart)
            b.append(rows.partData)
            b.append(rows.deliveryMessage)
            b.append(rows.deliveryMailbox)
            b.append(rows.deliveryFolder)
            b.append(createdAt)
            b.append(rows.queueMessage)
            b.append(rows.queueRecipient)
            b.append(rows.queueDomain)
            b.append(NullableTextArray(rows.queueNotify))
            b.append(NullableTextArray(rows.queueOriginal))
            b.append(queueChannel)
            b.append(imapChannel)
            b.append(imapPayloads)
            b.append(rows.bodyForms)
            return b
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            let (ids, deliveries, queued, lastUID, _) = try row.decode(([Int64], Int64, Int64, Int64, Int64).self)
            return (ids, deliveries, queued, lastUID)
        }
    }
}

/// A `text[]` parameter whose elements may be NULL (postgres-nio's arrays take no optional elements):
/// PostgreSQL's binary array format, as postgres-nio writes its own arrays, with the null flag and -1 lengths.
struct NullableTextArray: PostgresNonThrowingEncodable {
    var values: [String?]

    init(_ values: [String?]) { self.values = values }

    static var psqlType: PostgresDataType { .textArray }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        buffer.writeInteger(values.isEmpty ? 0 : 1, as: UInt32.self) // dimensions
        buffer.writeInteger(values.contains(nil) ? 1 : 0, as: Int32.self) // has NULLs
        buffer.writeInteger(PostgresDataType.text.rawValue) // element type
        guard !values.isEmpty else { return }
        buffer.writeInteger(Int32(values.count)) // length
        buffer.writeInteger(1, as: Int32.self) // lower bound
        for value in values {
            if let value {
                buffer.writeInteger(Int32(value.utf8.count))
                buffer.writeString(value)
            } else {
                buffer.writeInteger(-1, as: Int32.self)
            }
        }
    }
}
