/// Holds the server's current TLS context and swaps it on reload (SIGHUP): connections that are open keep
/// the context they started with; new handshakes use the new one, so nothing is dropped.
///
/// Policy (RFC 8314 §4.1, RFC 8996): TLS 1.2 minimum with only AEAD ECDHE suites in TLS 1.2 (Mozilla
/// "intermediate", `TLSCipherPolicy`), the server's cipher order wins, no client certificates, session
/// tickets off.
import Foundation
import Logging
import MailCore
import NIOCore
import NIOSSL
import PetrelTLSSupport
import Synchronization

public final class TLSContextProvider: Sendable {
    public struct Paths: Sendable, Equatable {
        public var certificate: String
        public var privateKey: String
        public init(certificate: String, privateKey: String) {
            self.certificate = certificate
            self.privateKey = privateKey
        }
    }

    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    private let current: Mutex<NIOSSLContext>
    public let paths: Paths

    public init(paths: Paths) throws {
        self.paths = paths
        self.current = Mutex(try Self.makeContext(paths))
    }

    /// The context new connections should use.
    public var context: NIOSSLContext { current.withLock { $0 } }

    /// A handler for one new server-side TLS connection.
    public func makeServerHandler() -> NIOSSLServerHandler {
        NIOSSLServerHandler(context: context)
    }

    /// Re-reads the certificate and key. On error the old context stays in use and the error is thrown.
    public func reload() throws {
        let fresh = try Self.makeContext(paths)
        current.withLock { $0 = fresh }
    }

    static func makeContext(_ paths: Paths) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(paths.certificate)
        } catch {
            throw LoadError(description: "cannot read the TLS certificate \(paths.certificate): \(error)")
        }
        guard !chain.isEmpty else { throw LoadError(description: "no certificate in \(paths.certificate)") }
        do {
            key = try NIOSSLPrivateKey(file: paths.privateKey, format: .pem)
        } catch {
            throw LoadError(description: "cannot read the TLS private key \(paths.privateKey): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        TLSCipherPolicy.apply(to: &configuration)
        configuration.certificateVerification = .none
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw LoadError(description: "the TLS certificate and key do not work together: \(error)")
        }
        TLSInternals.disableSessionTickets(context)
        TLSInternals.preferServerCiphers(context)
        return context
    }

    /// Makes sure a certificate exists: the configured one, or a self-signed one generated in `directory`
    /// on first start. Returns the paths and logs the certificate's fingerprint and expiry.
    public static func ensureCertificate(
        configured: Paths?, directory: String, hostname: String, logger: Logger, now: Date = WallClock().now
    ) throws -> Paths {
        if let configured {
            logCertificate(configured, logger: logger, generated: false, now: now)
            return configured
        }
        let paths = Paths(certificate: directory + "/cert.pem", privateKey: directory + "/key.pem")
        let fm = FileManager.default
        if !fm.fileExists(atPath: paths.certificate) || !fm.fileExists(atPath: paths.privateKey) {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let pair = try SelfSignedCertificate.generate(hostname: hostname, now: now)
            // The key first, created 0600, so it is never readable by others even for a moment.
            guard fm.createFile(atPath: paths.privateKey, contents: Data(pair.privateKeyPEM.utf8), attributes: [.posixPermissions: 0o600]),
                fm.createFile(atPath: paths.certificate, contents: Data(pair.certificatePEM.utf8), attributes: [.posixPermissions: 0o644])
            else { throw LoadError(description: "cannot write the self-signed certificate to \(directory)") }
            logCertificate(paths, logger: logger, generated: true, now: now)
        } else {
            logCertificate(paths, logger: logger, generated: false, now: now)
        }
        return paths
    }

    static func logCertificate(_ paths: Paths, logger: Logger, generated: Bool, now: Date) {
        guard let pem = try? String(contentsOfFile: paths.certificate, encoding: .utf8) else { return }
        var metadata: Logger.Metadata = ["file": "\(paths.certificate)"]
        if let fp = SelfSignedCertificate.fingerprint(ofPEM: pem) { metadata["sha256"] = "\(fp)" }
        if let expiry = SelfSignedCertificate.notValidAfter(ofPEM: pem) {
            metadata["not_after"] = "\(ISO8601DateFormatter().string(from: expiry))"
            if expiry < now.addingTimeInterval(14 * 86400) { logger.warning("TLS certificate expires within 14 days", metadata: metadata) }
        }
        logger.info(generated ? "generated a self-signed TLS certificate" : "TLS certificate", metadata: metadata)
    }
}
