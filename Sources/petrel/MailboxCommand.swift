/// `petrel mailbox …`: mailboxes, their passwords (stored only as slow salted hashes) and their mail.
import ArgumentParser
import Foundation
import PetrelServer

struct MailboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailbox",
        abstract: "Manage mailboxes (the jobs of the old POP3 admin tool).",
        subcommands: [Add.self, List.self, Remove.self, Passwd.self, Lock.self, Unlock.self, Quota.self, Show.self])

    struct PasswordOptions: ParsableArguments {
        @Flag(name: .customLong("password-stdin"), help: "Read the password from the first line of standard input.")
        var passwordStdin = false
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a mailbox in a local domain.",
            discussion: """
                The password is asked for twice on the terminal, or read from standard input with
                --password-stdin. --no-password creates a mailbox that receives mail but cannot log in
                until 'petrel mailbox passwd' sets one.

                Examples:
                  petrel mailbox add alice@example.test
                  echo 's3cret-pass' | petrel mailbox add bob@example.test --password-stdin
                  petrel mailbox add admin@example.test --admin
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "Mailbox address, e.g. alice@example.test.") var address: String
        @OptionGroup var password: PasswordOptions
        @Flag(name: .customLong("no-password"), help: "Create the mailbox without a password.") var noPassword = false
        @Flag(help: "Make it an admin mailbox (receives postmaster mail of domains without a chosen postmaster).") var admin = false

        func run() async throws {
            let addr = try validAddress(address)
            let secret = noPassword ? nil : try readPassword(stdin: password.passwordStdin)
            let info = try await withAdmin(data) { try await $0.addMailbox(addr, password: secret, isAdmin: admin) }
            print("mailbox \(info.address) added\(admin ? " (admin)" : "")\(secret == nil ? " without a password" : "")")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List mailboxes, with message counts and sizes.",
            discussion: "Examples:\n  petrel mailbox list\n  petrel mailbox list example.test")
        @OptionGroup var data: DataOptions
        @Argument(help: "Only this domain.") var domain: String?

        func run() async throws {
            let d = try domain.map(validDomain)
            let boxes = try await withAdmin(data) { try await $0.mailboxes(domain: d) }
            if boxes.isEmpty { print("no mailboxes"); return }
            for b in boxes {
                var flags: [String] = []
                if b.isLocked { flags.append("locked") }
                if b.isAdmin { flags.append("admin") }
                if b.passwordHash == nil { flags.append("no-password") }
                print("\(b.address)\t\(b.messageCount) message(s)\t\(b.totalSize) bytes\(flags.isEmpty ? "" : "\t" + flags.joined(separator: ","))")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a mailbox and all its messages.",
            discussion: """
                A running server refuses the address at RCPT within [store] recipient_cache
                (2 s); meanwhile mail for it gets 451 at the end of DATA, nothing is stored.

                Example:
                  petrel mailbox remove alice@example.test
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "Mailbox address.") var address: String

        func run() async throws {
            let addr = try validAddress(address)
            try await withAdmin(data) { try await $0.removeMailbox(addr) }
            print("mailbox \(addr.lookupKey) removed")
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a mailbox's password.",
            discussion:
                "Examples:\n  petrel mailbox passwd alice@example.test\n  echo 'n3w-pass' | petrel mailbox passwd alice@example.test --password-stdin"
        )
        @OptionGroup var data: DataOptions
        @Argument(help: "Mailbox address.") var address: String
        @OptionGroup var password: PasswordOptions

        func run() async throws {
            let addr = try validAddress(address)
            let secret = try readPassword(stdin: password.passwordStdin)
            // The hash and a new SCRAM-SHA-256 verifier (the old one is dropped).
            try await withAdmin(data) { try await $0.setPassword(secret, for: addr) }
            print("password of \(addr.lookupKey) changed")
        }
    }

    struct Lock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Lock a mailbox: it keeps receiving mail but refuses logins.",
            discussion: "Example:\n  petrel mailbox lock alice@example.test")
        @OptionGroup var data: DataOptions
        @Argument(help: "Mailbox address.") var address: String

        func run() async throws {
            let addr = try validAddress(address)
            try await withAdmin(data) { try await $0.setLocked(true, for: addr) }
            print("mailbox \(addr.lookupKey) locked")
        }
    }

    struct Unlock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unlock a mailbox.",
            discussion: "Example:\n  petrel mailbox unlock alice@example.test")
        @OptionGroup var data: DataOptions
        @Argument(help: "Mailbox address.") var address: String

        func run() async throws {
            let addr = try validAddress(address)
            try await withAdmin(data) { try await $0.setLocked(false, for: addr) }
            print("mailbox \(addr.lookupKey) unlocked")
        }
    }

    struct Quota: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a mailbox's quota: the most bytes (and messages) its folders may hold together.",
            discussion: """
                SIZE is a number of bytes, or with a unit K, M, G or T (powers of 1024): 500M, 2G; 'none'
                removes the limit. --messages N limits the number of messages too ('none' or leaving it
                out: no message limit). Each call sets both limits.

                The usage counts every message in every IMAP folder of the mailbox. A mailbox over its
                quota refuses new mail at SMTP RCPT with 452 4.2.2 (temporary: the sender retries) and
                IMAP APPEND/COPY with NO [OVERQUOTA]; nothing already stored is removed. IMAP clients see
                the quota with GETQUOTAROOT (RFC 9208); 'petrel mailbox show' prints it. A running server
                applies a new quota at RCPT within [store] recipient_cache (2 s).

                Examples:
                  petrel mailbox quota alice@example.test 500M
                  petrel mailbox quota alice@example.test 2G --messages 100000
                  petrel mailbox quota alice@example.test none
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "Mailbox address.") var address: String
        @Argument(help: "Storage limit: bytes, or with K, M, G or T (500M, 2G); 'none' for no limit.") var size: String
        @Option(help: "Message limit: a number, or 'none' (the default).") var messages: String?

        func run() async throws {
            let addr = try validAddress(address)
            let quota = MailboxQuota(storageLimit: try Self.storage(size), messageLimit: try Self.messageCount(messages))
            try await withAdmin(data) { try await $0.setQuota(quota, for: addr) }
            print("quota of \(addr.lookupKey): \(quotaDescription(quota))")
        }

        static func storage(_ text: String) throws -> Int64? {
            if text.lowercased() == "none" { return nil }
            do {
                return try SizeText.parse(text)
            } catch {
                throw CLIError(message: error.description)
            }
        }

        static func messageCount(_ text: String?) throws -> Int64? {
            guard let text, text.lowercased() != "none" else { return nil }
            guard text.count <= 18, text.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int64(text) else {
                throw CLIError(message: "'\(text)' is not a number of messages")
            }
            return n
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a mailbox's INBOX messages and its folders, or print a message with --message.",
            discussion: """
                The messages listed are INBOX's (what POP3 sees). The ID column is the message's delivery id
                (the POP3 UIDL is INBOX's UIDVALIDITY and the UID, in hex). The folder table that follows has
                each IMAP folder's message count, unseen count, size in bytes and special use. The quota line shows the limits set with
                'petrel mailbox quota' (the usage is the all-folders count and size above).

                Examples:
                  petrel mailbox show alice@example.test
                  petrel mailbox show alice@example.test --message 42
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "Mailbox address.") var address: String
        @Option(help: "Print the stored message with this ID (raw, as POP3 would return it).") var message: Int64?

        func run() async throws {
            let addr = try validAddress(address)
            try await withAdmin(data) { admin in
                let box = try await admin.mailbox(addr)
                if let message {
                    var offset: Int64 = 0
                    while true {
                        let chunk = try await admin.readMessage(in: box, deliveryID: message, offset: offset, maxLength: 64 * 1024)
                        if chunk.isEmpty { break }
                        FileHandle.standardOutput.write(Data(chunk))
                        offset += Int64(chunk.count)
                    }
                    return
                }
                let messages = try await admin.messages(in: box)
                print("\(box.address): \(messages.count) message(s) in INBOX; \(box.messageCount) message(s), \(box.totalSize) bytes in all folders")
                print("quota: \(quotaDescription(box.quota))")
                if !messages.isEmpty {
                    print("ID\tQUEUE-ID\tRECEIVED\tSIZE\tFROM")
                    let formatter = ISO8601DateFormatter()
                    for m in messages {
                        print("\(m.deliveryID)\t\(m.queueID)\t\(formatter.string(from: m.receivedAt))\t\(m.size)\t\(m.sender)")
                    }
                }
                let folders = try await admin.folders(in: box)
                if !folders.isEmpty {
                    print("")
                    print("FOLDER\tMESSAGES\tUNSEEN\tSIZE\tSPECIAL-USE")
                    for f in folders {
                        print("\(f.name)\t\(f.messages)\t\(f.unseen)\t\(f.size)\t\(f.specialUse.joined(separator: " "))")
                    }
                }
            }
        }
    }
}

/// `none`, or `500M storage, 1000 messages` (each limit that is set).
func quotaDescription(_ quota: MailboxQuota) -> String {
    var parts: [String] = []
    if let storage = quota.storageLimit { parts.append("\(SizeText.format(storage)) storage (\(storage) bytes)") }
    if let messages = quota.messageLimit { parts.append("\(messages) messages") }
    return parts.isEmpty ? "none" : parts.joined(separator: ", ")
}

/// Reads a password from stdin (first line) or, on a terminal, twice without echo.
func readPassword(stdin: Bool) throws -> String {
    let password: String
    if stdin {
        guard let line = readLine(strippingNewline: true) else { throw CLIError(message: "no password on standard input") }
        password = line.hasSuffix("\r") ? String(line.dropLast()) : line
    } else {
        guard isatty(STDIN_FILENO) != 0 else {
            throw CLIError(message: "standard input is not a terminal; use --password-stdin to pipe a password")
        }
        guard let first = getpass("Password: ").map({ String(cString: $0) }) else { throw CLIError(message: "could not read the password") }
        guard let second = getpass("Again: ").map({ String(cString: $0) }) else { throw CLIError(message: "could not read the password") }
        guard first == second else { throw CLIError(message: "the passwords differ") }
        password = first
    }
    guard !password.isEmpty else { throw CLIError(message: "the password is empty") }
    guard password.count >= 8 else { throw CLIError(message: "the password is too short (at least 8 characters)") }
    return password
}
