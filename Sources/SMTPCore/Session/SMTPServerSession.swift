/// The SMTP server session state machine (RFC 5321 §3, §4.1.4 command order, §4.3.2 reply codes per
/// command; RFC 2920 PIPELINING, RFC 3030 CHUNKING, RFC 6531 SMTPUTF8, RFC 1870 SIZE; RFC 3207
/// STARTTLS, RFC 8314 implicit TLS, RFC 4954 AUTH, RFC 6409 submission).
///
/// A value that turns events into actions: no sockets, no clock, no storage. The adapter feeds
/// `.line` events while `isAwaitingAnswer` is false and answers every request action with its event.
/// Command handlers live in `SMTPServerSession+Commands.swift`, body/store handling in
/// `SMTPServerSession+Body.swift`, STARTTLS and AUTH in `SMTPServerSession+Security.swift`, the abuse
/// defences (local-sender check, invalid-recipient close) in `SMTPServerSession+Abuse.swift`.
import Foundation
import MailCore

public struct SMTPServerSession: Sendable {
    struct Hello: Sendable {
        /// As the client sent it (validated by the parser; may hold U-labels).
        var name: String
        var extended: Bool

        /// The name for the `Received:` header of a message (RFC 6532 §3.7 / RFC 6531 §3.7.3): U-labels
        /// only in an SMTPUTF8 message, A-labels (xn--) otherwise, so the header is valid 7-bit.
        func traceName(smtpUTF8: Bool) -> String {
            if smtpUTF8 { return name }
            return SMTPCommandParser.helloASCIIName(name) ?? "unknown"
        }
    }

    struct Transaction: Sendable {
        var mail: MailCommand
        var recipients: [EmailAddress] = []
        var recipientKeys: Set<String> = []
        var mailboxIDs: [Int64] = []
        var remoteRecipients: [RemoteRecipient] = []
        /// Local recipients with NOTIFY=SUCCESS (not for a `<>` sender).
        var localSuccessNotices: [LocalSuccessNotice] = []
        /// A BDAT chunk was accepted: DATA and RCPT are no longer allowed.
        var usedBDAT = false
        /// The adapter holds (part of) a body for this transaction.
        var bodySpooled = false
        var chunkOctets: Int64 = 0
    }

    enum Pending: Sendable {
        case recipient(RcptCommand)
        /// `.checkSenderDomain` was emitted for this MAIL; waiting for `.senderDomainChecked`.
        case senderDomain(MailCommand)
        case data
        /// `rejection` non-nil: the chunk is being discarded and this reply follows it.
        case chunk(size: Int, last: Bool, rejection: SMTPReply?, endsTransaction: Bool)
        case store(queueID: String, size: Int64)
        /// `.startTLS` was emitted; waiting for `.tlsEstablished`.
        case startTLS
        /// `.authenticate` was emitted; waiting for `.authenticated`.
        case authentication
        /// `.lookupSCRAM` was emitted; waiting for `.scramParameters`.
        case scramLookup
    }

    /// RFC 4954 §4: AUTH command lines and SASL continuation lines may be 12288 octets (CRLF included).
    public static let authLineLength = 12288

    public let configuration: SMTPServerConfiguration
    /// The client; `verifiedHostName` is set by `.clientNameResolved` before the greeting.
    public internal(set) var client: ClientInfo
    /// The greeting (or the refusal of a client that talked first) has been sent.
    public internal(set) var greeted = false
    var hello: Hello?
    var transaction: Transaction?
    var pending: Pending?
    public internal(set) var isClosed = false
    /// Error replies counted so far (see `reject`).
    public internal(set) var errorCount = 0
    /// Messages stored on this connection.
    public internal(set) var messagesStored = 0
    /// True once TLS is active: from the start with `implicitTLS`, else after `.tlsEstablished`.
    public internal(set) var isTLS: Bool
    /// What the adapter reported in `.tlsEstablished`.
    public internal(set) var tlsInfo: TLSInfo?
    /// The user name from `.authenticated(.success(user:))`; nil before AUTH and after a STARTTLS reset.
    public internal(set) var authenticatedUser: String?
    /// Failed AUTH attempts (535) so far; at `maxAuthFailures` the session closes.
    public internal(set) var authFailures = 0
    /// The running SASL exchange, between `AUTH` and its final step: lines go to it.
    var saslExchange: SASLServerExchange?

    public init(configuration: SMTPServerConfiguration, client: ClientInfo) {
        self.configuration = configuration
        self.client = client
        self.isTLS = configuration.implicitTLS
    }

    /// True while a resolve/receive/store answer is outstanding: the adapter must not deliver `.line`
    /// events then (it buffers input).
    public var isAwaitingAnswer: Bool { pending != nil }

    /// True while the outstanding request is a kept LAST BDAT chunk (the adapter then calls
    /// `ChunkDecoder.finish` before answering).
    public var isAwaitingLastChunk: Bool {
        if case .chunk(_, true, nil, _)? = pending { return true }
        return false
    }

    /// True between `.storeMessage` and `.messageStored`: the adapter checks and commits the message
    /// (it keeps the spooled body until then).
    public var isStoring: Bool {
        if case .store? = pending { return true }
        return false
    }

    /// True between an accepted MAIL and the end of the transaction.
    public var isInTransaction: Bool { transaction != nil }

    /// The SIZE the client declared on MAIL FROM (RFC 1870), if any: the adapter passes it to the
    /// recipient decision so a mailbox without room for it is refused at RCPT (quota).
    public var declaredMessageSize: Int? { transaction?.mail.size }

    /// The EHLO/HELO name, once given.
    public var heloName: String? { hello?.name }

    /// True between `AUTH` and the last step of its SASL exchange: the next line is a continuation.
    public var isInAuthExchange: Bool { saslExchange != nil }

    /// True between `.startTLS` and `.tlsEstablished`: the client's TLS handshake is running (the
    /// adapter's deadline keeps running too — the handshake is the client's work, not the server's).
    public var isAwaitingTLS: Bool {
        if case .startTLS? = pending { return true }
        return false
    }

    /// The longest line (CRLF included) the adapter's framer must accept right now:
    /// `authLineLength` (12288, RFC 4954 §4) while AUTH is possible or running, else
    /// `maxCommandLineLength`. Only lines starting with `AUTH ` (and continuation lines) may use the
    /// longer limit; the adapter's framer checks that prefix while reading, and the session itself
    /// refuses (500 5.5.6 and close) any other command line longer than `maxCommandLineLength`.
    public var maxLineLength: Int {
        if saslExchange != nil || (authenticatedUser == nil && (isTLS || configuration.allowPlaintextAuth)) {
            return max(Self.authLineLength, configuration.maxCommandLineLength)
        }
        return configuration.maxCommandLineLength
    }

    public mutating func handle(_ event: SMTPServerEvent) -> [SMTPServerAction] {
        guard !isClosed else { return [] }
        switch event {
        case .connected:
            guard !greeted else { return [] }
            greeted = true
            return [.send(.greeting(hostname: configuration.hostname))]
        case .clientNameResolved(let name):
            // Only before the greeting: the name goes into the Received: header of every message.
            guard !greeted else { return [] }
            client.verifiedHostName = name
            return []
        case .talkedBeforeGreeting:
            guard !greeted else { return [] }
            greeted = true
            isClosed = true
            return [.send(.talkedBeforeGreeting(hostname: configuration.hostname)), .close]
        case .line(let bytes):
            guard pending == nil else { return [] }
            if saslExchange != nil { return authContinuation(bytes) }
            return handleLine(bytes)
        case .lineTooLong:
            guard pending == nil else { return [] }
            return lineTooLong()
        case .bareLineFeed:
            guard pending == nil else { return [] }
            saslExchange = nil
            return reject(.bareLineFeedInCommand)
        case .tlsEstablished(let info):
            return tlsEstablished(info)
        case .authenticated(let outcome):
            guard case .authentication? = pending else { return [] }
            pending = nil
            return authenticated(outcome)
        case .scramParameters(let parameters):
            guard case .scramLookup? = pending, var exchange = saslExchange else { return [] }
            pending = nil
            let step = exchange.provideSCRAM(parameters)
            saslExchange = exchange
            return authStep(step)
        case .senderDomainChecked(let check):
            guard case .senderDomain(let mail)? = pending else { return [] }
            pending = nil
            return senderDomainChecked(mail, check)
        case .invalidRecipientLimit:
            return closeWith(.tooManyInvalidRecipients(hostname: configuration.hostname))
        case .recipientResolved(let decision):
            guard case .recipient(let query)? = pending else { return [] }
            pending = nil
            return recipientResolved(query, decision)
        case .dataReceived(let outcome):
            guard case .data? = pending else { return [] }
            pending = nil
            return dataReceived(outcome)
        case .chunkReceived(let outcome):
            guard case .chunk(let size, let last, let rejection, let ends)? = pending else { return [] }
            pending = nil
            return chunkReceived(outcome, size: size, last: last, rejection: rejection, endsTransaction: ends)
        case .messageStored(let outcome):
            guard case .store(let queueID, let size)? = pending else { return [] }
            pending = nil
            return messageStored(outcome, queueID: queueID, size: size)
        case .timeout:
            return closeWith(.timeout(hostname: configuration.hostname))
        case .sessionByteLimitExceeded:
            return closeWith(.sessionByteLimit(hostname: configuration.hostname))
        case .shutdown:
            return closeWith(.shuttingDown(hostname: configuration.hostname))
        }
    }

    // MARK: - Shared helpers

    /// Sends an error reply caused by the client's input and counts it; at `maxErrors` adds
    /// 421 4.7.0 and closes (like Postfix `smtpd_hard_error_limit`).
    mutating func reject(_ reply: SMTPReply) -> [SMTPServerAction] {
        errorCount += 1
        var actions: [SMTPServerAction] = [.send(reply)]
        if errorCount >= configuration.maxErrors {
            actions += closeWith(.tooManyErrors(hostname: configuration.hostname))
        }
        return actions
    }

    /// A command line or SASL continuation line longer than allowed (RFC 5321 §4.5.3.1.4, RFC 4954 §4):
    /// 500 5.5.6, counted, and close. Closing rather than skipping to the line's end bounds both memory
    /// and time at once; a client that sends such a line is broken or hostile (docs/CONFIGURATION.md).
    mutating func lineTooLong() -> [SMTPServerAction] {
        errorCount += 1
        return closeWith(.commandLineTooLong)
    }

    /// Ends any transaction with `reply`, sends it and closes. Further events are ignored.
    mutating func closeWith(_ reply: SMTPReply) -> [SMTPServerAction] {
        var actions = endTransaction(reply: reply, queueID: nil, size: nil, discard: true)
        actions.append(.send(reply))
        actions.append(.close)
        isClosed = true
        pending = nil
        saslExchange = nil
        return actions
    }

    /// Ends the current transaction (if any): `.discardMessage` when a body is spooled and `discard`
    /// is set, then `.transactionEnded` with `reply`.
    mutating func endTransaction(reply: SMTPReply, queueID: String?, size: Int64?, discard: Bool) -> [SMTPServerAction] {
        guard let current = transaction else { return [] }
        transaction = nil
        var actions: [SMTPServerAction] = []
        if discard, current.bodySpooled { actions.append(.discardMessage) }
        actions.append(
            .transactionEnded(
                SMTPTransactionSummary(
                    queueID: queueID, heloName: hello?.name, sender: current.mail.reversePath,
                    recipients: current.recipients, size: size, authenticatedUser: authenticatedUser, tls: tlsInfo,
                    reply: reply)))
        return actions
    }

    /// A failure that ends the transaction: discard, log, reply (counted when the client caused it).
    mutating func failTransaction(_ reply: SMTPReply, countsAsError: Bool) -> [SMTPServerAction] {
        var actions = endTransaction(reply: reply, queueID: nil, size: nil, discard: true)
        actions += countsAsError ? reject(reply) : [.send(reply)]
        return actions
    }
}
