/// One outbound SMTP connection over SwiftNIO: runs the pure `SMTPClientSession`'s actions (writes,
/// STARTTLS, body streaming), feeds it replies, TLS results, closes and timeouts (RFC 5321 §4.5.3.2).
///
/// `connect` returns once the greeting, EHLO, STARTTLS and AUTH are done; `send` runs one transaction and
/// can be called again for the next message (RSET in between); `quit` says goodbye. Calls are serialized
/// by the actor. The body is read from the store in chunks (`bodyChunkSize`), dot-stuffed and written
/// with backpressure: each chunk is written before the next is read, within the body-chunk timeout.
import Logging
import MailCore
import NIOCore
import NIOPosix
import NIOSSL
import SMTPCore

public actor SMTPClientConnection {
    private let channel: any Channel
    private let configuration: SMTPClientConfiguration
    private let logger: Logger
    private let events: AsyncStream<SMTPClientChannelEvent>
    private let eventSink: AsyncStream<SMTPClientChannelEvent>.Continuation
    private var iterator: AsyncStream<SMTPClientChannelEvent>.Iterator
    private var session: SMTPClientSession
    private var timerGeneration = 0
    /// The body reader of the running transaction.
    private var bodyReader: (@Sendable (Int64, Int) async throws -> [UInt8])?

    /// The 220 greeting.
    public var peerGreeting: SMTPReply? { session.greeting }
    /// What the server announced in its (last) EHLO reply.
    public var capabilities: SMTPCapabilities { session.capabilities }
    /// Protocol and cipher when STARTTLS was used.
    public var tlsInfo: TLSInfo? { session.tlsInfo }
    /// The last commands and replies (no AUTH payloads, no body), for the debug log of a failed session.
    public var transcript: SMTPClientTranscript { session.transcript }
    /// The peer address.
    public nonisolated var remoteAddress: SocketAddress? { channel.remoteAddress }
    /// False once the connection failed, was closed by the peer, or was quit.
    public var isUsable: Bool { session.isReady && channel.isActive }

    private init(
        channel: any Channel, configuration: SMTPClientConfiguration, logger: Logger,
        events: AsyncStream<SMTPClientChannelEvent>, eventSink: AsyncStream<SMTPClientChannelEvent>.Continuation
    ) {
        self.channel = channel
        self.configuration = configuration
        self.logger = logger
        self.events = events
        self.eventSink = eventSink
        self.iterator = events.makeAsyncIterator()
        self.session = SMTPClientSession(configuration: configuration.sessionConfiguration)
    }

    /// Connects, reads the greeting, says EHLO (HELO), does STARTTLS and AUTH as configured.
    /// - Parameter serverName: the host name of the server (MX name), for SNI and certificate checks.
    /// - Throws: `SMTPClientError` (`.connectFailed` when the TCP connect fails or times out).
    public static func connect(
        to address: SocketAddress, serverName: String?, configuration: SMTPClientConfiguration,
        group: any EventLoopGroup, logger: Logger
    ) async throws -> SMTPClientConnection {
        let tlsContext: NIOSSLContext?
        do {
            tlsContext = try configuration.makeTLSContext()
        } catch {
            throw SMTPClientError.localFailure("cannot create the TLS client context: \(error)")
        }
        let (events, sink) = AsyncStream.makeStream(of: SMTPClientChannelEvent.self)
        let parser = SMTPReplyParser(maxLineLength: configuration.maxReplyLineLength, maxLines: configuration.maxReplyLines)
        let hostname = configuration.expectedServerName ?? serverName
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(configuration.timeouts.connect)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        SMTPClientChannelHandler(parser: parser, events: sink, tlsContext: tlsContext, serverHostname: hostname))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(to: address).get()
        } catch {
            sink.finish()
            throw SMTPClientError.connectFailed("\(address): \(error)")
        }
        let connection = SMTPClientConnection(
            channel: channel, configuration: configuration, logger: logger,
            events: events, eventSink: sink)
        try await connection.start()
        return connection
    }

    private func start() async throws {
        logger.debug("smtp client connected", metadata: ["peer": "\(channel.remoteAddress.map { "\($0)" } ?? "?")"])
        var actions = session.receive(.connected)
        while true {
            if let outcome = try await run(actions) {
                if case .ready = outcome { return }
                throw SMTPClientError.invalidState("unexpected outcome during connection setup")
            }
            actions = await nextActions()
        }
    }

    /// Sends one message. Returns one result per recipient; throws `SMTPClientError` when the session
    /// failed (then nothing is known about any recipient: retry them all later) or is not ready.
    public func send(_ transaction: OutboundTransaction) async throws -> OutboundTransactionResult {
        guard session.isReady, channel.isActive else {
            throw session.failure ?? SMTPClientError.invalidState("the connection is not ready")
        }
        bodyReader = transaction.read
        defer { bodyReader = nil }
        var actions = session.receive(.startTransaction(transaction.clientEnvelope))
        while true {
            if let outcome = try await run(actions) {
                if case .transaction(let result) = outcome { return result }
                throw SMTPClientError.invalidState("unexpected outcome during a transaction")
            }
            actions = await nextActions()
        }
    }

    /// Sends QUIT, waits briefly for 221 and closes. Never throws.
    public func quit() async {
        if session.isReady, channel.isActive {
            var actions = session.receive(.quit)
            while !session.isClosed {
                _ = try? await run(actions)
                if session.isClosed { break }
                actions = await nextActions()
            }
        }
        await close()
    }

    /// Closes the connection without QUIT.
    public func close() async {
        if !session.isClosed { _ = session.receive(.closed) }
        try? await channel.close()
        eventSink.finish()
    }

    // MARK: - Running actions

    private enum Outcome {
        case ready
        case transaction(SMTPTransactionResult)
    }

    /// Runs actions; returns an outcome when one is reached (after running the rest), throws on failure.
    private func run(_ actions: [SMTPClientAction]) async throws -> Outcome? {
        var outcome: Outcome?
        var failure: SMTPClientError?
        var pending = actions
        while !pending.isEmpty {
            let action = pending.removeFirst()
            switch action {
            case .send(let bytes):
                if session.awaitsStartTLSReply {
                    // This is STARTTLS: the handler must hold what follows its reply for the session's decision.
                    do {
                        try await onHandler { $0.holdAfterNextReply() }
                    } catch {
                        pending += session.receive(.localFailure("cannot prepare STARTTLS: \(error)"))
                        continue
                    }
                }
                do {
                    try await write(bytes, timeout: configuration.timeouts.command)
                } catch {
                    pending += session.receive(writeError: error)
                }
            case .startTLS:
                do {
                    try await onHandler { try $0.startTLS() }
                } catch {
                    pending += session.receive(.tlsFailed("\(error)"))
                }
            case .sendBody:
                pending += await sendBody()
            case .ready:
                outcome = .ready
                if let tls = session.tlsInfo {
                    logger.debug("smtp client ready", metadata: ["tls": "\(tls)", "server": "\(session.capabilities.serverName)"])
                }
            case .transactionComplete(let result):
                outcome = .transaction(result)
            case .failed(let error):
                failure = error
                logger.debug(
                    "smtp client session failed",
                    metadata: [
                        "error": "\(error)", "transcript": "\(session.transcript.text)"
                    ])
            case .close:
                channel.close(promise: nil)
            }
        }
        if let failure { throw failure }
        return outcome
    }

    /// Waits for the next channel event (within the timeout for what the session waits for) and feeds it.
    private func nextActions() async -> [SMTPClientAction] {
        let timeout: TimeAmount?
        switch session.waitingFor {
        case .nothing: timeout = nil
        case .greeting: timeout = configuration.timeouts.greeting
        case .command, .tlsHandshake: timeout = configuration.timeouts.command
        case .dataCommand: timeout = configuration.timeouts.dataCommand
        case .finalDot: timeout = configuration.timeouts.finalDot
        case .quit: timeout = configuration.timeouts.quit
        }
        timerGeneration += 1
        let generation = timerGeneration
        let sink = eventSink
        let timer = timeout.map { amount in
            channel.eventLoop.scheduleTask(in: amount) { sink.yield(.timeout(generation: generation)) }
        }
        defer { timer?.cancel() }
        while true {
            // (AsyncStream's iterator is a reference to the stream's storage: a copy reads the same events.)
            var current = iterator
            let next = await current.next(isolation: self)
            iterator = current
            guard let event = next else { return session.receive(.closed) }
            switch event {
            case .timeout(let tag):
                if tag == generation { return session.receive(.timedOut) }
            case .reply(let reply):
                let held = session.awaitsStartTLSReply
                let actions = session.receive(.reply(reply))
                if held, !actions.contains(.startTLS) {
                    // STARTTLS refused (or the session failed): read in plaintext again.
                    do { try await onHandler { $0.resume() } } catch { return actions + session.receive(.closed) }
                }
                return actions
            case .malformed(let error): return session.receive(.malformedReply(error))
            case .tlsEstablished(let info): return session.receive(.tlsEstablished(info))
            case .tlsFailed(let reason): return session.receive(.tlsFailed(reason))
            case .error(let text):
                logger.debug("smtp client connection error", metadata: ["error": "\(text)"])
            case .closed: return session.receive(.closed)
            }
        }
    }

    /// Runs `body` with the channel handler on the event loop.
    private func onHandler<T: Sendable>(_ body: @escaping @Sendable (SMTPClientChannelHandler) throws -> T) async throws -> T {
        let pipeline = channel.pipeline
        return try await channel.eventLoop.submit {
            try body(try pipeline.syncOperations.handler(type: SMTPClientChannelHandler.self))
        }.get()
    }

    // MARK: - Writing

    /// Writes and flushes; completes when NIO has handed the octets to the kernel (backpressure).
    /// On timeout the channel is closed and `SMTPClientWriteTimedOut` thrown.
    private func write(_ bytes: [UInt8], timeout: TimeAmount) async throws {
        let buffer = channel.allocator.buffer(bytes: bytes)
        let deadline = NIODeadline.now() + timeout
        let channel = self.channel
        let timer = channel.eventLoop.scheduleTask(deadline: deadline) { channel.close(promise: nil) }
        defer { timer.cancel() }
        do {
            try await channel.writeAndFlush(buffer)
        } catch {
            if NIODeadline.now() >= deadline { throw SMTPClientWriteTimedOut() }
            throw error
        }
    }

    /// Streams the body: read a chunk, dot-stuff it, write it (within the body-chunk timeout), repeat;
    /// then the end of data. A read error closes the connection (a truncated message must never be ended
    /// with "."), a write error or timeout fails the session.
    private func sendBody() async -> [SMTPClientAction] {
        guard let read = bodyReader else {
            channel.close(promise: nil)
            return session.receive(.closed)
        }
        var encoder = SMTPBodyEncoder()
        var offset: Int64 = 0
        let chunkSize = max(configuration.bodyChunkSize, 512)
        while true {
            let chunk: [UInt8]
            do {
                chunk = try await read(offset, chunkSize)
            } catch {
                channel.close(promise: nil)
                return session.receive(.localFailure("cannot read the message at offset \(offset): \(error)"))
            }
            var out: [UInt8] = []
            if chunk.isEmpty {
                out = encoder.finish()
            } else {
                offset += Int64(chunk.count)
                out.reserveCapacity(chunk.count + chunk.count / 32 + 8)
                encoder.encode(chunk, into: &out)
            }
            do {
                try await write(out, timeout: configuration.timeouts.bodyChunk)
            } catch {
                return session.receive(writeError: error)
            }
            if chunk.isEmpty { return [] }
        }
    }
}

/// A write did not complete within its timeout.
private struct SMTPClientWriteTimedOut: Error {}

extension SMTPClientSession {
    /// Feeds a write failure: a timeout or a lost connection.
    fileprivate mutating func receive(writeError: any Error) -> [SMTPClientAction] {
        if writeError is SMTPClientWriteTimedOut { return receive(.timedOut) }
        return receive(.closed)
    }
}
