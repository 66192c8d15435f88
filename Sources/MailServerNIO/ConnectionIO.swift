/// `ConnectionIO`: the channel plumbing the SMTP and POP3 connection handlers share — the input buffer
/// and line framer, read suspension (backpressure), deferred flushing of pipelined replies (RFC 2920 §3
/// for SMTP; POP3 clients pipeline the same way, RFC 2449 §6.6), the per-line deadline timer, closing, the switch to
/// TLS for STARTTLS (RFC 3207 §4) / STLS (RFC 2595 §4) and the handshake-completed event.
///
/// Each handler owns one; it lives on the channel's event loop only (no locks, not Sendable). The
/// protocol logic (what to parse, when the session may take input) stays in the handlers, which pass
/// it in: `canConsumeInput` is false while the session waits for an answer (a lookup, a store, a login).
///
/// Memory: the input buffer holds at most one unfinished line (the framer consumes what it discards) plus
/// what one read brings, and its consumed prefix is dropped before new bytes are appended — without that
/// the storage under a `ByteBuffer` whose reader index only moves forward grows with every byte ever
/// received (a 1.4 GiB line without CRLF grew the server by 1.4 GiB although the framer discarded it).
/// Reading also stops while the channel is not writable: a client that pipelines commands and never
/// reads the replies cannot make the server queue an unbounded amount of output.
///
/// Time: the client's deadline (see `restartDeadline` / `lineBytesArrived`) measures how long one line
/// takes, not how long the client stays silent: it runs from the moment the server waits for a line,
/// is restarted once by the line's first byte, and is not restarted by any later byte of that line.
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
    /// When `idleTimer` fires; it may be earlier than `deadline` (a timer is kept, not rescheduled, when
    /// the deadline moves later: it re-arms itself for the rest when it fires).
    private var timerFiresAt: NIODeadline?
    /// The client's current deadline, and what decides at it (`armIdleTimer`).
    private var deadline = NIODeadline.distantFuture
    private var deadlineOwner: (any ConnectionDeadlineOwner)?
    /// The first byte of the line now being read has arrived: the deadline runs from it, and later bytes
    /// of the same line do not restart it.
    private(set) var lineStarted = false

    init(protocolName: String, maxBufferedInput: Int, maxLineLength: Int) {
        self.protocolName = protocolName
        self.maxBufferedInput = maxBufferedInput
        self.framer = LineFramer(maxLength: maxLineLength)
    }

    var bufferedBytes: Int { buffer?.readableBytes ?? 0 }

    // MARK: - Input

    /// Appends received bytes to the input buffer. The consumed prefix of the buffer is dropped first
    /// when it is at least as long as what is left, so the storage stays within about twice the unread
    /// bytes (a moving reader index alone never frees anything: `writeBuffer` keeps growing the storage).
    func append(_ incoming: inout ByteBuffer) {
        guard var current = buffer, current.readableBytes > 0 else {
            buffer = incoming
            return
        }
        buffer = nil // `current` is now the only reference: compaction and appending happen in place
        if current.readerIndex > 0 && current.readerIndex >= current.readableBytes {
            current.discardReadBytes()
        }
        current.writeBuffer(&incoming)
        buffer = current
    }

    /// The storage the input buffer holds on to (for tests of the bound).
    var bufferCapacity: Int { buffer?.capacity ?? 0 }

    /// The handler's `read(context:)`: passes the read on unless enough is buffered, or input is buffered
    /// while the session cannot take it (then the client's pipelined commands wait in the socket).
    func read(context: ChannelHandlerContext, canConsumeInput: Bool) {
        if mustSuspendReading(canConsumeInput: canConsumeInput, context: context) {
            readSuspended = true
            return
        }
        context.read()
    }

    /// Issues the held-back read once the buffer has drained enough.
    func resumeReadingIfPossible(context: ChannelHandlerContext, canConsumeInput: Bool) {
        guard readSuspended, !closed, !mustSuspendReading(canConsumeInput: canConsumeInput, context: context) else { return }
        readSuspended = false
        context.read()
    }

    /// The handler's `channelWritabilityChanged`: reading resumes once the client has read enough of
    /// our output.
    func writabilityChanged(context: ChannelHandlerContext, canConsumeInput: Bool) {
        resumeReadingIfPossible(context: context, canConsumeInput: canConsumeInput)
    }

    private func mustSuspendReading(canConsumeInput: Bool, context: ChannelHandlerContext) -> Bool {
        let buffered = bufferedBytes
        return buffered >= maxBufferedInput || (!canConsumeInput && buffered > 0) || !context.channel.isWritable
    }

    // MARK: - Output

    /// Queues bytes for the client; they go out at the next `flushIfNeeded`.
    func write(_ bytes: [UInt8], context: ChannelHandlerContext) {
        guard bytes.count <= Self.reusedReplyCapacity else {
            var out = context.channel.allocator.buffer(capacity: bytes.count)
            out.writeBytes(bytes)
            write(out, context: context)
            return
        }
        // A reply goes out in the buffer the previous one went in: once the socket has taken that one,
        // NIO holds no reference to it and `clear` keeps its storage, so a reply costs no allocation.
        // While NIO still holds it (a write not taken yet, TLS buffering), `clear` gets new storage of
        // the reply's own size — replies a client never reads cost what they did before, not 1 KiB each
        // (test_limits.py's pipelining test) — and the octets NIO holds stay as they were (copy on write).
        var out = reply ?? context.channel.allocator.buffer(capacity: bytes.count)
        reply = nil
        out.clear(minimumCapacity: bytes.count)
        out.writeBytes(bytes)
        if out.capacity <= Self.reusedReplyCapacity { reply = out }
        write(out, context: context)
    }

    /// Replies this long or shorter (every SMTP and POP3 reply line, EHLO's list, IMAP's short responses)
    /// reuse `reply`; it never holds more than this.
    static let reusedReplyCapacity = 1024
    /// The buffer of the last short reply, kept for the next one.
    private var reply: ByteBuffer?

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

    // MARK: - Close, deadline timer

    /// How long `close` waits for the last output to be taken before it closes anyway.
    static let closeGrace: TimeAmount = .seconds(5)

    /// Flushes what was written, then closes. Later calls do nothing. Usually the socket takes the last
    /// output at once and the channel closes inside this call. The flush may also never complete — a
    /// client that stopped reading (its window is full), or a TLS handshake that never started after
    /// STARTTLS (NIOSSL holds writes until it is done) — so then the channel is closed after `closeGrace`
    /// anyway (the timer is only set in that case: it costs about ten allocations per connection).
    func close(context: ChannelHandlerContext) {
        guard !closed else { return }
        closed = true
        cancelIdleTimer()
        outputPending = false
        let channel = context.channel
        context.writeAndFlush(NIOAny(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
        guard channel.isActive else { return } // written and closed already
        let grace = context.eventLoop.scheduleTask(in: Self.closeGrace) { channel.close(promise: nil) }
        channel.closeFuture.whenComplete { _ in grace.cancel() }
    }

    /// The channel went inactive (the client left, or our close finished).
    func channelInactive() {
        closed = true
        cancelIdleTimer()
    }

    /// The server now waits for a new line (the previous one was taken, a reply or an answer went out,
    /// the mode changed): the client has `owner.clientTimeout` from now. `lineStarted`: bytes of the next
    /// line are already buffered, so its first byte does not restart the deadline again.
    func restartDeadline(lineStarted: Bool = false, context: ChannelHandlerContext, owner: any ConnectionDeadlineOwner) {
        self.lineStarted = lineStarted
        armIdleTimer(context: context, owner: owner)
    }

    /// Bytes of the current line arrived. The first one restarts the deadline (the whole line must then
    /// arrive within `owner.clientTimeout` of it); later ones change nothing, so a client that trickles
    /// one byte at a time cannot stretch a line beyond the timeout.
    func lineBytesArrived(context: ChannelHandlerContext, owner: any ConnectionDeadlineOwner) {
        guard !lineStarted else { return }
        lineStarted = true
        armIdleTimer(context: context, owner: owner)
    }

    /// (Re)arms the deadline for `owner.clientTimeout` from now. When it passes on an open connection:
    /// while `owner.serverBusy` (the server's own work is slow, not the client) it is armed again;
    /// otherwise `owner.deadlineExpired` runs (the session's timeout reply and close).
    ///
    /// The deadline moves with every line, so the timer is not rescheduled each time (a scheduled task
    /// costs about ten allocations): a timer that fires no later than the new deadline is kept, and when
    /// it fires before the deadline it schedules itself again for the rest. Nothing here allocates per
    /// line: the owner is the handler itself, held until the connection closes.
    func armIdleTimer(context: ChannelHandlerContext, owner: any ConnectionDeadlineOwner) {
        guard !closed else {
            cancelIdleTimer()
            return
        }
        deadline = context.eventLoop.now + owner.clientTimeout
        deadlineOwner = owner
        if let firesAt = timerFiresAt, firesAt <= deadline { return }
        idleTimer?.cancel()
        scheduleIdleTimer(at: deadline, context: context)
    }

    private func scheduleIdleTimer(at when: NIODeadline, context: ChannelHandlerContext) {
        timerFiresAt = when
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(deadline: when) {
            let (io, context) = bound.value
            io.idleTimerFired(context: context)
        }
    }

    private func idleTimerFired(context: ChannelHandlerContext) {
        idleTimer = nil
        timerFiresAt = nil
        guard !closed, let owner = deadlineOwner else { return }
        let now = context.eventLoop.now
        if now < deadline {
            scheduleIdleTimer(at: deadline, context: context)
        } else if owner.serverBusy {
            deadline = now + owner.clientTimeout
            scheduleIdleTimer(at: deadline, context: context)
        } else {
            owner.deadlineExpired(context: context)
        }
    }

    /// Stops the deadline for good (the connection is closing) and drops the owner (the handler, which
    /// holds this object).
    private func cancelIdleTimer() {
        idleTimer?.cancel()
        idleTimer = nil
        timerFiresAt = nil
        deadlineOwner = nil
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
        let info =
            (try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self))
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

/// What the deadline timer asks the connection handler (`ConnectionIO.armIdleTimer`).
protocol ConnectionDeadlineOwner: AnyObject {
    /// How long the client has for a line in the current mode.
    var clientTimeout: TimeAmount { get }
    /// The server's own work is outstanding (a store, a lookup, a login): the deadline re-arms instead
    /// of expiring.
    var serverBusy: Bool { get }
    /// The deadline passed while the client was to act: the session's timeout reply and close.
    func deadlineExpired(context: ChannelHandlerContext)
}

// MARK: - Back to the channel

/// The one way a handler's work comes back to its channel: a Swift task (a lookup, a login check, a
/// store), a future completed elsewhere (a task, a write), or a delay. The
/// callback runs on the channel's event loop with the handler and its context; with `.skip` (the
/// default) it does not run at all once the connection is closed. Handlers that must finish some work
/// even then (give back a login slot, release the spool or the maildrop lock) pass `.run` and check
/// `closed` themselves after that work.
extension ConnectionIO {
    enum WhenClosed: Sendable { case skip, run }

    /// Runs `work` as a Swift task in `place`, then `then` on the event loop with its result.
    func runAsync<Handler: AnyObject, Value: Sendable>(
        _ work: @escaping @Sendable () async throws -> Value, on place: TaskPlace, handler: Handler,
        context: ChannelHandlerContext, whenClosed: WhenClosed = .skip,
        then: @escaping (Handler, ChannelHandlerContext, Result<Value, any Error>) -> Void
    ) {
        let promise = context.eventLoop.makePromise(of: Value.self)
        promise.completeWithTask(on: place, work)
        onLoop(promise.futureResult, handler: handler, context: context, whenClosed: whenClosed, then: then)
    }

    /// Runs `work` (which cannot fail) as a Swift task in `place`, then `then` on the event loop with its
    /// value.
    func runAsync<Handler: AnyObject, Value: Sendable>(
        _ work: @escaping @Sendable () async -> Value, on place: TaskPlace, handler: Handler,
        context: ChannelHandlerContext, whenClosed: WhenClosed = .skip,
        then: @escaping (Handler, ChannelHandlerContext, Value) -> Void
    ) {
        runAsync(
            { () async throws -> Value in await work() }, on: place, handler: handler, context: context,
            whenClosed: whenClosed
        ) { handler, context, result in
            if case .success(let value) = result { then(handler, context, value) }
        }
    }

    /// Calls `then` on the event loop when `future` completes (its value crosses threads: Sendable).
    func onLoop<Handler: AnyObject, Value: Sendable>(
        _ future: EventLoopFuture<Value>, handler: Handler, context: ChannelHandlerContext,
        whenClosed: WhenClosed = .skip,
        then: @escaping (Handler, ChannelHandlerContext, Result<Value, any Error>) -> Void
    ) {
        let bound = NIOLoopBound((handler, context, self, then), eventLoop: context.eventLoop)
        future.hop(to: context.eventLoop).whenComplete { result in
            let (handler, context, io, then) = bound.value
            if whenClosed == .skip && io.closed { return }
            then(handler, context, result)
        }
    }

    /// Calls `then` on the event loop after `delay`.
    func after<Handler: AnyObject>(
        _ delay: TimeAmount, handler: Handler, context: ChannelHandlerContext, whenClosed: WhenClosed = .skip,
        then: @escaping (Handler, ChannelHandlerContext) -> Void
    ) {
        let bound = NIOLoopBound((handler, context, self, then), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: delay) {
            let (handler, context, io, then) = bound.value
            if whenClosed == .skip && io.closed { return }
            then(handler, context)
        }
    }
}

// MARK: - Where a handler's task runs

/// Where a connection handler's Swift task runs. Each handler call site says which.
enum TaskPlace: Sendable {
    /// On the connection's event loop (a task executor preference): for a task that waits (for the
    /// store, a thread pool, DNS) and between its waits does only what a handler does on its loop
    /// anyway (build a reply, encode a chunk). Each wait then costs the hand-off to whoever does the work
    /// and the one back to the loop; on the global executor it costs two more (into Swift's pool, and
    /// from it to the loop), each a thread woken.
    case eventLoop
    /// On Swift's global executor: for a task that computes (DKIM body hashes and signatures, an IMAP
    /// command over a whole folder), which must not hold up the loop's other connections.
    case global
}

extension EventLoopPromise {
    /// Completes the promise with `work`, run as a Swift task in `place` (`.eventLoop`: this promise's
    /// loop).
    func completeWithTask(on place: TaskPlace, _ work: @escaping @Sendable () async throws -> Value) {
        switch place {
        case .global:
            completeWithTask(work)
        case .eventLoop:
            Task(executorPreference: EventLoopTaskExecutor(futureResult.eventLoop)) {
                do { succeed(try await work()) } catch { fail(error) }
            }
        }
    }
}

/// An event loop as a Swift task executor: the task's jobs run on the loop's thread.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
