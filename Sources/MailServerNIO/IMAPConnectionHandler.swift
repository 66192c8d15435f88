/// The IMAP connection adapter (RFC 9051, RFC 3501): feeds received octets to the pure
/// `IMAPServerSession` (which frames them itself, literals included) and runs its actions — write,
/// check a login (through the `Authenticator` and its throttling, then open the user's
/// `IMAPMailboxAccess` from the `IMAPMailboxProvider`), run a store request off the event loop
/// (`IMAPBackendRunner`), switch to TLS for STARTTLS, watch the selected mailbox during IDLE (RFC 2177),
/// close.
///
/// Backpressure: while the session waits for an answer (a login, the store, a handshake) and holds more
/// than 64 KiB of unexecuted input, further octets stay in `ConnectionIO`'s buffer and reading stops, so
/// a client pipelining without end costs about 64 KiB plus two reads. A store request is not started
/// while the client has not read our output (the channel is not writable): a FETCH of many messages
/// writes one batch before the next is read from the store.
///
/// Time: `idleTimeout` (30 minutes by default, RFC 9051 §5.4) is a deadline per command, as POP3's
/// (docs/CONFIGURATION.md): it starts when the server waits for a command, is restarted once by the
/// command's first octet and not by later ones. During IDLE it runs from the IDLE command on; updates
/// sent to the client do not restart it.
///
/// COMPRESS=DEFLATE (RFC 4978, when `compressionAvailable`): after the tagged OK has gone out in plain
/// text, an `IMAPDeflateHandler` is put in front of this handler (behind TLS, if any) and deflates all
/// output; input is inflated here by an `IMAPInflater`, one slice of at most 16 KiB at a time and only
/// while the unexecuted input is below `maxBufferedInput`, so a compression bomb is bounded by the same
/// backpressure and framing limits as plain input (IMAPCompression.swift). Octets the client pipelined
/// after COMPRESS (against RFC 4978 §3) are inflated first, not executed as plain text.
import IMAPCore
import Logging
import MailCore
import NIOCore

public final class IMAPConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let server: IMAPServerContext
    private let client: ClientInfo
    private var session: IMAPServerSession
    /// Input held back while the session is busy, read suspension, flushing, deadline, close, TLS switch.
    private let io: ConnectionIO
    private var logger: Logger
    /// The logged-in user's view of the store.
    private var access: (any IMAPMailboxAccess)?
    /// The IDLE watch (consumes `provider.mailboxChanges`); cancelled when IDLE ends or the connection closes.
    private var watchTask: Task<Void, Never>?
    /// Counts watches, so a notification of an ended watch that was already queued is ignored.
    private var watchGeneration = 0
    /// STARTTLS was accepted and the handshake has not finished: the client's time.
    private var tlsPending = false
    /// A store request waiting for the client to read our output first.
    private var deferredRequest: IMAPBackendRequest?
    /// The server is stopping: the session ends (BYE) as soon as it waits for nothing.
    private var shutdownRequested = false
    /// COMPRESS is active: received octets are compressed and go through this first.
    private var inflater: IMAPInflater?
    /// COMPRESS: the most plain octets held in `io.buffer` and compressed octets held by the inflater at
    /// any time (logged when the connection closes; the bomb tests assert on them).
    private var peakHeldInput = 0
    private var peakHeldCompressed = 0

    /// Unexecuted input the session may hold while it waits for an answer; more waits in the socket.
    static let maxBufferedInput = 64 * 1024

    public init(server: IMAPServerContext, client: ClientInfo) {
        self.server = server
        self.client = client
        self.session = IMAPServerSession(configuration: server.configuration)
        // The session frames the input itself; ConnectionIO's line framer is not used.
        self.io = ConnectionIO(protocolName: "imap", maxBufferedInput: Self.maxBufferedInput, maxLineLength: 1024)
        var logger = server.logger
        logger[metadataKey: "client"] = "\(client.ip.map { "\($0)" } ?? "unknown")"
        self.logger = logger
    }

    // MARK: - Channel events

    public func channelActive(context: ChannelHandlerContext) {
        logger.debug("imap connection opened", metadata: ["port": "\(client.port)"])
        run(session.handle(.connected), context: context)
        io.flushIfNeeded(context: context)
        restartDeadline(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        io.channelInactive()
        stopWatching()
        access = nil
        if let inflater {
            logger.debug(
                "imap compression ended",
                metadata: [
                    "inflated": "\(inflater.inflatedBytes)", "max_held_input": "\(peakHeldInput)",
                    "max_held_compressed": "\(peakHeldCompressed)"
                ])
        }
        logger.debug("imap connection closed")
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        guard !closed else { return }
        server.metrics.bytesReceived(server.protocolKind, incoming.readableBytes)
        if let inflater {
            inflater.append(&incoming)
            peakHeldCompressed = max(peakHeldCompressed, inflater.pendingInputBytes)
        } else {
            io.append(&incoming)
        }
        feedInput(context: context)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        io.flushIfNeeded(context: context)
        context.fireChannelReadComplete()
    }

    public func read(context: ChannelHandlerContext) {
        io.read(context: context, canConsumeInput: canTakeInput)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let request = deferredRequest {
            deferredRequest = nil
            runBackend(request, context: context)
        }
        io.writabilityChanged(context: context, canConsumeInput: canTakeInput)
        context.fireChannelWritabilityChanged()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ShutdownRequested {
            shutdownRequested = true
            if !session.isAwaitingAnswer { shutDown(context: context) }
        } else if let info = io.handshakeCompleted(event, context: context, logger: logger) {
            tlsPending = false
            answered(.tlsEstablished(info), context: context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        io.errorCaught(error, context: context, logger: logger)
    }

    // MARK: - Input

    /// Whether the session may be given more input now: not while it waits for an answer with more than
    /// `maxBufferedInput` octets of unexecuted input.
    private var canTakeInput: Bool {
        !(session.isAwaitingAnswer && session.bufferedByteCount >= Self.maxBufferedInput)
    }

    /// Hands the held input to the session while it can take it, and keeps the client's deadline: input
    /// that completed a command (the session's unexecuted input shrank) starts a new deadline; input
    /// that only extended the current command does not move it (its first octet started it).
    ///
    /// With COMPRESS active the held input is refilled from the inflater before each hand-over, one
    /// slice at a time and only up to `maxBufferedInput`: what is not inflated yet stays compressed.
    private func feedInput(context: ChannelHandlerContext) {
        while true {
            inflateHeldInput(context: context)
            guard !closed, !session.isClosed, canTakeInput, var buffer = io.buffer, buffer.readableBytes > 0 else {
                break
            }
            io.buffer = nil
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            let before = session.bufferedByteCount
            run(session.handle(.received(bytes)), context: context)
            guard !closed else { return }
            if session.bufferedByteCount < before + bytes.count {
                restartDeadline(context: context)
            } else {
                lineBytesArrived(context: context)
            }
            if session.isAwaitingAnswer { io.flushIfNeeded(context: context) }
        }
        guard !closed else { return }
        io.resumeReadingIfPossible(context: context, canConsumeInput: canTakeInput)
    }

    /// COMPRESS: inflates held compressed input into `io.buffer` while it holds less than
    /// `maxBufferedInput` octets (slices of at most `IMAPInflater.sliceSize`). Invalid DEFLATE data ends
    /// the connection.
    private func inflateHeldInput(context: ChannelHandlerContext) {
        guard let inflater, !closed else { return }
        while inflater.hasPendingOutput, io.bufferedBytes < Self.maxBufferedInput {
            do throws(IMAPInflater.Failure) {
                guard var slice = try inflater.inflate(maxBytes: IMAPInflater.sliceSize, allocator: context.channel.allocator)
                else { return }
                io.append(&slice)
                peakHeldInput = max(peakHeldInput, io.bufferedBytes)
            } catch {
                logger.notice(
                    "imap compressed input invalid",
                    metadata: ["user": "\(session.username ?? "-")", "error": "\(error)"])
                io.write(Array("* BYE Invalid compressed data\r\n".utf8), context: context)
                closeConnection(context: context)
                return
            }
        }
    }

    /// An answer to an action: fed to the session, then held input goes on. `restart`: the answer ends
    /// the server's work on a command, so the client's deadline starts again (not for IDLE updates).
    private func answered(_ event: IMAPServerEvent, restart: Bool = true, context: ChannelHandlerContext) {
        guard !closed else { return }
        run(session.handle(event), context: context)
        guard !closed else { return }
        if shutdownRequested && !session.isAwaitingAnswer {
            shutDown(context: context)
            return
        }
        if restart { restartDeadline(context: context) }
        feedInput(context: context)
        io.flushIfNeeded(context: context)
    }

    // MARK: - Actions

    private func run(_ actions: [IMAPServerAction], context: ChannelHandlerContext) {
        for action in actions {
            guard !closed else { return }
            switch action {
            case .send(let bytes):
                io.write(bytes, context: context)
            case .authenticate(let username, let password):
                authenticate(username: username, password: password, context: context)
            case .backend(let request):
                if context.channel.isWritable {
                    runBackend(request, context: context)
                } else {
                    // The client has not read what was written: the next batch waits for it. Held before the
                    // flush: a flush the socket takes at once makes the channel writable inside it, and
                    // `channelWritabilityChanged` then runs the held request (set after, it would wait forever).
                    deferredRequest = request
                    io.flushIfNeeded(context: context)
                }
            case .startTLS:
                tlsPending = true
                if !io.switchToTLS(server.tls, command: "STARTTLS", context: context, logger: logger) {
                    closeConnection(context: context)
                }
            case .startCompression:
                startCompression(context: context)
            case .startWatching(let mailbox):
                if let mailbox { startWatching(mailbox, context: context) }
            case .stopWatching:
                stopWatching()
            case .close:
                if session.state == .logout {
                    logger.info("imap logout", metadata: ["user": "\(session.username ?? "-")"])
                }
                closeConnection(context: context)
                return
            }
        }
    }

    /// COMPRESS was accepted and its OK written: the OK goes out in plain text (flushed before the deflater
    /// is put in front), then everything is compressed both ways. Octets the client sent after the
    /// command (the session kept them unframed) are the start of the compressed input.
    private func startCompression(context: ChannelHandlerContext) {
        io.flushIfNeeded(context: context)
        let allocator = context.channel.allocator
        let inflater: IMAPInflater
        do {
            inflater = try IMAPInflater(allocator: allocator)
            try context.pipeline.syncOperations.addHandler(IMAPDeflateHandler(allocator: allocator), position: .before(self))
        } catch {
            logger.error("cannot start imap compression", metadata: ["error": "\(error)"])
            closeConnection(context: context)
            return
        }
        let early = session.takeInputAfterCompress()
        inflater.append(early)
        if var held = io.buffer {
            io.buffer = nil
            inflater.append(&held)
        }
        self.inflater = inflater
        logger.info(
            "imap compression started",
            metadata: ["user": "\(session.username ?? "-")", "pipelined": "\(inflater.pendingInputBytes)"])
        answered(.compressionStarted, context: context)
    }

    /// Runs one store request off the event loop and feeds the answer back.
    private func runBackend(_ request: IMAPBackendRequest, context: ChannelHandlerContext) {
        guard let access else {
            logger.error("imap store request without a login")
            answered(.backend(.failed(.serverBug("no mailbox access"))), context: context)
            return
        }
        io.runAsync(
            { await IMAPBackendRunner.run(request, on: access) }, on: .global, handler: self, context: context
        ) { handler, context, response in
            if case .failed(let error) = response { handler.logStoreFailure(error) }
            handler.answered(.backend(response), context: context)
        }
    }

    private func logStoreFailure(_ error: IMAPBackendError) {
        switch error {
        case .serverBug(let reason):
            logger.error("imap store error", metadata: ["user": "\(session.username ?? "-")", "reason": "\(reason)"])
        case .unavailable:
            logger.warning("imap store unavailable", metadata: ["user": "\(session.username ?? "-")"])
        case .mailboxGone:
            logger.notice("imap selected mailbox gone", metadata: ["user": "\(session.username ?? "-")"])
        default:
            break
        }
    }

    /// Checks a login within the bound of logins in flight (AuthThrottle.swift), with the same failure
    /// delay as SMTP AUTH and POP3; over the bound the answer is `NO [UNAVAILABLE]` without a check.
    private func authenticate(username: String, password: String, context: ChannelHandlerContext) {
        let server = self.server
        let client = self.client
        guard let slot = server.authenticator.beginLogin(ip: client.ip, account: username) else {
            server.metrics.imapLogin(.refused)
            server.metrics.authFailure(server.protocolKind)
            logger.notice("imap login refused", metadata: ["user": "\(username)", "reason": "too many logins in progress"])
            answered(.authenticated(.temporaryFailure), context: context)
            return
        }
        io.runAsync(
            { await server.login(username: username, password: password) }, on: .eventLoop, handler: self, context: context,
            whenClosed: .run
        ) { handler, context, outcome in
            switch outcome {
            case .success(let access):
                server.authenticator.endLogin(slot)
                server.metrics.imapLogin(.success)
                server.authenticator.recordSuccess(account: username)
                guard !handler.closed else { return }
                handler.logger.info("imap login", metadata: ["user": "\(username)"])
                handler.access = access
                handler.answered(.authenticated(.success(username: username)), context: context)
            case .invalidCredentials, .locked:
                let delay = server.authenticator.failureDelay(ip: client.ip, account: username)
                server.metrics.imapLogin(.failure)
                server.metrics.authFailure(server.protocolKind)
                let locked: Bool
                if case .locked = outcome { locked = true } else { locked = false }
                handler.logger.notice(
                    "imap login failed",
                    metadata: ["user": "\(username)", "reason": "\(locked ? "account disabled" : "invalid credentials")"])
                handler.io.after(delay, handler: handler, context: context, whenClosed: .run) { handler, context in
                    server.authenticator.endLogin(slot)
                    handler.answered(.authenticated(locked ? .disabled : .invalidCredentials), context: context)
                }
            case .temporaryFailure(let reason):
                server.authenticator.endLogin(slot)
                server.metrics.imapLogin(.refused)
                handler.logger.warning("imap login refused", metadata: ["user": "\(username)", "reason": "\(reason)"])
                handler.answered(.authenticated(.temporaryFailure), context: context)
            }
        }
    }

    // MARK: - IDLE

    /// Consumes the provider's change notifications for `mailbox` and feeds `.mailboxChanged` on the event
    /// loop until `stopWatching`.
    private func startWatching(_ mailbox: IMAPMailboxID, context: ChannelHandlerContext) {
        stopWatching()
        watchGeneration += 1
        let generation = watchGeneration
        let changes = server.provider.mailboxChanges(mailbox)
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        watchTask = Task {
            for await _ in changes {
                loop.execute {
                    let (handler, context) = bound.value
                    guard handler.watchGeneration == generation, handler.watchTask != nil else { return }
                    handler.answered(.mailboxChanged, restart: false, context: context)
                }
            }
        }
    }

    private func stopWatching() {
        watchTask?.cancel()
        watchTask = nil
    }

    // MARK: - Close, deadline

    private var closed: Bool { io.closed }

    private func closeConnection(context: ChannelHandlerContext) {
        guard !closed else { return }
        stopWatching()
        io.close(context: context)
    }

    /// Server shutdown: an untagged BYE (RFC 9051 §7.1.5), then close.
    private func shutDown(context: ChannelHandlerContext) {
        guard !closed else { return }
        io.write(Array("* BYE Server shutting down\r\n".utf8), context: context)
        closeConnection(context: context)
    }

    /// The client's timeout for each line (`ConnectionDeadlineOwner`).
    var clientTimeout: TimeAmount { server.idleTimeout }

    /// While the session waits for the store or a login the deadline re-arms; a STARTTLS handshake and
    /// output the client has not read are the client's time.
    var serverBusy: Bool {
        session.isAwaitingAnswer && !tlsPending && deferredRequest == nil
    }

    private func restartDeadline(context: ChannelHandlerContext) {
        io.restartDeadline(
            lineStarted: session.bufferedByteCount > 0 || io.bufferedBytes > 0, context: context, owner: self)
    }

    private func lineBytesArrived(context: ChannelHandlerContext) {
        io.lineBytesArrived(context: context, owner: self)
    }

    func deadlineExpired(context: ChannelHandlerContext) {
        logger.info(
            "imap timeout",
            metadata: ["user": "\(session.username ?? "-")", "partial_command": "\(session.bufferedByteCount > 0)"])
        run(session.handle(.timeout), context: context)
        io.flushIfNeeded(context: context)
    }
}

extension IMAPConnectionHandler: ConnectionDeadlineOwner {}
