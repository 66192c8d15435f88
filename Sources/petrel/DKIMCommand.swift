/// `petrel dkim …`: DKIM keys per domain (docs/AUTHENTICATION.md), and `sign`/`verify` of a message on
/// standard input (for checking a setup, and for the interop tests with dkimpy).
import ArgumentParser
import Foundation
import PetrelServer

struct DKIMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dkim",
        abstract: "Manage DKIM signing keys (Ed25519 and RSA-2048 per domain).",
        discussion: """
            Keys live in <data_dir>/dkim/<domain>/ (files mode 0600). Rotation:
              petrel dkim rotate example.test     # new keys in state "next"; publish them (petrel dns)
              petrel dkim activate example.test   # sign with them; the old ones become "retired"
              petrel dkim purge example.test      # after the old DNS records are gone (a few days)
            """,
        subcommands: [Generate.self, Rotate.self, Activate.self, Purge.self, List.self, Sign.self, Verify.self])

    static func store(_ data: DataOptions) throws -> DKIMKeyStore {
        try data.admin().dkimKeys
    }

    /// One key-changing subcommand (generate, rotate, activate, purge): the change, then the keys it left.
    static func change(
        _ data: DataOptions, _ domain: String,
        _ body: (DKIMKeyStore, String) throws -> [DKIMKeyStore.Entry]
    ) throws {
        let name = try validDomain(domain)
        let store = try DKIMCommand.store(data)
        do {
            try printEntries(try body(store, name), domain: name, store: store)
        } catch let e as DKIMKeyStore.StoreError { throw CLIError(message: e.description) }
    }

    static func printEntries(_ entries: [DKIMKeyStore.Entry], domain: String, store: DKIMKeyStore) throws {
        for e in entries {
            let record = (try? store.privateKey(domain, e).dnsRecord) ?? "(key unreadable)"
            print("\(e.selector)\t\(e.algorithm)\t\(e.state.rawValue)\t\(e.created)")
            print("\t\(e.selector)._domainkey.\(domain). IN TXT \"\(record)\"")
        }
    }

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a domain's first keys (active at once).",
            discussion: "Example:\n  petrel dkim generate example.test")
        @OptionGroup var data: DataOptions
        @Argument(help: "Domain name.") var domain: String

        func run() async throws {
            try DKIMCommand.change(data, domain) { try $0.generate($1) }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create new keys in state \"next\" (publish them, then run activate).",
            discussion: "Example:\n  petrel dkim rotate example.test")
        @OptionGroup var data: DataOptions
        @Argument(help: "Domain name.") var domain: String

        func run() async throws {
            try DKIMCommand.change(data, domain) { try $0.rotate($1) }
        }
    }

    struct Activate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign with the \"next\" keys from now on; the active ones become \"retired\".",
            discussion: "Example:\n  petrel dkim activate example.test")
        @OptionGroup var data: DataOptions
        @Argument(help: "Domain name.") var domain: String

        func run() async throws {
            try DKIMCommand.change(data, domain) { try $0.activate($1) }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete the retired keys (after their DNS records were removed).",
            discussion: "Example:\n  petrel dkim purge example.test")
        @OptionGroup var data: DataOptions
        @Argument(help: "Domain name.") var domain: String

        func run() async throws {
            try DKIMCommand.change(data, domain) { try $0.purge($1) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a domain's keys: selector, algorithm, state, created, and the DNS record.",
            discussion: "Example:\n  petrel dkim list example.test")
        @OptionGroup var data: DataOptions
        @Argument(help: "Domain name.") var domain: String

        func run() async throws {
            let name = try validDomain(domain)
            let store = try DKIMCommand.store(data)
            let entries: [DKIMKeyStore.Entry]
            do { entries = try store.list(name) } catch let e as DKIMKeyStore.StoreError { throw CLIError(message: e.description) }
            if entries.isEmpty { print("no DKIM keys for \(name) (petrel dkim generate \(name))"); return }
            try DKIMCommand.printEntries(entries, domain: name, store: store)
        }
    }

    static func readStandardInput() -> [UInt8] {
        var bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
        // A message written by hand or by a script may have bare LF line ends: make them CRLF, as SMTP would.
        if !bytes.contains(0x0d) {
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count + bytes.count / 20)
            for b in bytes { if b == 0x0a { out.append(0x0d) }; out.append(b) }
            bytes = out
        }
        return bytes
    }

    struct Sign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a message on standard input with the domain's active keys; print the signed message.",
            discussion: "Example:\n  petrel dkim sign example.test < message.eml")
        @OptionGroup var data: DataOptions
        @Argument(help: "Signing domain (d=).") var domain: String

        func run() async throws {
            let name = try validDomain(domain)
            let store = try DKIMCommand.store(data)
            let keys: [DKIMSigner.Key]
            do { keys = try store.signingKeys(name) } catch { throw CLIError(message: "\(error)") }
            guard !keys.isEmpty else { throw CLIError(message: "no active DKIM keys for \(name)") }
            let message = DKIMCommand.readStandardInput()
            do {
                let fields = try DKIMSigner().sign(.bytes(message), keys: keys, now: Int(Date().timeIntervalSince1970))
                FileHandle.standardOutput.write(Data(fields + message))
            } catch {
                throw CLIError(message: "\(error)")
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify every DKIM signature of a message on standard input (keys from [dns] nameserver).",
            discussion: """
                Prints one line per signature: result, d=, s=, a=, reason. Exit status 1 unless every
                signature passes (and there is at least one).

                Example:
                  petrel dkim verify --config petrel.toml < message.eml
                """)
        @OptionGroup var data: DataOptions

        func run() async throws {
            let configuration = try data.loadConfiguration()
            let message = DKIMCommand.readStandardInput()
            let results = try await PetrelAdmin(configuration: configuration).verifyDKIM(message)
            if results.isEmpty { print("none: no DKIM-Signature") }
            for r in results {
                print(
                    "\(r.status.rawValue) d=\(r.domain) s=\(r.selector) a=\(r.algorithm)\(r.keyBits > 0 ? " bits=\(r.keyBits)" : "")\(r.reason.isEmpty ? "" : " (\(r.reason))")"
                )
            }
            if results.isEmpty || results.contains(where: { $0.status != .pass }) { throw ExitCode.failure }
        }
    }
}

struct DNSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dns",
        abstract: "Print the DNS records a domain should publish; --check compares them with the DNS.",
        discussion: """
            Prints MX, SPF (domain and host name), the server's A/AAAA and PTR (with --ip), DKIM (every
            selector: active, next and retired), DMARC, the mail client SRV records (RFC 6186/8314: the
            configured submission, IMAP and POP3 listeners) and, with [autoconfig] on, the
            autoconfig/autodiscover names, in zone-file form. With --check, asks the [dns] nameserver and
            prints one OK/WARN/FAIL line per record (SRV records are not checked); exit status 1 when any
            FAILs.

            Examples:
              petrel dns example.test --ip 192.0.2.10
              petrel dns example.test --check --config /etc/petrel/petrel.toml
            """)
    @OptionGroup var data: DataOptions
    @Argument(help: "Domain name.") var domain: String
    @Option(name: .customLong("ip"), help: "A public address of this server (repeatable).") var ips: [String] = []
    @Flag(help: "Compare with what the DNS answers.") var check = false

    func run() async throws {
        let configuration = try data.loadConfiguration()
        let name = try validDomain(domain)
        var addresses: [IPAddress] = []
        for text in ips {
            guard let ip = IPAddress(text) else { throw ValidationError("--ip \(text) is not an IP address") }
            addresses.append(ip)
        }
        let store = PetrelAdmin(configuration: configuration).dkimKeys
        var keys: [(entry: DKIMKeyStore.Entry, record: String)] = []
        do {
            for e in try store.list(name) { keys.append((e, try store.privateKey(name, e).dnsRecord)) }
        } catch {
            throw CLIError(message: "\(error)")
        }
        let setup = configuration.autoconfig
        let records = DomainRecords(
            domain: name, hostname: configuration.server.hostname, addresses: addresses, keys: keys,
            services: DomainRecords.ServiceRecord.records(for: configuration),
            autoconfig: setup.enabled
                ? (
                    setup.mailHost ?? configuration.server.hostname,
                    Int(setup.listen.first?.port ?? 443)
                ) : nil)
        if !check {
            print(records.zone(), terminator: "")
            return
        }
        let results = try await PetrelAdmin(configuration: configuration).checkDNS(records)
        for r in results { print(r.line) }
        let failed = results.filter { $0.status == .fail }.count
        let warned = results.filter { $0.status == .warn }.count
        print("\(failed) failed, \(warned) warning(s)")
        if failed > 0 { throw ExitCode.failure }
    }
}

/// `petrel domain add`: the new domain's first DKIM keys, unless it has some already.
func addDKIMKeys(_ domain: String, data: DataOptions) throws {
    let store = try DKIMCommand.store(data)
    do {
        if try store.list(domain).contains(where: { $0.state == .active }) { return }
        let entries = try store.generate(domain)
        print("DKIM keys created (selectors \(entries.map(\.selector).joined(separator: ", "))); publish them: petrel dns \(domain)")
    } catch {
        throw CLIError(message: "domain added, but its DKIM keys could not be created: \(error)")
    }
}
