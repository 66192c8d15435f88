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
/// headers and `body` (the spooled body, possibly edited in place), or refuse it with `reply`. An edit
/// must keep what the DATA decoder knew of the body (`BodyForm`: no line end, NUL or line-starting "."
/// added), which is stored with it; `prepend` is looked at by the store.
public enum MessageCheckDecision: Sendable {
    case accept(prepend: [UInt8], body: MessageBody)
    case reject(SMTPReply)
}

/// The end-of-DATA hook (the composition root builds it from the message-authentication settings).
/// `applies` decides on the event loop, with no I/O, whether a message needs the check at all: one that
/// does not (nothing to sign, nothing to check) is stored as received, with no task started for it. `run`
/// does the check, off the event loop.
public struct MessageCheck: Sendable {
    public var applies: @Sendable (MessageCheckRequest) -> Bool
    public var run: @Sendable (MessageCheckRequest) async -> MessageCheckDecision

    public init(
        applies: @escaping @Sendable (MessageCheckRequest) -> Bool,
        run: @escaping @Sendable (MessageCheckRequest) async -> MessageCheckDecision
    ) {
        self.applies = applies
        self.run = run
    }
}

extension SMTPConnectionHandler {
    /// Runs `check` off the event loop, then stores (`commit`) or answers the rejection. Input stays
    /// paused meanwhile, as during the store.
    func checkMessage(_ request: MessageCheckRequest, check: MessageCheck, form: BodyForm, context: ChannelHandlerContext) {
        spool.hold()
        let envelope = request.envelope
        let logger = self.logger
        let run = check.run
        // `.run`: a connection closed meanwhile still releases the spool.
        io.runAsync({ await run(request) }, on: .global, handler: self, context: context, whenClosed: .run) { handler, context, decision in
            guard !handler.closed else { handler.spool.release(); return }
            switch decision {
            case .accept(let prepend, let body):
                var envelope = envelope
                envelope.traceHeaders += prepend
                handler.commit(envelope, body: body, form: form, context: context)
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
