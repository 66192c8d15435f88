/// The NIO side of one client connection: frames and parses server replies (`SMTPReplyParser`) and passes
/// everything on as `SMTPClientChannelEvent`s in order. Around STARTTLS it decides nothing: told to hold
/// (`holdAfterNextReply`, before STARTTLS is written), it stops reading and parsing after the next reply
/// until the connection, obeying the session, calls `startTLS()` (plaintext octets after the reply are
/// dropped, never read as replies: RFC 3207 §4.2) or `resume()`.
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

/// Why the switch to TLS could not start.
struct SMTPClientTLSSwitchError: Error, CustomStringConvertible {
    var description: String
}

final class SMTPClientChannelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private var parser: SMTPReplyParser
    private let events: AsyncStream<SMTPClientChannelEvent>.Continuation
    private let tlsContext: NIOSSLContext?
    private let serverHostname: String?
    /// STARTTLS is about to be written: hold input after the next reply.
    private var holdNext = false
    /// A reply to STARTTLS was passed on: nothing more is read or parsed until `startTLS()` or `resume()`.
    private var holding = false
    private var context: ChannelHandlerContext?
    private var tlsStarted = false
    private var tlsDone = false
    private var failed = false

    init(
        parser: SMTPReplyParser, events: AsyncStream<SMTPClientChannelEvent>.Continuation, tlsContext: NIOSSLContext?,
        serverHostname: String?
    ) {
        self.parser = parser
        self.events = events
        self.tlsContext = tlsContext
        self.serverHostname = serverHostname
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Called on the event loop just before STARTTLS is written: after the next reply, stop reading.
    func holdAfterNextReply() { holdNext = true }

    /// The session decided to switch (the reply was 220): drop what was read after the reply and start
    /// the handshake; `.tlsEstablished` or `.tlsFailed` follows.
    func startTLS() throws {
        guard holding, let context else {
            throw SMTPClientTLSSwitchError(description: "no reply to STARTTLS is being held")
        }
        guard let tlsContext else { throw SMTPClientTLSSwitchError(description: "no TLS context") }
        holding = false
        parser.reset()
        // SNI must be a host name, never an address literal (RFC 6066 §3).
        let sni = serverHostname.flatMap { (try? SocketAddress(ipAddress: $0, port: 0)) == nil ? $0 : nil }
        do {
            let handler = try NIOSSLClientHandler(context: tlsContext, serverHostname: sni)
            tlsStarted = true
            try context.pipeline.syncOperations.addHandler(handler, position: .first)
        } catch {
            throw SMTPClientTLSSwitchError(description: "\(error)")
        }
        setAutoRead(true, context: context)
    }

    /// The session goes on in plaintext (STARTTLS refused): read and parse again.
    func resume() {
        guard holding, let context else { return }
        holding = false
        setAutoRead(true, context: context)
        drain(context: context)
    }

    private func setAutoRead(_ on: Bool, context: ChannelHandlerContext) {
        context.channel.setOption(ChannelOptions.autoRead, value: on).whenFailure { [events] error in
            events.yield(.error("cannot switch reading \(on ? "on" : "off"): \(error)"))
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let buffer = unwrapInboundIn(data)
        parser.feed(buffer.readableBytesView)
        drain(context: context)
    }

    private func drain(context: ChannelHandlerContext) {
        while !holding {
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
            if holdNext {
                // The reply to STARTTLS: octets after it stay unparsed (and unread) until the session decides.
                holdNext = false
                holding = true
                setAutoRead(false, context: context)
            }
            events.yield(.reply(reply))
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            tlsDone = true
            let info =
                (try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self))
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
