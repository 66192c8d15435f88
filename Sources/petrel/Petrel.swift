/// `petrel`: the mail server and its admin tool. Every subcommand acts on the same data directory, also
/// while the server runs (SQLite allows a second process; writes are short transactions).
import ArgumentParser
import PetrelServer

@main
struct Petrel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "petrel",
        abstract: "Petrel mail server: SMTP in, POP3 and IMAP out, and the admin tool for domains and mailboxes.",
        discussion: """
            Quick start (development defaults: data in ./petrel-data; on 127.0.0.1: SMTP 2525, submission 2587
            (STARTTLS) and 2465 (TLS), POP3 2110 (STLS) and 2995 (TLS), IMAP 2143 (STARTTLS) and 2993 (TLS)):
              petrel serve
              petrel domain add example.test
              petrel mailbox add alice@example.test
            """,
        version: PetrelVersion.string,
        subcommands: [
            Serve.self, DomainCommand.self, MailboxCommand.self, QueueCommand.self, BadmailCommand.self, ConfigCommand.self,
            StatusCommand.self,
            InitCommand.self, DoctorCommand.self, RelayCommand.self, AccessCommand.self, DKIMCommand.self, DNSCommand.self
        ])
}

enum PetrelVersion {
    static let string = PetrelBuild.version
}
