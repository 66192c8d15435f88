/// `petrel doctor`: checks an installation and prints one OK/WARN/FAIL line per check; exit status 1 when
/// any check fails. The checks themselves are in PetrelServer/Doctor.
import ArgumentParser
import Foundation
import PetrelServer

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the installation: configuration, data directory, disk, TLS certificate, ports, DNS.",
        discussion: """
            Checks: the configuration is valid; the data directory is writable and has at least 1 GiB free;
            the TLS certificate is readable, not expired (days left) and covers server.hostname; every
            listen address can be bound or is in use by this petrel (asked on the admin endpoint); the
            hostname and each local domain resolve (A/AAAA through the system resolver) and the hostname's
            addresses have reverse DNS. MX records are not checked yet (no MX resolver). --no-dns skips the
            DNS checks (for machines without a resolver). Exit status 1 when any line says FAIL.

            Examples:
              petrel doctor --config /etc/petrel/petrel.toml
              petrel doctor --config ./petrel.toml --no-dns
            """)

    @OptionGroup var data: DataOptions
    @Flag(name: .customLong("no-dns"), help: "Skip the DNS checks.") var noDNS = false

    func run() async throws {
        let configuration: PetrelConfiguration
        do {
            configuration = try data.loadConfiguration()
            print(DoctorResult(.ok, "config", data.config.map { "\($0) is valid" } ?? "no file given: development defaults").line)
        } catch {
            print(DoctorResult(.fail, "config", "\(error)").line)
            throw ExitCode.failure
        }
        var domains: [String] = []
        var storeResult: DoctorResult?
        // Opening the store would create a missing data directory: only look when it exists.
        if FileManager.default.fileExists(atPath: configuration.server.dataDirectory) {
            let admin = PetrelAdmin(configuration: configuration)
            do {
                try admin.open()
                domains = try await admin.domains().map(\.name)
                await admin.close()
                storeResult =
                    domains.isEmpty
                    ? DoctorResult(.warn, "store", "no local domains (add one with 'petrel domain add')")
                    : DoctorResult(.ok, "store", "local domains: \(domains.joined(separator: ", "))")
            } catch {
                await admin.close()
                let cause = (error as? PetrelAdmin.OpenError)?.underlying ?? error
                storeResult = DoctorResult(.fail, "store", "cannot open the store in \(configuration.server.dataDirectory): \(cause)")
            }
        }
        var results = Doctor(configuration: configuration, domains: domains, checkDNS: !noDNS).run()
        if let storeResult { results.insert(storeResult, at: min(2, results.count)) }
        for r in results { print(r.line) }
        let failed = results.filter { $0.status == .fail }.count
        let warned = results.filter { $0.status == .warn }.count
        print("\(failed) failed, \(warned) warning(s)")
        if failed > 0 { throw ExitCode.failure }
    }
}
