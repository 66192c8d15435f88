/// `ConnectionIO`: the channel plumbing the SMTP and POP3 connection handlers share — the input buffer
/// and line framer, read suspension (backpressure), deferred flushing of pipelined replies (RFC 2920 §3
/// for SMTP; POP3 clients pipeline the same way, RFC 2449 §6.6), the idle timer, closing, the switch to
/// TLS for STARTTLS (RFC 3207 §4) / STLS (RFC 2595 §4) and the handshake-completed event.
///
/// Each handler owns one; it lives on the channel's event loop only (no locks, not Sendable). The
/// protocol logic (what to parse, when the session may take input) stays in the handlers, which pass
/// it in: `canConsumeInput` is false while the session waits for an answer (a lookup, a store, a login).
import Logging
import MailCore
import NIOCore
import NIOSSL
import NIOTLS

final class ConnectionIO {
    /// "smtp" / "pop3": the first word of log lines.
    let protocolName: String
    /// Buffered input above which reading from the socket stops.
    let maxBufferedInput: Int
    var framer: LineFramer
    /// Received bytes not yet handed to the session.
    var buffer: ByteBuffer?
    /// A `read` was held back; `resumeReadingIfPossible` issues it.
    private(set) var readSuspended = false
    /// Replies were written and not flushed yet.
    var outputPending = false
    /// The connection is closed or closing: nothing more is written, timers and callbacks do nothing.
    private(set) var closed = false
    private var idleTimer: Scheduled<Void>?

    init(protocolName: String, maxBufferedInput: Int, maxLineLength: Int) {
        self.protocolName = protocolName
        self.maxBufferedInput = maxBufferedInput
        self.framer = LineFramer(maxLength: maxLineLength)
    }

    var bufferedBytes: Int { buffer?.readableBytes ?? 0 }

    // MARK: - Input

    /// Appends received bytes to the input buffer.
    func append(_ incoming: inout ByteBuffer) {
        if buffer == nil { buffer = incoming } else { buffer?.writeBuffer(&incoming) }
    }

    /// The handler's `read(context:)`: passes the read on unless enough is buffered, or input is buffered
    /// while the session cannot take it (then the client's pipelined commands wait in the socket).
    func read(context: ChannelHandlerContext, canConsumeInput: Bool) {
        if mustSuspendReading(canConsumeInput: canConsumeInput) {
            readSuspended = true
            return
        }
        context.read()
    }

    /// Issues the held-back read once the buffer has drained enough.
    func resumeReadingIfPossible(context: ChannelHandlerContext, canConsumeInput: Bool) {
        guard readSuspended, !closed, !mustSuspendReading(canConsumeInput: canConsumeInput) else { return }
        readSuspended = false
        context.read()
    }

    private func mustSuspendReading(canConsumeInput: Bool) -> Bool {
        let buffered = bufferedBytes
        return buffered >= maxBufferedInput || (!canConsumeInput && buffered > 0)
    }

    // MARK: - Output

    /// Queues bytes for the client; they go out at the next `flushIfNeeded`.
    func write(_ bytes: [UInt8], context: ChannelHandlerContext) {
        var out = context.channel.allocator.buffer(capacity: bytes.count)
        out.writeBytes(bytes)
        write(out, context: context)
    }

    func write(_ buffer: ByteBuffer, context: ChannelHandlerContext) {
        context.write(NIOAny(buffer), promise: nil)
        outputPending = true
    }

    func flushIfNeeded(context: ChannelHandlerContext) {
        if outputPending && !closed {
            outputPending = false
            context.flush()
        }
    }

    // MARK: - Close, idle timer

    /// Flushes what was written, then closes. Later calls do nothing.
    func close(context: ChannelHandlerContext) {
        guard !closed else { return }
        closed = true
        idleTimer?.cancel()
        outputPending = false
        let channel = context.channel
        context.writeAndFlush(NIOAny(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    /// The channel went inactive (the client left, or our close finished).
    func channelInactive() {
        closed = true
        idleTimer?.cancel()
    }

    /// (Re)arms the idle timer for `timeout()`. When it fires on an open connection: while `busy()` (the
    /// server's own work is slow, not the client) it is armed again; otherwise `expired` runs (the
    /// session's timeout reply and close).
    func armIdleTimer(context: ChannelHandlerContext, timeout: @escaping () -> TimeAmount,
                      busy: @escaping () -> Bool, expired: @escaping (ChannelHandlerContext) -> Void) {
        idleTimer?.cancel()
        guard !closed else { return }
        let bound = NIOLoopBound((self, context, timeout, busy, expired), eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(in: timeout()) {
            let (io, context, timeout, busy, expired) = bound.value
            guard !io.closed else { return }
            if busy() {
                io.armIdleTimer(context: context, timeout: timeout, busy: busy, expired: expired)
                return
            }
            expired(context)
        }
    }

    // MARK: - TLS

    /// STARTTLS / STLS after the positive reply was written: flushes it (in plain text), throws away every
    /// byte the client pipelined after the command (the CVE-2011-0411 class of bug), resets the framer and
    /// puts the TLS handler in front. The session resumes on the handshake-completed event. Returns false
    /// when the connection must close instead (TLS not configured, or the handler could not be added).
    func switchToTLS(_ tls: TLSContextProvider?, command: String, context: ChannelHandlerContext, logger: Logger) -> Bool {
        guard let tls else {
            logger.error("\(command) requested but TLS is not configured")
            return false
        }
        flushIfNeeded(context: context)
        if bufferedBytes > 0 {
            logger.notice("\(protocolName) discarded data pipelined after \(command)", metadata: ["bytes": "\(bufferedBytes)"])
        }
        buffer = nil
        framer.reset()
        do {
            try context.pipeline.syncOperations.addHandler(tls.makeServerHandler(), position: .first)
            return true
        } catch {
            logger.error("cannot start TLS", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// For a TLS handshake-completed event: the negotiated version and cipher (logged); nil for any other event.
    func handshakeCompleted(_ event: Any, context: ChannelHandlerContext, logger: Logger) -> TLSInfo? {
        guard let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent else { return nil }
        let info = (try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self))
            .map { TLSInternals.info(of: $0) } ?? TLSInfo(version: "TLS", cipher: "unknown")
        logger.debug("\(protocolName) tls established", metadata: ["tls": "\(info.version) \(info.cipher)"])
        return info
    }

    /// The handler's `errorCaught`: logged at debug level (a reset peer is routine), then closed.
    func errorCaught(_ error: any Error, context: ChannelHandlerContext, logger: Logger) {
        logger.debug("\(protocolName) connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
