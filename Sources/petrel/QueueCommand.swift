/// `petrel queue …`: the outbound queue (mail accepted for non-local recipients, waiting for delivery).
/// list, show, retry, delete, hold, release. Every change is one short transaction on the same data a
/// running server uses: the server's delivery agent sees it at its next poll. Arguments may be queue
/// entry ids (one recipient) or queue ids (every recipient of one message). See docs/QUEUE.md.
import ArgumentParser
import Foundation
import PetrelServer

struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Inspect and manage the outbound queue.",
        discussion: """
            Mail accepted for recipients in other domains waits in the queue, one entry per recipient, until \
            it is delivered or bounced. Commands that take IDs accept entry ids (the number in the ID column \
            of 'petrel queue list') and queue ids (the id given to the sending client, shared by all \
            recipients of one message). Changes apply to a running server at once; its delivery agent \
            acts on them at its next poll. See docs/QUEUE.md.

            Examples:
              petrel queue list
              petrel queue show 0R2X8K4M9T3ABCDE
              petrel queue retry --all
            """,
        subcommands: [List.self, Show.self, Retry.self, Delete.self, Hold.self, Release.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the queue entries.",
            discussion: """
                One line per recipient: entry id, queue id, state (new: not tried yet, deferred: tried and \
                waiting for the next attempt, held: put on hold), attempts, arrival time, next attempt \
                (UTC), the node working on it (its [server] node_id) and until when its lease runs (UTC; \
                "-" when no node has claimed it, a past time means any node may claim it again), size in \
                octets, sender -> recipient, and the last temporary error. Prints \
                "queue is empty" when there is nothing queued. A row the store cannot read is listed as \
                "damaged" with its id and the reason (the other rows are listed as usual).

                Examples:
                  petrel queue list
                  petrel queue list --held
                """)
        @OptionGroup var data: DataOptions
        @Flag(help: "Only held entries.") var held = false

        func run() async throws {
            let all = try await withAdmin(data) { try await $0.queueListing() }
            // A damaged row's state is unknown: it is listed with --held too.
            let rows = all.filter { row in
                guard held, case .entry(let e) = row else { return true }
                return e.state == .held
            }
            if rows.isEmpty { print(held ? "no held entries" : "queue is empty"); return }
            print(QueueFormat.table(rows))
            let damaged = rows.filter { if case .damaged = $0 { return true } else { return false } }.count
            if damaged > 0 {
                FileHandle.standardError.write(Data("warning: \(QueueFormat.entries(damaged)) could not be read (state \"damaged\")\n".utf8))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every field of queue entries.",
            discussion: """
                ID is an entry id (one recipient) or a queue id (every recipient of that message).

                Examples:
                  petrel queue show 17
                  petrel queue show 0R2X8K4M9T3ABCDE
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "Entry id or queue id.") var id: String

        func run() async throws {
            let entries = try await withAdmin(data) { admin in
                try await QueueFormat.resolve([id], in: admin).entries
            }
            print(entries.map(QueueFormat.details).joined(separator: "\n\n"))
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make entries due now (the server tries them at its next poll).",
            discussion: """
                Held entries are not retried: release them with 'petrel queue release'. Entries that \
                are already due keep their place.

                Examples:
                  petrel queue retry 17 18
                  petrel queue retry 0R2X8K4M9T3ABCDE
                  petrel queue retry --all
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "Entry ids or queue ids.") var ids: [String] = []
        @Flag(help: "Retry every active entry.") var all = false

        func validate() throws {
            if all && !ids.isEmpty { throw ValidationError("give IDs or --all, not both") }
            if !all && ids.isEmpty { throw ValidationError("give at least one ID, or --all") }
        }

        func run() async throws {
            let (count, held) = try await withAdmin(data) { admin -> (Int, Int) in
                if all { return (try await admin.retryQueueEntries(nil), 0) }
                let entries = try await QueueFormat.resolve(ids, in: admin).entries
                let held = entries.filter { $0.state == .held }.count
                return (try await admin.retryQueueEntries(entries.map(\.id)), held)
            }
            print("\(QueueFormat.entries(count)) scheduled for immediate retry")
            if held > 0 {
                print("\(QueueFormat.entries(held)) on hold not retried (use 'petrel queue release')")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete entries without delivering them and without any bounce.",
            discussion: """
                Asks no question. The message is removed once no recipient (local or queued) needs it.

                Examples:
                  petrel queue delete 17
                  petrel queue delete 0R2X8K4M9T3ABCDE 0R2X8M1Q7C5FGHJK
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "Entry ids or queue ids.") var ids: [String]

        func run() async throws {
            let count = try await withAdmin(data) { admin in
                let ids = try await QueueFormat.resolve(ids, in: admin).ids
                return try await admin.deleteQueueEntries(ids)
            }
            print("\(QueueFormat.entries(count)) deleted")
        }
    }

    struct Hold: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put entries on hold: the server does not try them until they are released.",
            discussion: """
                Held entries still age: they expire like the others once released.

                Examples:
                  petrel queue hold 17
                  petrel queue hold 0R2X8K4M9T3ABCDE
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "Entry ids or queue ids.") var ids: [String]

        func run() async throws {
            let count = try await withAdmin(data) { admin in
                let ids = try await QueueFormat.resolve(ids, in: admin).ids
                return try await admin.setQueueHeld(true, entryIDs: ids)
            }
            print("\(QueueFormat.entries(count)) held")
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release held entries: they become due at once.",
            discussion: """
                Examples:
                  petrel queue release 17
                  petrel queue release 0R2X8K4M9T3ABCDE
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "Entry ids or queue ids.") var ids: [String]

        func run() async throws {
            let count = try await withAdmin(data) { admin in
                let ids = try await QueueFormat.resolve(ids, in: admin).ids
                return try await admin.setQueueHeld(false, entryIDs: ids)
            }
            print("\(QueueFormat.entries(count)) released")
        }
    }
}

/// Text output of `petrel queue` and the id resolution its subcommands share.
enum QueueFormat {
    /// Expands entry ids and queue ids to entries (in argument order, each once). Every id must match
    /// something, else nothing is changed and the command fails naming the unknown ids.
    static func resolve(_ ids: [String], in admin: PetrelAdmin) async throws -> (entries: [QueueEntry], ids: [Int64]) {
        var entries: [QueueEntry] = []
        var seen = Set<Int64>()
        var unknown: [String] = []
        for id in ids {
            let found = try await admin.queueEntries(matching: id)
            if found.isEmpty { unknown.append(id) }
            for e in found where seen.insert(e.id).inserted { entries.append(e) }
        }
        guard unknown.isEmpty else {
            let list = unknown.map { "'\(printable($0))'" }.joined(separator: ", ")
            throw CLIError(message: "no queue entry or queue id \(list) (see 'petrel queue list')")
        }
        return (entries, entries.map(\.id))
    }

    /// "1 entry", "3 entries".
    static func entries(_ count: Int) -> String { count == 1 ? "1 entry" : "\(count) entries" }

    /// new / deferred / held.
    static func state(_ e: QueueEntry) -> String {
        switch e.state {
        case .held: return "held"
        case .active: return e.attempts == 0 ? "new" : "deferred"
        }
    }

    /// A UTC timestamp, e.g. 2026-03-01T12:00:05Z.
    static func time(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }

    /// Text from the network (remote replies, addresses) made safe for a terminal: control characters
    /// become "?", so a hostile reply cannot send escape sequences.
    static func printable(_ text: String) -> String {
        String(
            String.UnicodeScalarView(
                text.unicodeScalars.map { scalar in
                    (scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value < 0xA0)) ? "?" : scalar
                }))
    }

    static func clipped(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(max(0, limit - 3))) + "..."
    }

    /// The `queue list` table, columns aligned; the last error is cut to 60 characters. OWNER and
    /// LEASE-UNTIL: the node working on the entry and until when (a past time: anyone may claim it).
    /// A damaged row shows its id, "damaged" and the reason in the last column.
    static func table(_ listing: [QueueListing]) -> String {
        let header = [
            "ID", "QUEUE-ID", "STATE", "TRIES", "ARRIVED", "NEXT-ATTEMPT", "OWNER", "LEASE-UNTIL", "SIZE", "SENDER -> RECIPIENT",
            "LAST-ERROR"
        ]
        let rows = listing.map { row -> [String] in
            switch row {
            case .entry(let e):
                return [
                    String(e.id), printable(e.queueID), state(e), String(e.attempts), time(e.arrivedAt),
                    e.state == .held ? "-" : time(e.nextAttempt), e.lease.map { printable($0.owner) } ?? "-",
                    e.lease.map { time($0.until) } ?? "-", String(e.size),
                    printable("\(e.sender) -> <\(e.recipient.address)>"), clipped(printable(e.lastError ?? "-"), 60)
                ]
            case .damaged(let id, let reason):
                return [String(id), "-", "damaged", "-", "-", "-", "-", "-", "-", "-", clipped(printable(reason), 60)]
            }
        }
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var out = ""
            for (i, cell) in cells.enumerated() {
                let isLast = i == cells.count - 1
                let width = i < widths.count ? widths[i] : cell.count
                out += isLast ? cell : cell.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
            }
            return out
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    /// Every field of one entry, one per line (`queue show`).
    static func details(_ e: QueueEntry) -> String {
        let fields: [(String, String)] = [
            ("entry", String(e.id)),
            ("queue id", printable(e.queueID)),
            ("state", state(e)),
            ("sender", printable(e.sender.description)),
            ("recipient", printable(e.recipient.address.description)),
            ("routing domain", printable(e.recipient.domain)),
            ("notify", e.recipient.notify.map(\.description) ?? "\(DSNNotify.default.description) (default)"),
            ("original recipient", e.recipient.originalRecipient.map(printable) ?? "-"),
            ("envelope id", e.envelope.envelopeID.map(printable) ?? "-"),
            ("return", e.envelope.dsnReturn?.rawValue ?? "-"),
            ("8bitmime", e.envelope.eightBitMIME ? "yes" : "no"),
            ("smtputf8", e.envelope.smtpUTF8 ? "yes" : "no"),
            ("size", "\(e.size) octets"),
            ("arrived", time(e.arrivedAt)),
            ("attempts", String(e.attempts)),
            ("last attempt", e.lastAttempt.map(time) ?? "-"),
            ("next attempt", e.state == .held ? "- (held; due at once when released)" : time(e.nextAttempt)),
            ("last error", e.lastError.map(printable) ?? "-"),
            ("lease", e.lease.map { "\(printable($0.owner)) until \(time($0.until))" } ?? "-"),
            ("delay notice sent", e.delayNotified ? "yes" : "no"),
            ("message id", String(e.messageID))
        ]
        let width = fields.map(\.0.count).max() ?? 0
        return fields.map { ($0.0 + ":").padding(toLength: width + 2, withPad: " ", startingAt: 0) + $0.1 }
            .joined(separator: "\n")
    }
}
