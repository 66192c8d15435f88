/// Events the adapter feeds into `SMTPServerSession`, including the answers to the session's
/// requests (recipient lookup, body reception, storage) — "check before proceed" (DESIGN.md).
import MailCore

public enum SMTPServerEvent: Sendable {
    /// The connection is open: the session sends the greeting.
    case connected
    /// Before the greeting: the adapter's forward-confirmed reverse DNS lookup found this name for the
    /// client; it is shown in the `Received:` header (`ClientInfo.verifiedHostName`). Ignored later.
    case clientNameResolved(String)
    /// The client sent bytes before the greeting (RFC 5321 §3.1: it must wait for the 220) -> 554 5.5.0
    /// instead of the greeting, and close.
    case talkedBeforeGreeting
    /// One command line, CRLF already removed by the adapter.
    case line([UInt8])
    /// A command line (or SASL continuation line) passed its limit before its CRLF (the adapter's
    /// framer checks while reading) -> 500 5.5.6 and close: the rest of the line is never read.
    case lineTooLong
    /// A command line ended with a bare LF instead of CRLF (RFC 5321 §2.3.8) -> 500 5.5.2, not executed.
    case bareLineFeed
    /// Answer to `.checkSenderDomain`.
    case senderDomainChecked(SenderDomainCheck)
    /// The adapter counted too many invalid recipients (`InvalidRecipientThrottle`) -> 421 4.7.0 and close.
    case invalidRecipientLimit
    /// Answer to `.resolveRecipient`.
    case recipientResolved(RecipientDecision)
    /// Answer to `.receiveData`.
    case dataReceived(BodyOutcome)
    /// Answer to `.receiveChunk`.
    case chunkReceived(BodyOutcome)
    /// Answer to `.storeMessage`.
    case messageStored(StoreOutcome)
    /// Answer to `.startTLS`: the handshake finished (RFC 3207 §4.2: the session is reset, no reply).
    /// With `implicitTLS` it may come at any time and only records the TLS parameters.
    case tlsEstablished(TLSInfo)
    /// Answer to `.authenticate` (RFC 4954 §6 replies 235 / 535 / 454).
    case authenticated(SMTPAuthAnswer)
    /// Answer to `.lookupSCRAM`: the stored credentials (or made-up ones), nonce and hash functions.
    case scramParameters(SCRAMServerParameters)
    /// Idle timeout -> 421 4.4.2 and close.
    case timeout
    /// The connection sent more than the adapter allows -> 421 4.7.0 and close.
    case sessionByteLimitExceeded
    /// The server is stopping -> 421 4.3.2 and close.
    case shutdown
}

/// The adapter's answer for one recipient.
public enum RecipientDecision: Hashable, Sendable {
    /// 250 2.1.5
    case localMailbox(id: Int64)
    /// 250 2.1.5: a non-local recipient the client may relay to; queued for outbound delivery.
    /// `domain` is the routing domain (lower case, A-label form).
    case relay(domain: String)
    /// 550 5.7.1 <addr>: Relay access denied
    case relayDenied
    /// 550 5.1.1 <addr>: Recipient address rejected: User unknown in local recipient table
    case unknownUser
    /// 550 5.1.1 <addr>: Recipient address rejected: User unknown in relay recipient table (a relay
    /// domain whose list of valid recipients does not hold the address)
    case unknownRelayRecipient
    /// 451 4.3.0 <addr>: Temporary lookup failure, try again later
    case temporaryFailure
    /// 452 4.2.2 <addr>: Mailbox full — a local mailbox over its quota (temporary: the sender retries).
    case mailboxFull
}

/// How receiving a body (DATA) or a chunk (BDAT) went.
public enum BodyOutcome: Hashable, Sendable {
    /// Received in full (for BDAT: this chunk's octets). `receivedFields`: the `Received:` header fields
    /// the decoder counted in the message so far (`DataDecoder.receivedFields` /
    /// `ChunkDecoder.receivedFields`); the session checks it against `hopCount` at the end of the message.
    case complete(octets: Int64, receivedFields: Int = 0)
    /// Over `maxMessageSize` -> 552 5.3.4.
    case tooLarge
    /// A text line over `maxTextLineLength` -> 500 5.5.6 (transaction fails, connection stays).
    case lineTooLong
    /// Bare CR or LF -> DATA: 521 5.5.2 and close; BDAT: 554 5.6.0, transaction fails, connection stays.
    case bareLineEnding
    /// A NUL octet in the body (RFC 5322 §2.1, RFC 6152 §3) -> DATA and BDAT: 554 5.6.0, the transaction
    /// fails, nothing is stored, the connection stays.
    case nulCharacter
    /// The adapter could not spool -> 451 4.3.0.
    case storageFailure
}

/// How storing the message went. `.failed` -> 451 4.3.0, nothing stored. `.rejected(reply)`: a check at
/// end of DATA refused the message (e.g. DMARC p=reject: 550 5.7.1); nothing stored, the connection stays.
public enum StoreOutcome: Hashable, Sendable { case stored, failed, rejected(SMTPReply) }

/// The adapter's answer to `.authenticate` (and `.authenticateSCRAM`): which AUTH reply to send, made
/// from the credentials' verdict (the server's `Authenticator.Verdict`) and the login bound. The POP3
/// session's answer is `POP3LoginAnswer`.
public enum SMTPAuthAnswer: Hashable, Sendable {
    /// 235 2.7.0; `user` is the canonical login name (the address MAIL FROM must match).
    case success(user: String)
    /// 535 5.7.8; counts towards `maxAuthFailures`.
    case invalidCredentials
    /// 454 4.7.0 (directory unavailable).
    case temporaryFailure
    /// Too many logins in flight from this client IP or for this account: 421 4.7.0 and close (the
    /// password was not checked).
    case tooManyLogins
}
