/// A small scripted SMTP server on 127.0.0.1:0 for the client tests: configurable extensions, RCPT
/// replies, STARTTLS with a self-signed certificate; records commands and the raw (still dot-stuffed)
/// DATA octets so tests can check the client's wire format byte for byte. (Shared test support: the
/// delivery agent's and the SMTP client's tests use it; the e2e tests use aiosmtpd instead.)
import Crypto
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import SwiftASN1
import Synchronization
import X509

public struct ScriptedServerOptions: Sendable {
    public init() {}

    public var greet = true
    public var greeting = "220 mx.test.example ESMTP scripted"
    public var ehloRejected = false
    public var extensions: [String] = ["PIPELINING", "SIZE 100000000", "8BITMIME", "ENHANCEDSTATUSCODES"]
    /// Reply per recipient address (default "250 2.1.5 Ok").
    public var rcptReplies: [String: String] = [:]
    public var dataReply = "354 End data with <CR><LF>.<CR><LF>"
    /// nil: never answer the final dot.
    public var finalReply: String? = "250 2.0.0 Ok: queued"
    /// Offer STARTTLS with this certificate.
    public var tls: ServerTLS?
    /// The reply to STARTTLS; TLS starts only when it begins with 220.
    public var startTLSReply = "220 2.0.0 Ready to start TLS"
    /// Plaintext lines sent in the same write right after the reply to STARTTLS (an injection the client
    /// must drop when TLS starts, RFC 3207 §4.2).
    public var afterStartTLSReply: [String] = []
}

public struct ServerTLS: Sendable {
    public let certificatePEM: String
    public let keyPEM: String

    /// ECDSA P-256, CN/SAN localhost + 127.0.0.1 (the same idea as MailServerNIO's SelfSignedCertificate).
    /// It is its own CA (BoringSSL only accepts a CA certificate as a trust anchor), so a test can trust it.
    public static func generate() throws -> ServerTLS {
        let key = P256.Signing.PrivateKey()
        let privateKey = Certificate.PrivateKey(key)
        let name = try DistinguishedName { CommonName("localhost") }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames([.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: privateKey.publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: privateKey)
        return ServerTLS(
            certificatePEM: try certificate.serializeAsPEM().pemString,
            keyPEM: try privateKey.serializeAsPEM().pemString)
    }

    public func certificate() throws -> NIOSSLCertificate {
        try NIOSSLCertificate(bytes: Array(certificatePEM.utf8), format: .pem)
    }

    public func makeContext() throws -> NIOSSLContext {
        let key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try certificate())], privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        return try NIOSSLContext(configuration: configuration)
    }
}

/// What the server saw.
public struct ServerRecord: Sendable {
    public var commands: [String] = []
    /// Raw DATA octets per message, as received (dot-stuffed, ending in ".\r\n").
    public var rawBodies: [[UInt8]] = []
    /// The most commands found in one read (pipelining puts several in one).
    public var maxCommandsPerRead = 0
    public var tlsUsed = false
    public var connections = 0
}

/// The record the server and its connections share.
final class RecordBox: Sendable {
    let record = Mutex(ServerRecord())
    func update(_ body: (inout ServerRecord) -> Void) { record.withLock { body(&$0) } }
}

public final class ScriptedSMTPServer: Sendable {
    public let channel: any Channel
    let record: RecordBox

    public var port: Int { channel.localAddress?.port ?? 0 }
    public var address: SocketAddress {
        get throws { try SocketAddress(ipAddress: "127.0.0.1", port: port) }
    }

    private init(channel: any Channel, record: RecordBox) {
        self.channel = channel
        self.record = record
    }

    public static func start(group: any EventLoopGroup, options: ScriptedServerOptions) async throws -> ScriptedSMTPServer {
        let record = RecordBox()
        let tlsContext = try options.tls?.makeContext()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ScriptedSMTPHandler(options: options, record: record, tlsContext: tlsContext))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedSMTPServer(channel: channel, record: record)
    }

    public func stop() async {
        try? await channel.close()
    }

    public var snapshot: ServerRecord { record.record.withLock { $0 } }
}

final class ScriptedSMTPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let options: ScriptedServerOptions
    let record: RecordBox
    let tlsContext: NIOSSLContext?
    var buffer: [UInt8] = []
    var inData = false
    /// STARTTLS done on this connection.
    var tlsActive = false
    var body: [UInt8] = []

    init(options: ScriptedServerOptions, record: RecordBox, tlsContext: NIOSSLContext?) {
        self.options = options
        self.record = record
        self.tlsContext = tlsContext
    }

    func channelActive(context: ChannelHandlerContext) {
        record.update { $0.connections += 1 }
        if options.greet { send(options.greeting, context: context) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        buffer.append(contentsOf: unwrapInboundIn(data).readableBytesView)
        var commandsThisRead = 0
        while let lf = buffer.firstIndex(of: 0x0A) {
            let line = Array(buffer[...lf])
            buffer.removeFirst(lf + 1)
            if inData {
                body.append(contentsOf: line)
                if line == Array(".\r\n".utf8) {
                    inData = false
                    let raw = body
                    body = []
                    record.update { $0.rawBodies.append(raw) }
                    if let reply = options.finalReply { send(reply, context: context) }
                }
                continue
            }
            commandsThisRead += 1
            let text = String(decoding: line.dropLast(line.count >= 2 && line[line.count - 2] == 0x0D ? 2 : 1), as: UTF8.self)
            record.update {
                $0.commands.append(text)
                $0.maxCommandsPerRead = max($0.maxCommandsPerRead, commandsThisRead)
            }
            if handle(text, context: context) == .stop { return }
        }
    }

    enum Next { case go, stop }

    func handle(_ text: String, context: ChannelHandlerContext) -> Next {
        let verb = text.prefix(4).uppercased()
        switch verb {
        case "EHLO":
            if options.ehloRejected { send("502 5.5.2 no EHLO here", context: context); return .go }
            var lines = ["mx.test.example"] + options.extensions
            if tlsContext != nil, !tlsActive { lines.append("STARTTLS") }
            send(
                lines.enumerated().map { "250" + ($0.offset == lines.count - 1 ? " " : "-") + $0.element }
                    .joined(separator: "\r\n"), context: context)
        case "HELO": send("250 mx.test.example", context: context)
        case "STAR":
            guard let tlsContext else { send("502 5.5.1 no", context: context); return .go }
            send(([options.startTLSReply] + options.afterStartTLSReply).joined(separator: "\r\n"), context: context)
            guard options.startTLSReply.hasPrefix("220") else { return .go }
            buffer.removeAll()
            tlsActive = true
            record.update { $0.tlsUsed = true }
            try? context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext), position: .first)
            return .stop
        case "AUTH": send("235 2.7.0 Authentication successful", context: context)
        case "MAIL": send("250 2.1.0 Ok", context: context)
        case "RCPT":
            let address = text.split(separator: "<").dropFirst().first.flatMap { $0.split(separator: ">").first }.map(String.init) ?? ""
            send(options.rcptReplies[address] ?? "250 2.1.5 Ok", context: context)
        case "DATA":
            send(options.dataReply, context: context)
            if options.dataReply.hasPrefix("354") { inData = true }
        case "RSET", "NOOP": send("250 2.0.0 Ok", context: context)
        case "QUIT":
            send("221 2.0.0 Bye", context: context)
            context.close(promise: nil)
            return .stop
        default: send("500 5.5.2 what?", context: context)
        }
        return .go
    }

    func send(_ text: String, context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text + "\r\n")), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
