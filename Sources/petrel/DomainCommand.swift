/// `petrel domain …`: local domains. Adding a domain makes SMTP accept mail for it.
/// Domains are stored under their canonical name (lower case, A-labels, `IDNA.canonicalDomain`): a domain
/// added as `bücher.example` receives mail for `xn--bcher-kva.example` too, and either spelling names it here.
import ArgumentParser
import Foundation
import PetrelServer

struct DomainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "domain",
        abstract: "Manage local domains (mail for them is delivered here).",
        subcommands: [Add.self, List.self, Remove.self, Postmaster.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a local domain.",
            discussion: """
                An internationalised name may be given in either form (bücher.example or
                xn--bcher-kva.example); both spellings then name the same domain.

                Example:
                  petrel domain add example.test
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "Domain name, e.g. example.test.") var domain: String
        @Flag(name: .customLong("no-dkim"), help: "Do not create DKIM keys (petrel dkim generate does it later).")
        var noDKIM = false

        func run() async throws {
            let name = try validDomain(domain)
            _ = try await withAdmin(data) { try await $0.addDomain(name) }
            print("domain \(displayDomain(name)) added")
            if !noDKIM { try addDKIMKeys(name, data: data) } // DKIMCommand.swift
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List local domains.",
            discussion: "Example:\n  petrel domain list")
        @OptionGroup var data: DataOptions

        func run() async throws {
            let (domains, boxes, admin) = try await withAdmin(data) { admin in
                (try await admin.domains(), try await admin.mailboxes(domain: nil), admin)
            }
            if domains.isEmpty { print("no domains (add one with 'petrel domain add DOMAIN')"); return }
            // The account backend of each domain comes from [accounts] in the configuration.
            for d in domains {
                let count = boxes.filter { $0.domain == d.name }.count
                print(
                    "\(displayDomain(d.name))\t\(count) mailbox(es)\tpostmaster: \(d.postmaster ?? "(default)")"
                        + "\taccounts: \(admin.accountBackend(forDomain: d.name))")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a local domain.",
            discussion: """
                Refuses while the domain has mailboxes, unless --force is given, which removes the
                mailboxes and all their messages too. A running server stops taking mail for the domain
                within [store] recipient_cache (2 s).

                Examples:
                  petrel domain remove example.test
                  petrel domain remove example.test --force
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "Domain name.") var domain: String
        @Flag(help: "Also remove the domain's mailboxes and their messages.") var force = false

        func run() async throws {
            let name = try validDomain(domain)
            try await withAdmin(data) { try await $0.removeDomain(name, force: force) }
            print("domain \(displayDomain(name)) removed")
        }
    }

    struct Postmaster: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Choose the mailbox that receives postmaster@DOMAIN.",
            discussion: """
                postmaster@ every local domain is always accepted (RFC 5321 §4.5.1). It goes to a real
                postmaster@DOMAIN mailbox if there is one, else to the mailbox chosen here, else to the
                first admin mailbox, else to a postmaster@DOMAIN mailbox created on first use.

                Examples:
                  petrel domain postmaster example.test alice@example.test
                  petrel domain postmaster example.test --clear
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "Local domain.") var domain: String
        @Argument(help: "Mailbox that receives the domain's postmaster mail.") var mailbox: String?
        @Flag(help: "Return to the default choice.") var clear = false

        func validate() throws {
            if clear == (mailbox != nil) { throw ValidationError("give either a MAILBOX or --clear") }
        }

        func run() async throws {
            let name = try validDomain(domain)
            let address = try mailbox.map(validAddress)
            try await withAdmin(data) { try await $0.setPostmaster(domain: name, mailbox: address) }
            print(address.map(\.lookupKey).map { "postmaster@\(name) now goes to \($0)" } ?? "postmaster@\(name) uses the default")
        }
    }
}

/// The canonical name (lower case, A-labels) of an administrator-given domain, or a clear error.
func validDomain(_ text: String) throws -> String {
    guard let name = MailboxSyntax.normalizeDomain(text) else {
        throw ValidationError("'\(text)' is not a valid domain name (letters, digits and hyphens in dot-separated labels, no trailing dot)")
    }
    switch IDNA.canonicalDomain(name) {
    case .success(let key): return key
    case .failure(let error): throw ValidationError("'\(text)' is not a valid internationalised domain name: \(error)")
    }
}

/// A parsed mailbox address whose domain has a canonical (A-label) form, or a clear error.
func validAddress(_ text: String) throws -> EmailAddress {
    guard let address = EmailAddress(text), !address.isAddressLiteral else {
        throw ValidationError("'\(text)' is not a valid mailbox address (expected local@domain)")
    }
    if case .failure(let error) = IDNA.canonicalDomain(address.domain) {
        throw ValidationError("'\(text)' is not a valid mailbox address: \(error)")
    }
    return address
}

/// A canonical domain name for people: `xn--bcher-kva.example (bücher.example)`, or just the name.
func displayDomain(_ name: String) -> String {
    let unicode = IDNA.toUnicode(name)
    return unicode == name ? name : "\(name) (\(unicode))"
}
