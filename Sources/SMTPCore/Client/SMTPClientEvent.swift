/// What goes into the client session (`SMTPClientEvent`) and what comes out (`SMTPClientAction`),
/// RFC 5321 §3 (session), §4.5.3.2 (what the client waits for, for the adapter's timeouts), RFC 3207
/// (the TLS switch).
import MailCore

public enum SMTPClientEvent: Hashable, Sendable {
    /// The TCP connection is up; the session now waits for the greeting.
    case connected
    /// A complete reply from the server.
    case reply(SMTPReply)
    /// The reply parser failed: the connection cannot be trusted.
    case malformedReply(SMTPReplyParseError)
    /// The TLS handshake the session asked for (`.startTLS`) finished.
    case tlsEstablished(TLSInfo)
    case tlsFailed(String)
    /// The peer closed the connection (or a write failed).
    case closed
    /// The adapter's timer for `waitingFor` ran out.
    case timedOut
    /// A local problem ended the connection (e.g. the body could not be read): fail the session.
    case localFailure(String)
    /// Send one transaction (only when `isReady`).
    case startTransaction(SMTPClientEnvelope)
    /// Say QUIT and close (only when `isReady`; otherwise the session just closes).
    case quit
}

public enum SMTPClientAction: Hashable, Sendable {
    /// Write these octets: one command, or several pipelined ones (RFC 2920), each ending in CRLF.
    case send([UInt8])
    /// The server said 220 to STARTTLS: drop any buffered input, start the TLS handshake, then report
    /// `.tlsEstablished` or `.tlsFailed`. The only place the switch to TLS is decided (the adapter holds
    /// input after the reply to STARTTLS, see `SMTPClientSession.awaitsStartTLSReply`).
    case startTLS
    /// The server said 354: stream the body through `SMTPBodyEncoder` (dot-stuffed, ending in "." CRLF),
    /// then pass on the final reply.
    case sendBody
    /// Greeting, EHLO, STARTTLS and AUTH are done: transactions may start.
    case ready
    /// The transaction asked for with `.startTransaction` is done. When `connectionClosed` is set, a
    /// `.close` follows.
    case transactionComplete(SMTPTransactionResult)
    /// The session failed; a `.close` follows. A running transaction has no result (retry all of it).
    case failed(SMTPClientError)
    /// Close the connection.
    case close
}

/// What the session waits for, so the adapter can pick the timeout (RFC 5321 §4.5.3.2).
public enum SMTPClientWait: String, Hashable, Sendable {
    /// Nothing: idle between transactions, or closed.
    case nothing
    /// The 220 greeting (§4.5.3.2.1: 5 minutes).
    case greeting
    /// A reply to EHLO/HELO/STARTTLS/AUTH/RSET/MAIL/RCPT (§4.5.3.2.2–3: 5 minutes).
    case command
    /// The TLS handshake (the command timeout applies).
    case tlsHandshake
    /// The 354 to DATA (§4.5.3.2.4: 2 minutes).
    case dataCommand
    /// The reply after the final "." (§4.5.3.2.6: 10 minutes); the body is being sent or was sent.
    case finalDot
    /// The 221 to QUIT (briefly).
    case quit
}
