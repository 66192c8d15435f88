/// `petrel badmail …`: the Badmail directory, where undeliverable reports that could not be sent to
/// anyone are kept (see docs/BADMAIL.md). Works on the files directly, also while the server runs
/// (writers and purges share a lock on the directory).
import ArgumentParser
import Foundation
import PetrelServer

struct BadmailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "badmail",
        abstract: "List, show and purge undeliverable reports kept in the Badmail directory.",
        discussion: """
            The directory is [delivery] badmail_dir (default <data_dir>/badmail), capped at \
            [delivery] badmail_max_size octets (oldest entries are removed first).
            """,
        subcommands: [List.self, Show.self, Purge.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List entries, newest first.",
            discussion: """
                One line per entry: name, stored (UTC), size, queue id, first line of the reason.

                Example:
                  petrel badmail list --config /etc/petrel/petrel.toml
                """)
        @OptionGroup var data: DataOptions

        func run() async throws {
            let directory = try badmailDirectory(data)
            let entries = try badmail { try directory.list() }
            if entries.isEmpty {
                print("no badmail entries in \(directory.path)")
                return
            }
            for entry in entries {
                print("\(entry.name)\t\(RFC5322Date.format(entry.date))\t\(entry.size)\t\(entry.queueID)\t\(entry.reason)")
            }
            let total = entries.reduce(Int64(0)) { $0 + $1.size }
            print("\(entries.count) entr\(entries.count == 1 ? "y" : "ies"), \(total) of \(directory.maxBytes) octets in \(directory.path)")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show why an entry is there, or print its report message.",
            discussion: """
                NAME is as 'petrel badmail list' prints it (with or without .eml / .txt). \
                Without --message, prints the description (reason, sender, recipients, dates) and the \
                path of the report message; with --message, prints the report message itself (RFC 5322, \
                with the original message or its headers inside).

                Examples:
                  petrel badmail show 20261129T080102.123456Z-0R2X8K4M9T3ABCDE
                  petrel badmail show 20261129T080102.123456Z-0R2X8K4M9T3ABCDE --message > report.eml
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "Entry name, e.g. 20261129T080102.123456Z-0R2X8K4M9T3ABCDE.") var name: String
        @Flag(help: "Print the report message (.eml) instead of the description.") var message = false

        func run() async throws {
            let directory = try badmailDirectory(data)
            let record = try badmail { try directory.read(name) }
            if !message {
                print(record.info, terminator: record.info.hasSuffix("\n") ? "" : "\n")
                if let path = record.messagePath {
                    print("Report message: \(path) (\(record.messageSize) octets; print it with --message)")
                } else {
                    print("Report message: missing")
                }
                return
            }
            guard record.messagePath != nil else { throw CLIError(message: "entry \(record.entry.name) has no report message") }
            var offset: Int64 = 0
            while true {
                let chunk = try badmail { try directory.readMessage(record.entry.name, offset: offset, maxLength: 64 * 1024) }
                if chunk.isEmpty { break }
                FileHandle.standardOutput.write(Data(chunk))
                offset += Int64(chunk.count)
            }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove entries: all of them, or those older than a duration.",
            discussion: """
                Durations: 30s, 15m, 4h, 7d, 2w, or a number of seconds.

                Examples:
                  petrel badmail purge --older-than 7d
                  petrel badmail purge --all
                """)
        @OptionGroup var data: DataOptions
        @Flag(help: "Remove every entry.") var all = false
        @Option(name: .customLong("older-than"), help: "Remove entries stored longer ago than this, e.g. 7d or 2w (s, m, h, d, w).")
        var olderThan: String?

        func validate() throws {
            if all == (olderThan != nil) { throw ValidationError("give either --all or --older-than DURATION") }
            if let olderThan {
                do { _ = try DurationText.parse(olderThan) } catch { throw ValidationError("--older-than: \(error)") }
            }
        }

        func run() async throws {
            let directory = try badmailDirectory(data)
            let scope: BadmailDirectory.PurgeScope
            if let olderThan {
                let seconds: Int
                do { seconds = try DurationText.parse(olderThan) } catch { throw ValidationError("--older-than: \(error)") }
                scope = .olderThan(Date().addingTimeInterval(-TimeInterval(seconds)))
            } else {
                scope = .all
            }
            let removed = try badmail { try directory.purge(scope) }
            print("removed \(removed.count) badmail entr\(removed.count == 1 ? "y" : "ies") from \(directory.path)")
        }
    }
}

/// The Badmail directory of the effective configuration.
private func badmailDirectory(_ data: DataOptions) throws -> BadmailDirectory {
    try data.admin().badmail
}

/// Runs a Badmail operation, turning its errors into clean CLI errors.
private func badmail<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as BadmailError {
        throw CLIError(message: error.description)
    }
}
