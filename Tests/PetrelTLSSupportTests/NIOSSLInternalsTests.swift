// Tests for NIOSSLInternals.swift: the reflection into swift-nio-ssl still finds `sslContext` and
// `connection.ssl` (these fail if a NIOSSL release renames them).
import MailCore
import NIOSSL
import Testing

@testable import PetrelTLSSupport

@Suite struct NIOSSLInternalsTests {
    /// A self-signed P-256 certificate for "tls-support.test", valid until 2126 (test only).
    static let keyPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgBXFjjEHrSkU4QyMl
        Dz+EvshoWgdhx8IbYXWGfEjCYnuhRANCAAS31JPPIWPp+imM+blaXBmOcUckwejI
        +BmWJTbVXGe7HrwBSbWzooD3byZ+2UZMhGoQprVONzYshKXM6w59AzPd
        -----END PRIVATE KEY-----
        """
    static let certificatePEM = """
        -----BEGIN CERTIFICATE-----
        MIIBjTCCATOgAwIBAgIUDA0s6FRuSSVTH3P8CEmO8Mwa/QMwCgYIKoZIzj0EAwIw
        GzEZMBcGA1UEAwwQdGxzLXN1cHBvcnQudGVzdDAgFw0yNjExMjkxMDU5MDZaGA8y
        MTI2MTEwNTEwNTkwNlowGzEZMBcGA1UEAwwQdGxzLXN1cHBvcnQudGVzdDBZMBMG
        ByqGSM49AgEGCCqGSM49AwEHA0IABLfUk88hY+n6KYz5uVpcGY5xRyTB6Mj4GZYl
        NtVcZ7sevAFJtbOigPdvJn7ZRkyEahCmtU43NiyEpczrDn0DM92jUzBRMB0GA1Ud
        DgQWBBSjW7xAA9CbDnhzQden2ujr4WUiRTAfBgNVHSMEGDAWgBSjW7xAA9CbDnhz
        Qden2ujr4WUiRTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQCP
        LFZiZWQUUSnj7Ee2vvGZ7/9s7rje1HV71kLBrPC4xgIgOVSFKlygz1u015uvcn3m
        MFotJgORYUhRC5bv6tgVrR8=
        -----END CERTIFICATE-----
        """

    static func serverContext() throws -> NIOSSLContext {
        let certificate = try NIOSSLCertificate(bytes: Array(certificatePEM.utf8), format: .pem)
        let key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(certificate)], privateKey: .privateKey(key))
        return try NIOSSLContext(configuration: configuration)
    }

    @Test func sessionTicketsCanBeTurnedOff() throws {
        #expect(NIOSSLInternals.disableSessionTickets(try Self.serverContext()))
    }

    @Test func serverCipherPreferenceCanBeTurnedOn() throws {
        #expect(NIOSSLInternals.preferServerCiphers(try Self.serverContext()))
    }

    /// The AEAD-only TLS 1.2 list is valid BoringSSL cipher-list syntax for both sides (NIOSSLContext
    /// refuses a list it cannot use), and names no CBC or static-RSA suite.
    @Test func cipherPolicyBuildsServerAndClientContexts() throws {
        let certificate = try NIOSSLCertificate(bytes: Array(Self.certificatePEM.utf8), format: .pem)
        let key = try NIOSSLPrivateKey(bytes: Array(Self.keyPEM.utf8), format: .pem)
        var server = TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(certificate)], privateKey: .privateKey(key))
        TLSCipherPolicy.apply(to: &server)
        _ = try NIOSSLContext(configuration: server)
        var client = TLSConfiguration.makeClientConfiguration()
        TLSCipherPolicy.apply(to: &client)
        _ = try NIOSSLContext(configuration: client)
        #expect(server.minimumTLSVersion == .tlsv12 && client.minimumTLSVersion == .tlsv12)
        let suites = TLSCipherPolicy.tls12CipherSuites.split(separator: ":")
        #expect(suites.count == 6)
        #expect(suites.allSatisfy { $0.hasPrefix("ECDHE-") && ($0.contains("GCM") || $0.contains("CHACHA20-POLY1305")) })
    }

    /// Before a handshake there is no cipher; the cipher over a real handshake is checked by
    /// MailDeliveryTests' SMTPClientConnectionTests (STARTTLS to a scripted server: cipher != "unknown").
    @Test func beforeTheHandshakeNothingIsKnown() throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        let handler = try NIOSSLClientHandler(context: NIOSSLContext(configuration: configuration), serverHostname: nil)
        // (BoringSSL reports a provisional version before the handshake, so only the cipher is checked.)
        #expect(NIOSSLInternals.info(of: handler).cipher == "unknown")
        #expect(NIOSSLInternals.child(handler, "connection") != nil)
    }
}
