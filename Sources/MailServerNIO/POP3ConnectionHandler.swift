/// The POP3 connection adapter: frames command lines, feeds the pure `POP3ServerSession`, and runs its
/// actions — authenticate (off the event loop, with a growing delay after failures), stream a message
/// through `POP3MessageEncoder` one chunk at a time (a 50 MB message is never held in memory), commit
/// deletions at QUIT, release the maildrop lock however the connection ends.
///
/// RETR/TOP (RFC 1939 §5, §7): each 64 KiB chunk is read *and* dot-stuffed by one Swift task
/// (`MessageRetrieval.readMessage`, async in every store, with the body key of the session's maildrop
/// entry), so a message of up to 80 KiB costs one task and one hop back to the event loop; the chunk that
/// reaches the listed size ends the message without another read. The next chunk is read only once the
/// previous one is written out to the socket (write backpressure): one chunk in memory per message, however
/// large. After a RETR the next messages of the maildrop are read ahead in one task and one store read
/// (`readMessages`: on SQLite one hand-off to its reading thread and one read transaction for the batch)
/// while the client handles the current one (clients fetch in order, so the next RETR is usually answered at once): only
/// messages that fit in one chunk, at most `readAheadMessages` (32) and `readAheadBytes` (1 MiB) ahead
/// per connection (`startReadAhead`).
///
/// The maildrop lock is a lease in the store (MaildropLocks.swift): taken at login, renewed by a task
/// while the session lives, given back before the QUIT answer and whenever the connection ends.
///
/// Limits while reading: command lines have 255 octets (RFC 2449 §4), AUTH lines and SASL
/// responses 12288; a line that passes its limit before its line end gets `-ERR` and the connection
/// closes. `maxSessionBytes` caps what one connection may send. `idle_timeout` is a per-line deadline
/// (from the moment the server waits for a line, restarted once by its first byte); a client that stops
/// reading a RETR answer is closed after the same time (docs/CONFIGURATION.md).
import Logging
import MailCore
import MailStore
import NIOCore
import NIOPosix
import POP3Core

public final class POP3ConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// What this connection uses of the server: configuration, store (reads, maildrop leases), clock, metrics.
    private let server: POP3ServerContext
    private let client: ClientInfo
    private var session: POP3ServerSession
    /// Input buffer, framer, read suspension, flushing, idle timer, close, the switch to TLS.
    private let io: ConnectionIO
    private var logger: Logger
    /// The maildrop lock this connection holds (released however the connection ends), and the task
    /// renewing it. The listing itself (delivery ids, sizes, body keys) is the session's `maildrop`.
    private var lease: MaildropLease?
    private var heartbeat: Task<Void, Never>?
    /// Messages after the last RETR, read and encoded ahead in a task, by delivery id (each fits in
    /// one chunk). Read in batches (`startReadAhead`), so a client fetching many small messages in order
    /// costs one task and one event-loop wake-up per batch, not per message.
    private var readAhead: [Int64: EventLoopFuture<EncodedChunk>] = [:]
    /// The snapshot index after the last message read ahead (where the next batch starts).
    private var readAheadEnd = 0
    /// A RETR/TOP is being streamed: its "+OK" line waits to go out with the first chunk (one write, one
    /// TCP segment, one client wake-up per message instead of two).
    private var retrieving = false
    /// A chunk of a RETR/TOP answer is written and not yet taken by the client (TCP backpressure): the
    /// client's time, not the server's.
    private var waitingForClientToRead = false
    /// Octets received on this connection (for `maxSessionBytes`).
    private var sessionBytes: Int64 = 0
    /// The server is stopping: the session is closed as soon as it waits for nothing.
    private var shutdownRequested = false

    private static let maxBufferedInput = 16 * 1024
    static let chunkSize = 64 * 1024
    /// A rest up to this size is read as the last chunk, so a message just over 64 KiB (a 64 KiB body plus
    /// trace headers) is still one read, not a full chunk and a tiny one.
    static let lastChunkLimit = chunkSize + chunkSize / 4
    /// Read-ahead bounds per connection: at most `readAheadMessages` messages and `readAheadBytes` octets
    /// read ahead at any time (or one message of up to `lastChunkLimit` when nothing else is); a new batch
    /// starts when fewer than half the messages and less than half the octets are left, so a batch is
    /// about 16 small messages or eight of 64 KiB (one store read each). 1 MiB, not 256 KiB, since
    /// 2026-12-06: a 64 KiB RETR cost 0.044–0.048 ms of server CPU instead of 0.048–0.058 (a hand-off to
    /// the store's reading thread every eight RETRs, not every two; BENCHMARKS.md). It is held only while
    /// the client fetches, and a client that stops reading gets no further answer made (`processInput`).
    static let readAheadMessages = 32
    static let readAheadBytes: Int64 = 1024 * 1024

    public init(server: POP3ServerContext, client: ClientInfo) {
        self.server = server
        self.client = client
        self.session = POP3ServerSession(configuration: server.configuration)
        // The framer's limit is set per line (`commandLineLimit`).
        self.io = ConnectionIO(
            protocolName: "pop3", maxBufferedInput: Self.maxBufferedInput,
            maxLineLength: server.configuration.maxCommandLineLength)
        var logger = server.logger
        logger[metadataKey: "client"] = "\(client.ip.map { "\($0)" } ?? "unknown")"
        self.logger = logger
    }

    // MARK: - Channel events

    public func channelActive(context: ChannelHandlerContext) {
        logger.debug("pop3 connection opened", metadata: ["port": "\(client.port)"])
        run(session.handle(.connected), context: context)
        flushIfNeeded(context: context)
        restartDeadline(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        io.channelInactive()
        readAhead = [:]
        releaseLock()
        logger.debug("pop3 connection closed")
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        guard !closed else { return }
        server.metrics.bytesReceived(server.protocolKind, incoming.readableBytes)
        sessionBytes += Int64(incoming.readableBytes)
        if server.maxSessionBytes > 0 && sessionBytes > server.maxSessionBytes {
            io.buffer = nil
            logger.notice("pop3 session byte limit exceeded", metadata: ["bytes": "\(sessionBytes)"])
            run(session.handle(.sessionByteLimitExceeded), context: context)
            flushIfNeeded(context: context)
            return
        }
        if !incoming.readableBytesView.isEmpty { lineBytesArrived(context: context) }
        io.append(&incoming)
        processInput(context: context)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded(context: context)
        context.fireChannelReadComplete()
    }

    public func read(context: ChannelHandlerContext) {
        io.read(context: context, canConsumeInput: !session.isAwaitingAnswer)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && !closed {
            // The client read enough of the answers: take the commands it pipelined meanwhile.
            processInput(context: context)
            flushIfNeeded(context: context)
        } else {
            io.writabilityChanged(context: context, canConsumeInput: !session.isAwaitingAnswer)
        }
        context.fireChannelWritabilityChanged()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ShutdownRequested {
            // RFC 1939 has no "server closing" reply; an idle session is simply closed (nothing is deleted),
            // a busy one once its answer is out (`answered`).
            shutdownRequested = true
            if !session.isAwaitingAnswer { closeConnection(context: context) }
        } else if let info = io.handshakeCompleted(event, context: context, logger: logger) {
            answered(.tlsEstablished(info), context: context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        io.errorCaught(error, context: context, logger: logger)
    }

    // MARK: - Input

    /// The framer's limit for the next line: 255 octets (RFC 2449 §4); a SASL response, or (before
    /// login) a line starting with `AUTH `, may have `maxAuthLineLength`.
    private var commandLineLimit: LineLimit {
        let configuration = server.configuration
        let auth = max(configuration.maxAuthLineLength, configuration.maxCommandLineLength)
        if session.isAwaitingSASLResponse { return .fixed(auth) }
        if session.mayAuthenticate {
            return LineLimit(maxLength: configuration.maxCommandLineLength, extendedPrefix: "AUTH ", extendedMaxLength: auth)
        }
        return .fixed(configuration.maxCommandLineLength)
    }

    /// Takes the buffered command lines one by one while the session can answer them and the channel is
    /// writable: a client that pipelines RETR (or LIST) and does not read the answers gets no further
    /// answer made until it reads (`channelWritabilityChanged`), so what the server holds for it is
    /// the answers NIO's high-water mark lets through plus the read-ahead — not one answer per pipelined
    /// command (16 KiB of them would be ~1,800 RETRs).
    private func processInput(context: ChannelHandlerContext) {
        var linesTaken = false
        while !closed, !session.isClosed, !session.isAwaitingAnswer, context.channel.isWritable, var buf = io.buffer,
            buf.readableBytes > 0
        {
            io.buffer = nil
            io.framer.limit = commandLineLimit
            let framed = io.framer.next(from: &buf)
            io.buffer = buf.readableBytes > 0 ? buf : nil
            guard let framed else { break }
            linesTaken = true
            switch framed {
            case .line(let bytes), .bareLineFeed(let bytes):
                // POP3 clients are lenient about line ends and nothing is smuggled through a command line.
                run(session.handle(.line(bytes)), context: context)
            case .tooLong:
                logger.notice("pop3 line too long", metadata: ["limit": "\(io.framer.maxLength)"])
                run(session.handle(.lineTooLong), context: context)
            }
        }
        // A line was taken: the next one has its own deadline (bytes of it may already be here).
        if linesTaken && !closed { restartDeadline(context: context) }
        if session.isAwaitingAnswer { flushIfNeeded(context: context) }
        io.resumeReadingIfPossible(context: context, canConsumeInput: !session.isAwaitingAnswer)
    }

    private func answered(_ event: POP3ServerEvent, context: ChannelHandlerContext) {
        guard !closed else { return }
        run(session.handle(event), context: context)
        if shutdownRequested && !session.isAwaitingAnswer {
            flushIfNeeded(context: context)
            closeConnection(context: context)
            return
        }
        restartDeadline(context: context)
        processInput(context: context)
        flushIfNeeded(context: context)
    }

    // MARK: - Actions

    private func run(_ actions: [POP3ServerAction], context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .send(let bytes):
                io.write(bytes, context: context)
            case .authenticate(let user, let password):
                authenticate(user: user, password: password, context: context)
            case .lookupSCRAM(let user):
                let authenticator = server.authenticator
                io.runAsync(
                    { await authenticator.scramParameters(username: user) }, on: .eventLoop, handler: self,
                    context: context
                ) { handler, context, parameters in
                    handler.answered(.scramParameters(parameters), context: context)
                }
            case .authenticateSCRAM(let user, let proofValid):
                authenticate(user: user, password: "", scramProofValid: proofValid, context: context)
            case .sendMessage(let deliveryID, let topLines):
                guard let mailboxID = session.mailboxID, let maildrop = session.maildrop,
                    let number = maildrop.number(ofDelivery: deliveryID), let entry = maildrop.entry(number)
                else {
                    answered(.messageSent(false), context: context)
                    return
                }
                let index = number - 1
                let message = Self.retrievable(entry)
                if topLines == nil { server.metrics.pop3Retrieval() }
                retrieving = true
                let first: EventLoopFuture<EncodedChunk>
                if topLines == nil, let ahead = readAhead.removeValue(forKey: deliveryID) {
                    first = ahead
                } else {
                    first = readChunk(
                        mailboxID: mailboxID, message: message, offset: 0,
                        encoder: POP3MessageEncoder(topLines: topLines, form: message.form), context: context)
                }
                send(first, mailboxID: mailboxID, message: message, index: index, isRetr: topLines == nil, context: context)
            case .commitDeletions(let ids):
                commit(ids, context: context)
            case .releaseMaildrop:
                releaseLock()
            case .startTLS:
                startTLS(context: context)
            case .close:
                closeConnection(context: context)
                return
            }
        }
    }

    /// STLS (RFC 2595 §4): "+OK" in plain text, pipelined bytes discarded, then the TLS handler in front
    /// (`ConnectionIO.switchToTLS`; STLS is only allowed before login, so no RETR is being streamed).
    private func startTLS(context: ChannelHandlerContext) {
        if !io.switchToTLS(server.tls, command: "STLS", context: context, logger: logger) {
            closeConnection(context: context)
        }
    }

    /// Checks a login within the bound of logins in flight (AuthThrottle.swift): over it,
    /// `-ERR [SYS/TEMP]` and close without checking. The slot is held until the answer is due — for a
    /// failure, until its delay has passed, even when the client has gone.
    private func authenticate(user: String, password: String, scramProofValid: Bool? = nil, context: ChannelHandlerContext) {
        let server = self.server
        let client = self.client
        guard let slot = server.authenticator.beginLogin(ip: client.ip, account: user) else {
            server.metrics.pop3Login(.refused)
            server.metrics.authFailure(server.protocolKind)
            logger.notice("pop3 login refused", metadata: ["user": "\(user)", "reason": "too many logins in progress"])
            run(session.handle(.authenticated(.tooManyLogins)), context: context)
            return
        }
        // `.run`: the login slot and a maildrop lock taken meanwhile are given back when the client has gone.
        io.runAsync(
            { () async -> POP3ServerContext.LoginResult in
                if let scramProofValid {
                    return await server.authenticateSCRAM(username: user, proofValid: scramProofValid, client: client)
                }
                return await server.authenticate(username: user, password: password, client: client)
            }, on: .eventLoop, handler: self, context: context, whenClosed: .run
        ) { handler, context, login in
            let result = login.answer
            switch result {
            case .success:
                server.authenticator.endLogin(slot)
                handler.logger.info("pop3 login", metadata: ["user": "\(user)"])
                server.metrics.pop3Login(.success)
                server.authenticator.recordSuccess(account: user)
                if handler.closed {
                    // The client left while we were checking: give the lock back at once.
                    if let lease = login.lease { Self.release(lease, store: server.store, logger: handler.logger) }
                    return
                }
                if let lease = login.lease { handler.hold(lease, context: context) }
                handler.answered(.authenticated(result), context: context)
            case .invalidCredentials, .locked:
                let delay = server.authenticator.failureDelay(ip: client.ip, account: user)
                server.metrics.pop3Login(.failure)
                server.metrics.authFailure(server.protocolKind)
                handler.logger.notice("pop3 login failed", metadata: ["user": "\(user)", "reason": "\(result)"])
                handler.io.after(delay, handler: handler, context: context, whenClosed: .run) { handler, context in
                    server.authenticator.endLogin(slot)
                    handler.answered(.authenticated(result), context: context)
                }
            case .inUse, .temporaryFailure, .tooManyLogins:
                server.authenticator.endLogin(slot)
                server.metrics.pop3Login(.refused)
                handler.logger.notice("pop3 login refused", metadata: ["user": "\(user)", "reason": "\(result)"])
                handler.answered(.authenticated(result), context: context)
            }
        }
    }

    /// The store's handle for a message of the session's maildrop.
    private static func retrievable(_ entry: MaildropEntry) -> RetrievableMessage {
        RetrievableMessage(
            deliveryID: entry.deliveryID, bodyID: entry.bodyKey, size: entry.size, uniqueID: entry.uniqueID, form: entry.form)
    }

    /// One chunk read and encoded in a task. `tail` is the response's terminator after the last chunk.
    private struct EncodedChunk: Sendable {
        var buffer: ByteBuffer
        var tail: ByteBuffer?
        var encoder: POP3MessageEncoder
        var done: Bool
        var nextOffset: Int64
    }

    /// The four terminators, made once (a shared buffer is written without a copy or an allocation).
    private static let terminators: [POP3MessageEncoder.Terminator: ByteBuffer] = Dictionary(
        uniqueKeysWithValues: POP3MessageEncoder.Terminator.allCases.map { ($0, ByteBuffer(bytes: $0.bytes)) })

    /// Starts reading and encoding one chunk in a Swift task (the store's read is async).
    private func readChunk(
        mailboxID: Int64, message: RetrievableMessage, offset: Int64, encoder: POP3MessageEncoder,
        context: ChannelHandlerContext
    ) -> EventLoopFuture<EncodedChunk> {
        let store = server.store
        let allocator = context.channel.allocator
        let promise = context.eventLoop.makePromise(of: EncodedChunk.self)
        promise.completeWithTask(on: .eventLoop) {
            try await Self.readAndEncode(
                store: store, mailboxID: mailboxID, message: message, offset: offset,
                encoder: encoder, allocator: allocator)
        }
        return promise.futureResult
    }

    /// Writes the chunk when it is ready, then reads the next one once it is written: memory stays at one
    /// chunk (plus the read-ahead). The last chunk answers `.messageSent`.
    private func send(
        _ chunk: EventLoopFuture<EncodedChunk>, mailboxID: Int64, message: RetrievableMessage, index: Int,
        isRetr: Bool, context: ChannelHandlerContext
    ) {
        io.onLoop(chunk, handler: self, context: context) { handler, context, result in
            switch result {
            case .failure(let error):
                handler.logger.error("pop3 message read failed", metadata: ["delivery": "\(message.deliveryID)", "error": "\(error)"])
                handler.retrieving = false
                handler.answered(.messageSent(false), context: context)
            case .success(let chunk):
                if chunk.done {
                    handler.io.write(chunk.buffer, context: context)
                    if let tail = chunk.tail { handler.io.write(tail, context: context) }
                    handler.retrieving = false
                    if isRetr { handler.startReadAhead(after: index, mailboxID: mailboxID, context: context) }
                    handler.answered(.messageSent(true), context: context)
                } else {
                    handler.waitingForClientToRead = true
                    let written = context.writeAndFlush(handler.wrapOutboundOut(chunk.buffer))
                    handler.io.onLoop(written, handler: handler, context: context, whenClosed: .run) { handler, context, written in
                        handler.waitingForClientToRead = false
                        guard case .success = written, !handler.closed else { return }
                        // The client took a chunk: progress on its side, its deadline starts again.
                        handler.restartDeadline(context: context)
                        let next = handler.readChunk(
                            mailboxID: mailboxID, message: message, offset: chunk.nextOffset,
                            encoder: chunk.encoder, context: context)
                        handler.send(next, mailboxID: mailboxID, message: message, index: index, isRetr: isRetr, context: context)
                    }
                }
            }
        }
    }

    /// After the RETR of `index`: forgets what was read ahead at or before it (the client went on, or
    /// back), and when fewer than half of `readAheadMessages` and of `readAheadBytes` are left ahead, reads
    /// the next batch of messages in snapshot order in one task and one store read: each not marked deleted and fitting in one
    /// (last) chunk, while what is ahead stays within `readAheadBytes` (one message is always allowed
    /// when nothing is ahead). Stops at the first message that does not qualify; it is read on demand.
    private func startReadAhead(after index: Int, mailboxID: Int64, context: ChannelHandlerContext) {
        guard let maildrop = session.maildrop else { return }
        readAhead = readAhead.filter { (maildrop.number(ofDelivery: $0.key) ?? 0) - 1 > index }
        var bytes = readAhead.keys.reduce(Int64(0)) { sum, id in
            sum + (maildrop.number(ofDelivery: id).flatMap { maildrop.entry($0)?.size } ?? 0)
        }
        guard readAhead.count < Self.readAheadMessages / 2, bytes < Self.readAheadBytes / 2 else { return }
        var next = readAhead.isEmpty ? index + 1 : max(index + 1, readAheadEnd)
        var batch: [RetrievableMessage] = []
        while next < maildrop.entries.count, readAhead.count + batch.count < Self.readAheadMessages {
            let nothingAhead = readAhead.isEmpty && batch.isEmpty
            guard let entry = maildrop.message(next + 1), entry.size <= Int64(Self.lastChunkLimit),
                nothingAhead || bytes + entry.size <= Self.readAheadBytes
            else { break }
            let message = Self.retrievable(entry)
            batch.append(message)
            bytes += message.size
            next += 1
        }
        guard !batch.isEmpty else { return }
        readAheadEnd = next
        let store = server.store
        let allocator = context.channel.allocator
        let jobs = batch // the task gets its own copy, not the loop's variable
        let promise = context.eventLoop.makePromise(of: [Result<EncodedChunk, any Error>].self)
        promise.completeWithTask(on: .eventLoop) {
            // One read for the batch (SQLite: one hand-off to its reading thread, one read transaction).
            let reads = await store.readMessages(mailboxID: mailboxID, messages: jobs)
            return zip(jobs, reads).map { message, read in
                read.map { bytes in
                    Self.encode(bytes, of: message, offset: 0, encoder: POP3MessageEncoder(topLines: nil, form: message.form), allocator: allocator)
                }
            }
        }
        let results = promise.futureResult
        for (position, message) in batch.enumerated() {
            readAhead[message.deliveryID] = results.flatMapThrowing { try $0[position].get() }
        }
    }

    /// One ranged read from the store (async), dot-stuffing, and the terminating line when the chunk
    /// reaches the snapshot size (or the store has nothing more, or a TOP limit is reached).
    private static func readAndEncode(
        store: any MailStore, mailboxID: Int64, message: RetrievableMessage, offset: Int64,
        encoder: POP3MessageEncoder, allocator: ByteBufferAllocator
    ) async throws -> EncodedChunk {
        let remaining = message.size - offset
        let length = remaining > 0 && remaining <= Int64(lastChunkLimit) ? Int(remaining) : chunkSize
        let bytes = try await store.readMessage(mailboxID: mailboxID, message: message, offset: offset, maxLength: length)
        return encode(bytes, of: message, offset: offset, encoder: encoder, allocator: allocator)
    }

    /// Dot-stuffs `bytes`, read from `offset` of `message`, and adds the terminating line when they reach the
    /// snapshot size (or are empty: the store has nothing more, or a TOP limit is reached).
    ///
    /// What the encoder hands back unchanged is counted, not copied: a chunk with no line to stuff and no
    /// line end to repair (most messages) goes out as the very buffer the store read, and the terminator as
    /// a ready buffer of its own. The first octet the encoder inserts starts a copy of what came before it.
    private static func encode(
        _ bytes: ByteBuffer, of message: RetrievableMessage, offset: Int64, encoder: POP3MessageEncoder,
        allocator: ByteBufferAllocator
    ) -> EncodedChunk {
        var encoder = encoder
        let nextOffset = offset + Int64(bytes.readableBytes)
        let reachedEnd = bytes.readableBytes == 0 || nextOffset >= message.size
        var unchanged = 0
        var copy: ByteBuffer?
        let stopped = bytes.withUnsafeReadableBytes { input in
            encoder.encode(input) { run in
                if copy == nil {
                    if let base = input.baseAddress, run.baseAddress == base + unchanged {
                        unchanged += run.count
                        return
                    }
                    var out = allocator.buffer(capacity: input.count + input.count / 32 + 8)
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: input[..<unchanged]))
                    copy = out
                }
                copy?.writeBytes(run)
            }
        }
        let done = stopped || reachedEnd
        let buffer = copy ?? bytes.getSlice(at: bytes.readerIndex, length: unchanged) ?? ByteBuffer()
        let tail = done ? terminators[encoder.finish()] : nil
        return EncodedChunk(buffer: buffer, tail: tail, encoder: encoder, done: done, nextOffset: nextOffset)
    }

    private func commit(_ ids: [Int64], context: ChannelHandlerContext) {
        guard let mailboxID = session.mailboxID else {
            answered(.updateFinished(true), context: context)
            return
        }
        let store = server.store
        let logger = self.logger
        // The lock is given back before the QUIT answer goes out (RFC 1939 §6: the UPDATE state ends the
        // session), so a client that logs in again right after "+OK" — on any node — finds the maildrop free.
        heartbeat?.cancel()
        heartbeat = nil
        let held = lease
        lease = nil
        io.runAsync(
            { () async throws -> Void in
                do {
                    try await store.deleteMessages(mailboxID: mailboxID, deliveryIDs: ids)
                } catch {
                    if let held { try? await store.releaseMaildropLock(held) }
                    throw error
                }
                if let held { try? await store.releaseMaildropLock(held) }
            }, on: .eventLoop, handler: self,
            context: context, whenClosed: .run
        ) { handler, context, result in
            switch result {
            case .success:
                if !ids.isEmpty { logger.info("pop3 messages deleted", metadata: ["count": "\(ids.count)", "mailbox": "\(mailboxID)"]) }
                handler.answered(.updateFinished(true), context: context)
            case .failure(let error):
                logger.error("pop3 update failed; nothing deleted", metadata: ["error": "\(error)"])
                handler.answered(.updateFinished(false), context: context)
            }
        }
    }

    // MARK: - Close, timeouts

    /// Holds the session's lease and starts renewing it; a lost lease closes the session (no deletions
    /// are committed: another session may own the maildrop by now).
    private func hold(_ lease: MaildropLease, context: ChannelHandlerContext) {
        self.lease = lease
        let store = server.store
        let duration = server.lockLease
        let clock = server.clock
        let logger = self.logger
        let lost = context.eventLoop.makePromise(of: Bool.self)
        heartbeat = Task {
            let gone = await MaildropLeaseKeeper.keep(lease, store: store, duration: duration, clock: clock, logger: logger)
            lost.succeed(gone != nil)
        }
        io.onLoop(lost.futureResult, handler: self, context: context) { handler, context, result in
            guard case .success(true) = result, handler.lease == lease else { return }
            handler.heartbeat = nil
            handler.lease = nil
            handler.logger.notice("pop3 session closed: maildrop lock lost", metadata: ["mailbox": "\(lease.mailboxID)"])
            handler.closeConnection(context: context)
        }
    }

    /// Gives the lock back in the background (the connection is ending; nothing waits for it).
    private func releaseLock() {
        heartbeat?.cancel()
        heartbeat = nil
        if let lease {
            Self.release(lease, store: server.store, logger: logger)
            self.lease = nil
        }
    }

    private static func release(_ lease: MaildropLease, store: any MailStore, logger: Logger) {
        Task {
            do {
                try await store.releaseMaildropLock(lease)
            } catch {
                logger.warning(
                    "pop3 maildrop lock release failed; it expires by itself",
                    metadata: ["mailbox": "\(lease.mailboxID)", "error": "\(error)"])
            }
        }
    }

    private var closed: Bool { io.closed }

    /// While a RETR/TOP is streamed, its "+OK" line waits for the first chunk.
    private func flushIfNeeded(context: ChannelHandlerContext) {
        if !retrieving { io.flushIfNeeded(context: context) }
    }

    private func closeConnection(context: ChannelHandlerContext) {
        guard !closed else { return }
        readAhead = [:]
        releaseLock()
        io.close(context: context)
    }

    // MARK: - Deadline (docs/CONFIGURATION.md: what `idle_timeout` measures)

    /// The client's timeout for each line (`ConnectionDeadlineOwner`).
    var clientTimeout: TimeAmount { server.idleTimeout }

    /// While the session waits for an answer (a login, a read, the update) the timer re-arms; a STLS
    /// handshake and a RETR chunk the client has not read yet are the client's time.
    var serverBusy: Bool {
        session.isAwaitingAnswer && !session.isAwaitingTLS && !waitingForClientToRead
    }

    /// The server now waits for the client's next line: it has `idle_timeout` from now (bytes of that
    /// line already buffered count as its start).
    private func restartDeadline(context: ChannelHandlerContext) {
        io.restartDeadline(lineStarted: io.bufferedBytes > 0, context: context, owner: self)
    }

    /// The first byte of a line starts its deadline; later bytes of the same line do not move it.
    private func lineBytesArrived(context: ChannelHandlerContext) {
        io.lineBytesArrived(context: context, owner: self)
    }

    func deadlineExpired(context: ChannelHandlerContext) {
        logger.info("pop3 timeout", metadata: ["partial_line": "\(io.lineStarted)", "retrieving": "\(waitingForClientToRead)"])
        run(session.handle(.timeout), context: context)
        flushIfNeeded(context: context)
    }
}

extension POP3ConnectionHandler: ConnectionDeadlineOwner {}
