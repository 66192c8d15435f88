/// Settings of the outbound SMTP client: the EHLO name, STARTTLS policy and certificate checking
/// (RFC 3207; RFC 7672 §1.3: MX hosts cannot be authenticated without DANE or MTA-STS, so opportunistic
/// TLS does not verify), AUTH credentials (RFC 4954), and the timeouts of RFC 5321 §4.5.3.2.
import NIOCore
import NIOSSL
import PetrelTLSSupport
import SMTPCore

public struct SMTPClientConfiguration: Sendable {
    /// RFC 5321 §4.5.3.2 timeouts (the defaults are the RFC's minimums); tests use short ones.
    public struct Timeouts: Sendable, Hashable {
        /// TCP connect (not in the RFC; Postfix uses 30 s).
        public var connect: TimeAmount
        /// The 220 greeting (§4.5.3.2.1: 5 minutes).
        public var greeting: TimeAmount
        /// Replies to EHLO, STARTTLS (and the handshake), AUTH, RSET, MAIL, RCPT (§4.5.3.2.2–3: 5 minutes).
        public var command: TimeAmount
        /// The 354 to DATA (§4.5.3.2.4: 2 minutes).
        public var dataCommand: TimeAmount
        /// Writing one body chunk (§4.5.3.2.5: 3 minutes per block).
        public var bodyChunk: TimeAmount
        /// The reply after the final "." (§4.5.3.2.6: 10 minutes).
        public var finalDot: TimeAmount
        /// The 221 to QUIT (not in the RFC: just long enough to be polite).
        public var quit: TimeAmount

        public init(
            connect: TimeAmount = .seconds(30), greeting: TimeAmount = .minutes(5), command: TimeAmount = .minutes(5),
            dataCommand: TimeAmount = .minutes(2), bodyChunk: TimeAmount = .minutes(3),
            finalDot: TimeAmount = .minutes(10), quit: TimeAmount = .seconds(5)
        ) {
            self.connect = connect
            self.greeting = greeting
            self.command = command
            self.dataCommand = dataCommand
            self.bodyChunk = bodyChunk
            self.finalDot = finalDot
            self.quit = quit
        }

        /// Every timeout set to `amount` (tests).
        public static func uniform(_ amount: TimeAmount) -> Timeouts {
            Timeouts(
                connect: amount, greeting: amount, command: amount, dataCommand: amount, bodyChunk: amount,
                finalDot: amount, quit: amount)
        }
    }

    /// The name sent in EHLO/HELO (this host's FQDN).
    public var heloName: String
    public var tlsPolicy: SMTPClientTLSPolicy
    /// Verify the server certificate (chain to `trustRoots`, name = `expectedServerName` or the
    /// connect call's `serverName`). Only used with `tlsPolicy == .required`: opportunistic TLS never
    /// verifies, because an unverifiable certificate would otherwise make delivery fall back to plaintext.
    public var verifyCertificate: Bool
    /// The name the certificate must carry; nil = the `serverName` given to `connect`.
    public var expectedServerName: String?
    /// Trust anchors for verification; nil = the system's default roots.
    public var trustRoots: NIOSSLTrustRoots?
    public var credentials: SMTPClientCredentials?
    /// Allow AUTH without TLS (only for a smarthost on a trusted network).
    public var allowPlaintextAuth: Bool
    public var timeouts: Timeouts
    /// Longest reply line accepted (octets, CRLF included) and most lines in one reply.
    public var maxReplyLineLength: Int
    public var maxReplyLines: Int
    /// Transcript lines kept per connection.
    public var transcriptLimit: Int
    /// Octets read from the store per body chunk.
    public var bodyChunkSize: Int

    public init(
        heloName: String, tlsPolicy: SMTPClientTLSPolicy = .opportunistic, verifyCertificate: Bool = false,
        expectedServerName: String? = nil, trustRoots: NIOSSLTrustRoots? = nil,
        credentials: SMTPClientCredentials? = nil, allowPlaintextAuth: Bool = false,
        timeouts: Timeouts = Timeouts(), maxReplyLineLength: Int = SMTPReplyParser.defaultMaxLineLength,
        maxReplyLines: Int = SMTPReplyParser.defaultMaxLines, transcriptLimit: Int = 50,
        bodyChunkSize: Int = 64 * 1024
    ) {
        self.heloName = heloName
        self.tlsPolicy = tlsPolicy
        self.verifyCertificate = verifyCertificate
        self.expectedServerName = expectedServerName
        self.trustRoots = trustRoots
        self.credentials = credentials
        self.allowPlaintextAuth = allowPlaintextAuth
        self.timeouts = timeouts
        self.maxReplyLineLength = maxReplyLineLength
        self.maxReplyLines = maxReplyLines
        self.transcriptLimit = transcriptLimit
        self.bodyChunkSize = bodyChunkSize
    }

    /// The configuration of the pure session.
    var sessionConfiguration: SMTPClientSessionConfiguration {
        SMTPClientSessionConfiguration(
            heloName: heloName, tlsPolicy: tlsPolicy, credentials: credentials,
            allowPlaintextAuth: allowPlaintextAuth, transcriptLimit: transcriptLimit)
    }

    /// The TLS client context for this policy (nil for `.none`). TLS 1.2 minimum (RFC 8996) and, in
    /// TLS 1.2, only the AEAD ECDHE suites the server side offers too (`TLSCipherPolicy`).
    func makeTLSContext() throws -> NIOSSLContext? {
        guard tlsPolicy != .none else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        TLSCipherPolicy.apply(to: &tls)
        if tlsPolicy == .required, verifyCertificate {
            tls.certificateVerification = .fullVerification
            tls.trustRoots = trustRoots ?? .default
        } else {
            tls.certificateVerification = .none
        }
        return try NIOSSLContext(configuration: tls)
    }
}
