import Foundation
import Logging
import MailServerNIO
import MailTestSupport
import NIOSSL
import Testing

@Suite struct TLSTests {
    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "petrel-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func selfSignedCertificateLoadsAndNamesTheHost() throws {
        let pair = try SelfSignedCertificate.generate(hostname: "mx.example.test")
        #expect(pair.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
        #expect(pair.privateKeyPEM.contains("PRIVATE KEY"))
        let certs = try NIOSSLCertificate.fromPEMBytes(Array(pair.certificatePEM.utf8))
        #expect(certs.count == 1)
        let fingerprint = try #require(SelfSignedCertificate.fingerprint(ofPEM: pair.certificatePEM))
        #expect(fingerprint.split(separator: ":").count == 32)
        let expiry = try #require(SelfSignedCertificate.notValidAfter(ofPEM: pair.certificatePEM))
        #expect(expiry > Date().addingTimeInterval(300 * 86400))
    }

    @Test func ensureCertificateGeneratesOnceAndKeepsTheKeyPrivate() throws {
        let dir = try tempDir() + "/tls"
        let logger = Logger(label: "test")
        let paths = try TLSContextProvider.ensureCertificate(configured: nil, directory: dir, hostname: "mx.example.test", logger: logger)
        let first = try String(contentsOfFile: paths.certificate, encoding: .utf8)
        let attributes = try FileManager.default.attributesOfItem(atPath: paths.privateKey)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        _ = try TLSContextProvider.ensureCertificate(configured: nil, directory: dir, hostname: "mx.example.test", logger: logger)
        #expect(try String(contentsOfFile: paths.certificate, encoding: .utf8) == first)
    }

    /// The 14-day expiry warning reads the injected clock's time: a certificate made now (valid 365 days)
    /// warns when "now" is 355 days later, not before.
    @Test func expiryWarningFollowsTheInjectedNow() throws {
        let dir = try tempDir() + "/tls"
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let logs = CapturedLogs()
        _ = try TLSContextProvider.ensureCertificate(
            configured: nil, directory: dir, hostname: "mx.example.test", logger: logs.logger(), now: start)
        #expect(!logs.all.contains { $0.contains("expires within 14 days") })
        _ = try TLSContextProvider.ensureCertificate(
            configured: nil, directory: dir, hostname: "mx.example.test", logger: logs.logger(), now: start.addingTimeInterval(355 * 86400))
        #expect(logs.entries.contains { $0.level == .warning && $0.message.contains("expires within 14 days") })
    }

    /// TLSInternals reaches into swift-nio-ssl by reflection; this fails if a NIOSSL release renames the field.
    @Test func sessionTicketsCanBeTurnedOff() throws {
        let dir = try tempDir()
        let paths = try TLSContextProvider.ensureCertificate(
            configured: nil, directory: dir, hostname: "mx.example.test",
            logger: Logger(label: "test"))
        let provider = try TLSContextProvider(paths: paths)
        #expect(TLSInternals.disableSessionTickets(provider.context))
        try provider.reload()
    }

    @Test func badCertificateFilesGiveClearErrors() throws {
        let dir = try tempDir()
        #expect(throws: TLSContextProvider.LoadError.self) {
            try TLSContextProvider(paths: .init(certificate: dir + "/missing.pem", privateKey: dir + "/missing-key.pem"))
        }
        let garbage = dir + "/garbage.pem"
        _ = FileManager.default.createFile(atPath: garbage, contents: Data("not a certificate".utf8))
        #expect(throws: TLSContextProvider.LoadError.self) {
            try TLSContextProvider(paths: .init(certificate: garbage, privateKey: garbage))
        }
    }
}
