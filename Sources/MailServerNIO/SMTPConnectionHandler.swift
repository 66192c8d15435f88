/// The SMTP connection adapter: frames bytes into command lines / DATA / BDAT chunks, feeds them to the
/// pure `SMTPServerSession`, and runs the actions it returns (write a reply, look up a recipient, store a
/// message, close). It is the only place that touches the channel for SMTP.
///
/// Pipelining (RFC 2920): replies are written as actions come and flushed when the input buffer runs dry
/// or the session waits for an answer. While an answer is outstanding no further input is parsed, and
/// reading from the socket stops once a bounded amount is buffered (backpressure).
///
/// Limits while reading: a command line (or SASL continuation line, or BDAT command line) that
/// passes its limit before its CRLF gets 500 5.5.6 and the connection closes — the framer checks while
/// reading and keeps nothing of such a line. Deadlines: `command_timeout` / `data_timeout` measure how
/// long one line takes (from the moment the server waits for it, restarted once by its first byte), so a
/// client trickling a byte at a time cannot stretch a line; see `restartDeadline` and docs/CONFIGURATION.md.
///
/// Abuse defences (docs/RELAY.md): the greeting may wait for a forward-confirmed reverse DNS
/// lookup and for `greetingDelay`; any byte before it gets 554 5.5.0 and a close (RFC 5321 §3.1, the
/// client must wait for the 220). Refused RCPTs are slowed down and end the session at a limit
/// (`InvalidRecipientThrottle`). The anti-spoofing lookup of MAIL FROM runs here.
import Logging
import MailCore
import MailPolicy
import MailStore
import NIOCore
import SMTPCore

public final class SMTPConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    enum Mode {
        case command
        case data(DataDecoder)
        case chunk(remaining: Int, keep: Bool)
        /// The body (or chunk) is complete, a spool write is still running: the answer waits for it.
        case draining(BodyEnd)
    }

    /// What is reported once the spool has written everything.
    enum BodyEnd {
        case data(DataDecoder)
        case chunk(octets: Int, keep: Bool)
    }

    /// What this connection uses of the server: configuration, store, authenticator, policy, metrics.
    let server: SMTPServerContext
    var invalidRecipients: InvalidRecipientThrottle
    var session: SMTPServerSession
    /// Input buffer, framer, read suspension, flushing, idle timer, close, the switch to TLS.
    let io: ConnectionIO
    var mode: Mode = .command
    var chunkDecoder: ChunkDecoder?
    /// What the body being received is known to be: set from the DATA decoder when it accepts the body,
    /// nothing for BDAT (its octets are taken as they come). Stored with the message (`BodyForm`).
    var bodyForm: BodyForm = []
    let spool: MessageSpool
    var logger: Logger
    var sessionBytes: Int64 = 0
    /// Each reply is encoded here before it is copied into the channel's buffer: one array for the
    /// connection instead of one per reply.
    var replyBytes: [UInt8] = []
    var shutdownRequested = false

    /// Buffered input above which the handler stops reading from the socket.
    static let maxBufferedInput = 64 * 1024

    var closed: Bool { io.closed }

    public init(server: SMTPServerContext, client: ClientInfo) {
        self.server = server
        self.session = SMTPServerSession(configuration: server.configuration, client: client)
        // The framer's limit is set per line (`commandLineLimit`): AUTH lines may be 12288 octets.
        self.io = ConnectionIO(
            protocolName: "smtp", maxBufferedInput: Self.maxBufferedInput,
            maxLineLength: server.configuration.maxCommandLineLength)
        self.spool = MessageSpool(directory: server.spoolDirectory)
        self.invalidRecipients = InvalidRecipientThrottle(settings: server.invalidRecipients)
        self.lineLimits = Self.lineLimits(server.configuration)
        var logger = server.logger
        logger[metadataKey: "client"] = "\(client.ip.map { "\($0)" } ?? "unknown")"
        self.logger = logger
    }

    // MARK: - Channel events

    public func channelActive(context: ChannelHandlerContext) {
        logger.debug("smtp connection opened", metadata: ["port": "\(session.client.port)"])
        startSession(context: context)
        restartDeadline(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        io.channelInactive()
        spool.discard()
        logger.debug("smtp connection closed", metadata: ["bytes": "\(sessionBytes)"])
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        guard !closed else { return }
        guard session.greeted else {
            refuseEarlyTalker(bytes: incoming.readableBytes, context: context)
            return
        }
        sessionBytes += Int64(incoming.readableBytes)
        server.metrics.bytesReceived(server.protocolKind, incoming.readableBytes)
        if server.maxSessionBytes > 0 && sessionBytes > server.maxSessionBytes {
            io.buffer = nil
            logger.notice("smtp session byte limit exceeded", metadata: ["bytes": "\(sessionBytes)"])
            run(session.handle(.sessionByteLimitExceeded), context: context)
            flushIfNeeded(context: context)
            return
        }
        noteArrival(of: incoming, context: context)
        io.append(&incoming)
        processInput(context: context)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded(context: context)
        context.fireChannelReadComplete()
    }

    public func read(context: ChannelHandlerContext) {
        io.read(context: context, canConsumeInput: canConsumeInput)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        io.writabilityChanged(context: context, canConsumeInput: canConsumeInput)
        context.fireChannelWritabilityChanged()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ShutdownRequested {
            shutdownRequested = true
            closeIfIdleForShutdown(context: context)
        } else if let info = io.handshakeCompleted(event, context: context, logger: logger) {
            run(session.handle(.tlsEstablished(info)), context: context)
            restartDeadline(context: context)
            processInput(context: context)
            flushIfNeeded(context: context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        io.errorCaught(error, context: context, logger: logger)
    }

    // MARK: - Input

    /// Body bytes are consumed while the session waits for the body; command lines only when it waits for nothing.
    var canConsumeInput: Bool {
        switch mode {
        case .command: return !session.isAwaitingAnswer
        // A spool write on the thread pool: no more body until it is done (one pending buffer at most).
        case .data, .chunk: return !spool.isWriting
        case .draining: return false
        }
    }

    /// The framer's limit for the next command line: `max_command_line_length`, except that in a SASL
    /// exchange continuation lines, and while AUTH is possible lines starting with `AUTH `, may have
    /// 12288 octets (RFC 4954 §4).
    var commandLineLimit: LineLimit {
        if session.isInAuthExchange { return lineLimits.auth }
        if session.maxLineLength > server.configuration.maxCommandLineLength { return lineLimits.commandOrAuth }
        return lineLimits.command
    }

    /// The three limits `commandLineLimit` chooses from, made once per connection (not per line).
    let lineLimits: (command: LineLimit, commandOrAuth: LineLimit, auth: LineLimit)

    static func lineLimits(_ configuration: SMTPServerConfiguration) -> (command: LineLimit, commandOrAuth: LineLimit, auth: LineLimit) {
        let command = configuration.maxCommandLineLength
        let auth = max(SMTPServerSession.authLineLength, command)
        return (.fixed(command), LineLimit(maxLength: command, extendedPrefix: "AUTH ", extendedMaxLength: auth), .fixed(auth))
    }

    func processInput(context: ChannelHandlerContext) {
        var linesTaken = false
        while !closed, !session.isClosed, canConsumeInput, var buf = io.buffer, buf.readableBytes > 0 {
            io.buffer = nil
            let progressed: Bool
            switch mode {
            case .command:
                io.framer.limit = commandLineLimit
                let framed = io.framer.next(from: &buf)
                if let framed {
                    io.buffer = buf
                    linesTaken = true
                    switch framed {
                    case .line(let bytes):
                        run(session.handle(.line(bytes)), context: context)
                    case .tooLong:
                        run(session.handle(.lineTooLong), context: context)
                    case .bareLineFeed:
                        // RFC 5321 §2.3.8: lines end with CRLF; the session refuses the line without running it.
                        run(session.handle(.bareLineFeed), context: context)
                    }
                    progressed = true
                } else {
                    io.buffer = buf
                    progressed = false
                }
            case .data(var decoder):
                var out: [UInt8] = []
                let result = buf.withUnsafeReadableBytes { decoder.decode($0, into: &out) }
                buf.moveReaderIndex(forwardBy: result.consumed)
                io.buffer = buf
                appendToSpool(out, context: context)
                if result.finished {
                    endBody(.data(decoder), context: context)
                } else {
                    mode = .data(decoder)
                }
                progressed = result.finished
            case .chunk(let remaining, let keep):
                let n = min(remaining, buf.readableBytes)
                if keep {
                    var out: [UInt8] = []
                    buf.withUnsafeReadableBytes { raw in
                        let slice = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                        if chunkDecoder == nil { chunkDecoder = makeChunkDecoder() }
                        chunkDecoder?.decode(slice, into: &out)
                    }
                    appendToSpool(out, context: context)
                }
                buf.moveReaderIndex(forwardBy: n)
                io.buffer = buf
                if remaining - n == 0 {
                    mode = .command
                    completeChunk(octets: n, keep: keep, context: context)
                    progressed = true
                } else {
                    mode = .chunk(remaining: remaining - n, keep: keep)
                    progressed = false
                }
            case .draining:
                progressed = false
            }
            if io.buffer?.readableBytes == 0 { io.buffer = nil }
            if !progressed { break }
        }
        // A command line was taken: the next one has its own deadline (bytes of it may already be here).
        if linesTaken && !closed { restartDeadline(context: context) }
        if !canConsumeInput { flushIfNeeded(context: context) }
        if shutdownRequested { closeIfIdleForShutdown(context: context) }
        io.resumeReadingIfPossible(context: context, canConsumeInput: canConsumeInput)
    }

    // MARK: - Actions

    func run(_ actions: [SMTPServerAction], context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .send(let reply):
                replyBytes.removeAll(keepingCapacity: true)
                reply.encode(into: &replyBytes)
                io.write(replyBytes, context: context)
                if reply.code.isTransientFailure || reply.code.isPermanentFailure {
                    logger.debug("smtp reply", metadata: ["reply": "\(reply.code) \(reply.lines.first ?? "")"])
                }
            case .resolveRecipient(let query):
                resolve(query, context: context)
            case .checkSenderDomain(let domain):
                checkSenderDomain(domain, context: context)
            case .receiveData:
                bodyForm = []
                mode = .data(
                    DataDecoder(
                        maxMessageSize: server.configuration.maxMessageSize,
                        maxLineLength: server.configuration.maxTextLineLength,
                        hopCount: server.configuration.hopCount))
                restartDeadline(context: context)
            case .receiveChunk(let size, let keep):
                bodyForm = []
                if size == 0 {
                    // A zero-length chunk (BDAT 0 LAST) completes at once.
                    mode = .command
                    completeChunk(octets: 0, keep: keep, context: context)
                } else {
                    mode = .chunk(remaining: size, keep: keep)
                    restartDeadline(context: context)
                }
            case .storeMessage(let envelope):
                store(envelope, context: context)
            case .discardMessage:
                chunkDecoder = nil
                spool.discard()
            case .transactionEnded(let summary):
                logTransaction(summary)
            case .startTLS:
                startTLS(context: context)
            case .authenticate(let username, let password):
                authenticate(username: username, password: password, context: context)
            case .lookupSCRAM(let username):
                let authenticator = server.authenticator
                io.runAsync(
                    { await authenticator.scramParameters(username: username) }, on: .eventLoop, handler: self,
                    context: context
                ) { handler, context, parameters in
                    handler.answer(.scramParameters(parameters), context: context)
                }
            case .authenticateSCRAM(let username, let proofValid):
                authenticate(username: username, password: "", scramProofValid: proofValid, context: context)
            case .close:
                closeConnection(context: context)
                return
            }
        }
    }

    /// STARTTLS (RFC 3207): the 220 goes out in plain text, every byte the client pipelined after the
    /// command is thrown away (the CVE-2011-0411 class of bug), and the TLS handler goes in front
    /// (`ConnectionIO.switchToTLS`). The session resumes on the handshake-completed event.
    func startTLS(context: ChannelHandlerContext) {
        mode = .command
        if !io.switchToTLS(server.tls, command: "STARTTLS", context: context, logger: logger) {
            closeConnection(context: context)
        }
    }

    /// Checks a login within the bound of logins in flight (AuthThrottle.swift): over it, 421 4.7.0 and
    /// close without checking. The slot is held until the answer is due — for a failure, until its delay
    /// has passed, even when the client has gone (it must not win its slot back by hanging up).
    func authenticate(username: String, password: String, scramProofValid: Bool? = nil, context: ChannelHandlerContext) {
        let authenticator = server.authenticator
        let client = session.client
        guard let slot = authenticator.beginLogin(ip: client.ip, account: username) else {
            server.metrics.authFailure(server.protocolKind)
            logger.notice("smtp auth refused", metadata: ["user": "\(username)", "reason": "too many logins in progress"])
            run(session.handle(.authenticated(.tooManyLogins)), context: context)
            return
        }
        io.runAsync(
            { () async -> Authenticator.Verdict in
                if let scramProofValid { return await authenticator.verifySCRAM(username: username, proofValid: scramProofValid) }
                return await authenticator.verify(username: username, password: password)
            }, on: .eventLoop, handler: self, context: context, whenClosed: .run
        ) { handler, context, verdict in
            switch verdict {
            case .success(let mailbox):
                authenticator.endLogin(slot)
                authenticator.recordSuccess(account: username)
                guard !handler.closed else { return }
                handler.logger.info("smtp auth succeeded", metadata: ["user": "\(mailbox.address)"])
                handler.answer(.authenticated(.success(user: mailbox.address)), context: context)
            case .invalidCredentials, .locked:
                let delay = authenticator.failureDelay(ip: client.ip, account: username)
                handler.server.metrics.authFailure(handler.server.protocolKind)
                handler.logger.notice(
                    "smtp auth failed", metadata: ["user": "\(username)", "reason": "\(verdict == .locked ? "locked" : "invalid credentials")"])
                handler.io.after(delay, handler: handler, context: context, whenClosed: .run) { handler, context in
                    authenticator.endLogin(slot)
                    guard !handler.closed else { return }
                    handler.answer(.authenticated(.invalidCredentials), context: context)
                }
            case .temporaryFailure:
                authenticator.endLogin(slot)
                guard !handler.closed else { return }
                handler.answer(.authenticated(.temporaryFailure), context: context)
            }
        }
    }

    func answer(_ event: SMTPServerEvent, context: ChannelHandlerContext) {
        run(session.handle(event), context: context)
        restartDeadline(context: context)
        processInput(context: context)
        flushIfNeeded(context: context)
    }

    /// A finished BDAT chunk; after a kept LAST chunk the decoder checks the message's end first.
    func completeChunk(octets: Int, keep: Bool, context: ChannelHandlerContext) {
        if keep && session.isAwaitingLastChunk {
            var tail: [UInt8] = []
            if chunkDecoder == nil { chunkDecoder = makeChunkDecoder() }
            chunkDecoder?.finish(into: &tail)
            appendToSpool(tail, context: context)
        }
        endBody(.chunk(octets: octets, keep: keep), context: context)
    }

    // MARK: - Spool

    /// Appends decoded body bytes. A write to the spool file runs on the thread pool; until it is done
    /// no more body is consumed (`canConsumeInput`), so reading pauses, and `spoolWritten` goes on.
    func appendToSpool(_ bytes: [UInt8], context: ChannelHandlerContext) {
        guard !bytes.isEmpty else { return }
        guard let written = spool.append(bytes, pool: server.spoolPool, eventLoop: context.eventLoop) else { return }
        io.onLoop(written, handler: self, context: context) { handler, context, _ in
            handler.spoolWritten(context: context)
        }
    }

    /// The body is complete: answers the session now, or once the running spool write is done.
    func endBody(_ end: BodyEnd, context: ChannelHandlerContext) {
        guard !spool.isWriting else {
            mode = .draining(end)
            return
        }
        mode = .command
        switch end {
        case .data(let decoder):
            let outcome: BodyOutcome =
                decoder.error
                ?? (spool.hasFailed
                    ? .storageFailure
                    : .complete(octets: decoder.octetsDecoded, receivedFields: decoder.receivedFields))
            if case .complete = outcome { bodyForm = .smtpData(lineStartsWithDot: decoder.lineStartsWithDot) }
            restartDeadline(context: context)
            run(session.handle(.dataReceived(outcome)), context: context)
        case .chunk(let octets, let keep):
            answerChunk(octets: octets, keep: keep, context: context)
        }
    }

    /// A spool write finished: a body that waited for it is answered, and input goes on.
    func spoolWritten(context: ChannelHandlerContext) {
        if case .draining(let end) = mode { endBody(end, context: context) }
        processInput(context: context)
        flushIfNeeded(context: context)
    }

    /// Answers a finished BDAT chunk (the spool has written all of it).
    func answerChunk(octets: Int, keep: Bool, context: ChannelHandlerContext) {
        let outcome: BodyOutcome
        if !keep {
            outcome = .complete(octets: Int64(octets))
        } else {
            if let error = chunkDecoder?.error {
                outcome = error
            } else if spool.hasFailed {
                outcome = .storageFailure
            } else {
                outcome = .complete(octets: Int64(octets), receivedFields: chunkDecoder?.receivedFields ?? 0)
            }
        }
        run(session.handle(.chunkReceived(outcome)), context: context)
    }

    func makeChunkDecoder() -> ChunkDecoder {
        ChunkDecoder(
            maxMessageSize: server.configuration.maxMessageSize, maxLineLength: server.configuration.maxTextLineLength,
            hopCount: server.configuration.hopCount)
    }

    func resolve(_ query: RecipientQuery, context: ChannelHandlerContext) {
        let server = self.server
        let client = session.client
        let isAuthenticated = session.authenticatedUser != nil
        let declaredSize = session.declaredMessageSize
        io.runAsync(
            { await server.decide(query, client: client, isAuthenticated: isAuthenticated, declaredSize: declaredSize) },
            on: .eventLoop, handler: self, context: context
        ) { handler, context, decision in
            handler.recipientDecided(decision, query: query, context: context)
        }
    }

    // MARK: - Flow control, timeouts, close

    func flushIfNeeded(context: ChannelHandlerContext) {
        io.flushIfNeeded(context: context)
    }

    func closeConnection(context: ChannelHandlerContext) {
        io.close(context: context)
    }

    func closeIfIdleForShutdown(context: ChannelHandlerContext) {
        guard case .command = mode, !session.isAwaitingAnswer, !session.isStoring, !closed else { return }
        run(session.handle(.shutdown), context: context)
        flushIfNeeded(context: context)
    }

    /// The client's timeout in the current mode (`ConnectionDeadlineOwner`).
    var clientTimeout: TimeAmount {
        if case .command = mode { return server.commandTimeout }
        return server.dataTimeout
    }

    // MARK: - Deadlines (docs/CONFIGURATION.md: what `command_timeout` and `data_timeout` measure)

    /// While a store or an answer is outstanding our own work is slow, not the client: the timer re-arms.
    /// A STARTTLS handshake is the client's work: it counts.
    var serverBusy: Bool { session.isStoring || spool.isWriting || (!canConsumeInput && !session.isAwaitingTLS) }

    /// The server now waits for the client's next line (command mode) or next text line (DATA, BDAT):
    /// the client has the mode's timeout from now. Called when a line was taken, a reply or answer went
    /// out, the greeting was sent, TLS was established, or the mode changed.
    func restartDeadline(context: ChannelHandlerContext) {
        io.restartDeadline(lineStarted: io.bufferedBytes > 0, context: context, owner: self)
    }

    /// Before appending received bytes. Command mode: the first byte of a line starts its deadline; later
    /// bytes of the same line do not move it. DATA / BDAT: each line end restarts it; bytes without a line
    /// end only start it (the first byte after a line end), so a text line must also arrive whole within
    /// `data_timeout` of its first byte.
    func noteArrival(of incoming: ByteBuffer, context: ChannelHandlerContext) {
        let view = incoming.readableBytesView
        guard !view.isEmpty else { return }
        if case .command = mode {
            lineBytesArrived(context: context)
            return
        }
        guard let end = view.lastIndex(of: UInt8(ascii: "\n")) else {
            lineBytesArrived(context: context)
            return
        }
        io.restartDeadline(lineStarted: view.index(after: end) != view.endIndex, context: context, owner: self)
    }

    func lineBytesArrived(context: ChannelHandlerContext) {
        io.lineBytesArrived(context: context, owner: self)
    }

    func deadlineExpired(context: ChannelHandlerContext) {
        logger.info("smtp timeout", metadata: ["mode": "\(modeName)", "partial_line": "\(io.lineStarted)"])
        run(session.handle(.timeout), context: context)
        flushIfNeeded(context: context)
    }

    var modeName: String {
        switch mode {
        case .command: return "command"
        case .data: return "data"
        case .chunk: return "bdat"
        case .draining: return "spool"
        }
    }
}

extension SMTPConnectionHandler: ConnectionDeadlineOwner {}
