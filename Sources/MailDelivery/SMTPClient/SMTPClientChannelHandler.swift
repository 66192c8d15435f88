/// The NIO side of one client connection: frames and parses server replies (`SMTPReplyParser`), switches
/// to TLS synchronously when the 220 to STARTTLS arrives (RFC 3207 §4.2: plaintext octets after it are
/// dropped, never read as replies), and passes everything on as `SMTPClientChannelEvent`s in order.
import MailCore
import NIOCore
import NIOSSL
import NIOTLS
import PetrelTLSSupport
import SMTPCore

enum SMTPClientChannelEvent: Sendable {
    case reply(SMTPReply)
    case malformed(SMTPReplyParseError)
    case tlsEstablished(TLSInfo)
    case tlsFailed(String)
    case error(String)
    case closed
    /// A timer of the connection ran out (`generation` tells stale timers apart).
    case timeout(generation: Int)
}

final class SMTPClientChannelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private var parser: SMTPReplyParser
    private let events: AsyncStream<SMTPClientChannelEvent>.Continuation
    private let tlsContext: NIOSSLContext?
    private let serverHostname: String?
    /// STARTTLS was written: the next reply decides whether TLS starts.
    private var startTLSPending = false
    private var tlsStarted = false
    private var tlsDone = false
    private var failed = false

    init(parser: SMTPReplyParser, events: AsyncStream<SMTPClientChannelEvent>.Continuation, tlsContext: NIOSSLContext?,
         serverHostname: String?) {
        self.parser = parser
        self.events = events
        self.tlsContext = tlsContext
        self.serverHostname = serverHostname
    }

    /// Called on the event loop just before "STARTTLS" is written.
    func expectStartTLSReply() { startTLSPending = true }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let buffer = unwrapInboundIn(data)
        parser.feed(buffer.readableBytesView)
        while true {
            let reply: SMTPReply?
            do {
                reply = try parser.next()
            } catch {
                failed = true
                events.yield(.malformed(error))
                context.close(promise: nil)
                return
            }
            guard let reply else { return }
            if startTLSPending {
                startTLSPending = false
                if reply.code == .serviceReady {
                    // Anything after the 220 in this read was sent before the handshake: drop it.
                    parser.reset()
                    events.yield(.reply(reply))
                    startTLS(context: context)
                    return
                }
            }
            events.yield(.reply(reply))
        }
    }

    private func startTLS(context: ChannelHandlerContext) {
        guard let tlsContext else {
            events.yield(.tlsFailed("no TLS context"))
            context.close(promise: nil)
            return
        }
        do {
            // SNI must be a host name, never an address literal (RFC 6066 §3).
            let sni = serverHostname.flatMap { (try? SocketAddress(ipAddress: $0, port: 0)) == nil ? $0 : nil }
            let handler = try NIOSSLClientHandler(context: tlsContext, serverHostname: sni)
            tlsStarted = true
            try context.pipeline.syncOperations.addHandler(handler, position: .first)
        } catch {
            events.yield(.tlsFailed("\(error)"))
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            tlsDone = true
            let info = (try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self))
                .map { NIOSSLInternals.info(of: $0) } ?? TLSInfo(version: "TLS", cipher: "unknown")
            events.yield(.tlsEstablished(info))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if tlsStarted, !tlsDone {
            events.yield(.tlsFailed("\(error)"))
        } else {
            events.yield(.error("\(error)"))
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        events.yield(.closed)
        events.finish()
        context.fireChannelInactive()
    }
}
