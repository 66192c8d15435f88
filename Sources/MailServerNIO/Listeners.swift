/// Binds the SMTP, POP3 and IMAP listeners on SwiftNIO event loops (no thread per connection) and installs a
/// fresh connection handler per accepted socket. Refuses connections over the caps with the protocol's
/// "go away" reply (SMTP 421, POP3 -ERR, IMAP BYE) before closing; SMTP clients refused by connection control get
/// 554 5.7.1 and those over the per-minute rate 421 4.7.0 (RFC 5321 §3.1: a server may refuse at greeting).
import Logging
import MailCore
import NIOCore
import NIOPosix
import SMTPCore

/// Where a listener binds: MailCore's `HostPort` (prints as `host:port`, `[IPv6]:port`).
public typealias ListenAddress = HostPort

public enum MailProtocol: String, Sendable {
    /// Port 25: mail from other servers (STARTTLS offered).
    case smtp
    /// Port 587: submission with STARTTLS, AUTH required (RFC 6409).
    case submission
    /// Port 465: submission over implicit TLS (RFC 8314).
    case submissions
    /// Port 110: POP3 with STLS.
    case pop3
    /// Port 995: POP3 over implicit TLS (RFC 8314).
    case pop3s
    /// Port 143: IMAP with STARTTLS.
    case imap
    /// Port 993: IMAP over implicit TLS (RFC 8314).
    case imaps
}

/// A bound listening socket.
public struct BoundListener: Sendable {
    public var kind: MailProtocol
    public var channel: any Channel
    /// The actual address (useful when port 0 asked the kernel to choose).
    public var localAddress: ListenAddress
    /// Bound from a `plaintext_auth_listen` key: logins without TLS are allowed here for every client
    /// (set by the composition root, for the log and status).
    public var plaintextAuthListener = false

    public var port: Int { localAddress.port }
}

public enum Listeners {
    public static func bindSMTP(
        _ address: ListenAddress, kind: MailProtocol = .smtp, context: SMTPServerContext,
        group: any EventLoopGroup
    ) async throws -> BoundListener {
        let hostname = context.configuration.hostname
        var admission = Admission(
            kind: kind, connections: context.connections, metrics: context.metrics, logger: context.logger,
            tls: context.configuration.implicitTLS ? context.tls : nil,
            refusal: { refusal in
                switch refusal {
                case .denied: return String(decoding: SMTPReply.connectionDenied(hostname: hostname).encoded, as: UTF8.self)
                case .rateLimited: return String(decoding: SMTPReply.connectionRateExceeded(hostname: hostname).encoded, as: UTF8.self)
                default: return "421 4.7.0 \(hostname) Error: \(refusal), try again later\r\n"
                }
            })
        if let access = context.access {
            admission.screen = { ip in access.screen(ip) }
        }
        return try await bind(address, admission: admission, group: group) { client in
            SMTPConnectionHandler(server: context.admitting(client), client: client)
        }
    }

    public static func bindPOP3(
        _ address: ListenAddress, kind: MailProtocol = .pop3, context: POP3ServerContext,
        group: any EventLoopGroup
    ) async throws -> BoundListener {
        let admission = Admission(
            kind: kind, connections: context.connections, metrics: context.metrics, logger: context.logger,
            tls: context.configuration.implicitTLS ? context.tls : nil,
            refusal: { "-ERR [SYS/TEMP] \($0), try again later\r\n" })
        return try await bind(address, admission: admission, group: group) { client in
            POP3ConnectionHandler(server: context.admitting(client), client: client)
        }
    }

    public static func bindIMAP(
        _ address: ListenAddress, kind: MailProtocol = .imap, context: IMAPServerContext,
        group: any EventLoopGroup
    ) async throws -> BoundListener {
        let admission = Admission(
            kind: kind, connections: context.connections, metrics: context.metrics, logger: context.logger,
            tls: context.configuration.implicitTLS ? context.tls : nil,
            refusal: { "* BYE [UNAVAILABLE] \($0), try again later\r\n" })
        return try await bind(address, admission: admission, group: group) { client in
            IMAPConnectionHandler(server: context.admitting(client), client: client)
        }
    }

    /// What every listener does with a new socket before its protocol handler runs: the connection caps
    /// (with the protocol's refusal line), metrics, and the TLS handler first on implicit-TLS ports.
    struct Admission: Sendable {
        var kind: MailProtocol
        var connections: ConnectionTracker
        var metrics: ServerMetrics
        var logger: Logger
        /// Set on implicit-TLS listeners only.
        var tls: TLSContextProvider?
        var refusal: @Sendable (ConnectionTracker.Refusal) -> String
        /// Connection control and rate (SMTP only), checked before the caps.
        var screen: (@Sendable (IPAddress?) -> ConnectionTracker.Refusal?)?
    }

    private static func bind<Handler: ChannelHandler>(
        _ address: ListenAddress, admission: Admission, group: any EventLoopGroup,
        makeHandler: @escaping @Sendable (ClientInfo) -> Handler
    ) async throws -> BoundListener {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let client = clientInfo(channel)
                let kind = admission.kind
                if let refusal = admission.screen?(client.ip) ?? admission.connections.open(channel, ip: client.ip) {
                    admission.metrics.connectionRejected(kind, reason: refusal)
                    admission.logger.notice(
                        "\(kind.rawValue) connection refused",
                        metadata: ["client": "\(client.ip.map { "\($0)" } ?? "?")", "reason": "\(refusal)"])
                    // No plain-text line on implicit-TLS ports, where the client expects a handshake.
                    return refuse(channel, text: admission.tls == nil ? admission.refusal(refusal) : nil)
                }
                admission.metrics.connectionOpened(kind)
                channel.closeFuture.whenComplete { _ in
                    admission.connections.close(channel, ip: client.ip)
                    admission.metrics.connectionClosed(kind)
                }
                return channel.eventLoop.makeCompletedFuture {
                    if let tls = admission.tls {
                        try channel.pipeline.syncOperations.addHandler(tls.makeServerHandler())
                    }
                    try channel.pipeline.syncOperations.addHandler(makeHandler(client))
                }
            }
        return try await bind(bootstrap, address, kind: admission.kind)
    }

    private static func bind(_ bootstrap: ServerBootstrap, _ address: ListenAddress, kind: MailProtocol) async throws -> BoundListener {
        let channel = try await bootstrap.bind(host: address.host, port: address.port).get()
        let port = channel.localAddress?.port ?? address.port
        return BoundListener(kind: kind, channel: channel, localAddress: ListenAddress(host: address.host, port: port))
    }

    /// Says why (in plain text; not on implicit-TLS ports, where the client expects a handshake) and closes.
    private static func refuse(_ channel: any Channel, text: String?) -> EventLoopFuture<Void> {
        guard let text else {
            channel.close(promise: nil)
            return channel.eventLoop.makeSucceededVoidFuture()
        }
        var buf = channel.allocator.buffer(capacity: text.utf8.count)
        buf.writeString(text)
        channel.writeAndFlush(buf).whenComplete { _ in channel.close(promise: nil) }
        return channel.eventLoop.makeSucceededVoidFuture()
    }

    static func clientInfo(_ channel: any Channel) -> ClientInfo {
        guard let remote = channel.remoteAddress else { return ClientInfo(ip: nil) }
        let ip = remote.ipAddress.flatMap { IPAddress($0) }
        return ClientInfo(ip: ip, port: remote.port ?? 0)
    }
}
