import Foundation
import MailServerNIO
import Testing

@testable import PetrelConfig
@testable import PetrelServer

// Tests for Doctor.swift and DoctorProbes.swift: every check through fake probes (no DNS server, no
// privileged port is ever touched), certificate facts from a real self-signed certificate, and the real
// bind probe on loopback.
#if canImport(Glibc)
    import Glibc
#endif

@Suite struct DoctorTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func probes(
        writable: Bool = true, free: Int64? = 5 << 30, files: [String: String] = [:],
        bind: DoctorProbes.BindOutcome = .free, running: [String]? = nil,
        dns: [String: [String]] = [:], ptr: [String: String] = [:]
    ) -> DoctorProbes {
        DoctorProbes(
            writable: { _ in writable ? .success(()) : .failure(.init(message: "is not writable by this user")) },
            freeBytes: { _ in free },
            readFile: { files[$0] },
            bind: { _ in bind },
            runningListeners: { _ in running },
            resolve: { dns[$0] ?? [] },
            reverse: { ptr[$0] })
    }

    static func config() -> PetrelConfiguration {
        var c = PetrelConfiguration.developmentDefaults(hostname: "mail.example.test")
        c.server.dataDirectory = "/data"
        return c
    }

    static func certificate(hostname: String, validDays: Int, issued: Date = now) throws -> String {
        try SelfSignedCertificate.generate(hostname: hostname, now: issued, validDays: validDays).certificatePEM
    }

    func results(
        _ probes: DoctorProbes, _ config: PetrelConfiguration = DoctorTests.config(), domains: [String] = [],
        dns: Bool = true
    ) -> [DoctorResult] {
        Doctor(configuration: config, domains: domains, probes: probes, checkDNS: dns, now: Self.now).run()
    }

    @Test func healthyInstallationHasNoFailure() throws {
        let pem = try Self.certificate(hostname: "mail.example.test", validDays: 90)
        let r = results(
            Self.probes(
                files: ["/data/tls/cert.pem": pem], dns: ["mail.example.test": ["192.0.2.7"], "example.test": ["192.0.2.8"]],
                ptr: ["192.0.2.7": "mail.example.test."]), domains: ["example.test"])
        #expect(!r.contains { $0.status == .fail }, "\(r.map(\.line))")
        #expect(r.contains { $0.check == "tls" && ($0.message.contains("valid for 89 more days") || $0.message.contains("valid for 90 more days")) })
        #expect(r.contains { $0.line == "OK    dns: reverse DNS of 192.0.2.7 is mail.example.test" })
        #expect(r.contains { $0.line == "SKIP  dns: MX of example.test not checked (no MX resolver yet)" })
        // smtp, submission ×2, pop3 ×2, imap ×2, admin.
        #expect(r.filter { $0.check == "port" }.count == 8)
        #expect(r.contains { $0.check == "port" && $0.message.contains("imaps 127.0.0.1:2993") })
    }

    @Test func dataDirectoryAndDisk() {
        let r = results(Self.probes(writable: false, free: 100 << 20), dns: false)
        #expect(r.contains { $0.status == .fail && $0.check == "data_dir" })
        #expect(r.contains { $0.status == .warn && $0.check == "disk" && $0.message.contains("less than 1 GiB") })
        #expect(r.contains { $0.status == .warn && $0.check == "badmail" && $0.message.contains("less than 1 GiB") })
        let tiny = results(Self.probes(free: 50 << 20), dns: false)
        #expect(tiny.contains { $0.status == .warn && $0.check == "badmail" && $0.message.contains("less than its cap of 100 MiB") })
        let roomy = results(Self.probes(free: 500 << 30), dns: false)
        #expect(roomy.contains { $0.status == .ok && $0.check == "badmail" && $0.message.contains("/data/badmail") })
    }

    @Test func expiredOrSoonExpiringOrWrongNameCertificate() throws {
        let expired = try Self.certificate(hostname: "mail.example.test", validDays: 10, issued: Self.now.addingTimeInterval(-30 * 86400))
        var r = results(Self.probes(files: ["/data/tls/cert.pem": expired]), dns: false)
        #expect(r.contains { $0.status == .fail && $0.message.contains("expired") })
        let soon = try Self.certificate(hostname: "mail.example.test", validDays: 5)
        r = results(Self.probes(files: ["/data/tls/cert.pem": soon]), dns: false)
        #expect(r.contains { $0.status == .warn && $0.message.contains("expires in") })
        let other = try Self.certificate(hostname: "other.example.test", validDays: 90)
        r = results(Self.probes(files: ["/data/tls/cert.pem": other]), dns: false)
        #expect(r.contains { $0.status == .fail && $0.message.contains("does not cover the hostname mail.example.test") })
    }

    @Test func missingCertificate() {
        var r = results(Self.probes(), dns: false)
        #expect(r.contains { $0.status == .warn && $0.message.contains("self-signed") })
        var c = Self.config()
        c.tls = .init(certificate: "/etc/petrel/cert.pem", privateKey: "/etc/petrel/key.pem")
        r = results(Self.probes(), c, dns: false)
        #expect(r.contains { $0.status == .fail && $0.message == "cannot read the certificate /etc/petrel/cert.pem" })
    }

    @Test func portsInUseByPetrelOrByOthers() {
        var r = results(Self.probes(bind: .inUse, running: ["127.0.0.1:2525"]), dns: false)
        #expect(r.contains { $0.status == .ok && $0.message == "smtp 127.0.0.1:2525 is in use by this petrel (running)" })
        #expect(r.contains { $0.status == .fail && $0.message == "pop3 127.0.0.1:2110 is in use by another program" })
        r = results(Self.probes(bind: .denied), dns: false)
        #expect(r.contains { $0.status == .fail && $0.message.contains("CAP_NET_BIND_SERVICE") })
    }

    @Test func dnsWarnings() {
        let r = results(Self.probes(dns: ["mail.example.test": ["192.0.2.7"]], ptr: ["192.0.2.7": "host.isp.test"]), domains: ["example.test"])
        #expect(r.contains { $0.status == .warn && $0.message.contains("reverse DNS of 192.0.2.7 is host.isp.test") })
        #expect(r.contains { $0.status == .warn && $0.message == "example.test has no A/AAAA record" })
        let skipped = results(Self.probes(), dns: false)
        #expect(skipped.filter { $0.check == "dns" }.map(\.status) == [.skip])
    }

    @Test func wildcardCoverage() {
        let info = CertificateInfo(notValidAfter: Self.now, dnsNames: ["*.example.test", "example.org"])
        #expect(info.covers("mail.example.test"))
        #expect(info.covers("EXAMPLE.ORG"))
        #expect(!info.covers("a.b.example.test"))
        #expect(!info.covers("example.test"))
    }

    @Test func realBindProbeSeesALoopbackListener() throws {
        // Bind an ephemeral loopback port with the probe's own logic, then probe it while held.
        let fd = try AdminClientTestSupport.listen()
        defer { close(fd.0) }
        #expect(probeBind(.init(host: "127.0.0.1", port: fd.1)) == .inUse)
        #expect(probeBind(.init(host: "127.0.0.1", port: 0)) == .free)
    }
}
