import Logging
import MailCore
import MailStore
import NIOCore
import SMTPCore

/// What a check at end of DATA sees: the envelope (with the HELO name and AUTH identity), the spooled
/// message as received, and the client.
public struct MessageCheckRequest: Sendable {
    public var envelope: SMTPEnvelope
    public var body: MessageBody
    public var client: ClientInfo

    public init(envelope: SMTPEnvelope, body: MessageBody, client: ClientInfo) {
        self.envelope = envelope
        self.body = body
        self.client = client
    }
}

/// A check's answer: store the message with `prepend` (header fields, CRLF-terminated) after the trace
/// headers and `body` (the spooled body, possibly edited in place), or refuse it with `reply`.
public enum MessageCheckDecision: Sendable {
    case accept(prepend: [UInt8], body: MessageBody)
    case reject(SMTPReply)
}

/// The end-of-DATA hook (the composition root builds it from the message-authentication settings).
public typealias MessageCheck = @Sendable (MessageCheckRequest) async -> MessageCheckDecision

extension SMTPConnectionHandler {
    /// Runs `check` off the event loop, then stores (`commit`) or answers the rejection. Input stays
    /// paused meanwhile, as during the store.
    func checkMessage(
        _ envelope: SMTPEnvelope, body: MessageBody, check: @escaping MessageCheck,
        context: ChannelHandlerContext
    ) {
        spool.hold()
        let request = MessageCheckRequest(envelope: envelope, body: body, client: session.client)
        let logger = self.logger
        // `.run`: a connection closed meanwhile still releases the spool.
        io.runAsync({ await check(request) }, handler: self, context: context, whenClosed: .run) { handler, context, decision in
            guard !handler.closed else { handler.spool.release(); return }
            switch decision {
            case .accept(let prepend, let body):
                var envelope = envelope
                envelope.traceHeaders += prepend
                handler.commit(envelope, body: body, context: context)
            case .reject(let reply):
                logger.notice(
                    "smtp message refused at end of data",
                    metadata: [
                        "id": "\(envelope.queueID)", "reply": "\(reply)"
                    ])
                handler.spool.release()
                handler.run(handler.session.handle(.messageStored(.rejected(reply))), context: context)
                handler.processInput(context: context)
                handler.flushIfNeeded(context: context)
            }
        }
    }
}
