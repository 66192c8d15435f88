/// Every reply the SMTP server session sends, by name (RFC 5321 §4.2.2 codes, RFC 3463 enhanced codes).
/// Texts follow Postfix where a client might recognise them. The session never writes a bare number.
import MailCore

extension SMTPReply {
    // MARK: - Greeting, EHLO/HELO (no enhanced code: RFC 2034 §3 starts them after EHLO)

    /// 220 <hostname> ESMTP Petrel (RFC 5321 §4.3.1 greeting).
    public static func greeting(hostname: String) -> SMTPReply {
        SMTPReply(.serviceReady, nil, "\(hostname) ESMTP Petrel")
    }

    /// The EHLO reply with the extensions Petrel supports (RFC 5321 §4.1.1.1; keywords from RFC 2920
    /// PIPELINING, RFC 1870 SIZE, RFC 3207 STARTTLS, RFC 4954 AUTH, RFC 6152 8BITMIME, RFC 2034
    /// ENHANCEDSTATUSCODES, RFC 3461 DSN, RFC 6531 SMTPUTF8, RFC 3030 CHUNKING).
    /// `startTLS`/`auth` add `STARTTLS` / `AUTH PLAIN LOGIN` after SIZE (where Postfix puts them).
    public static func ehlo(
        hostname: String, maxMessageSize: Int, startTLS: Bool = false, auth: Bool = false,
        scram: Bool = false
    ) -> SMTPReply {
        var lines = [hostname, "PIPELINING", "SIZE \(maxMessageSize)"]
        if startTLS { lines.append("STARTTLS") }
        if auth { lines.append("AUTH \(SASLMechanism.advertised(scram: scram))") }
        lines += ["8BITMIME", "DSN", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING", "HELP"]
        return SMTPReply(.ok, nil, lines: lines)
    }

    /// 250 <hostname> (HELO, RFC 5321 §4.1.1.1).
    public static func helo(hostname: String) -> SMTPReply { SMTPReply(.ok, nil, hostname) }

    // MARK: - Positive replies

    public static let ok = SMTPReply(.ok, .ok, "Ok")
    public static let senderOK = SMTPReply(.ok, .senderOK, "Ok")
    public static let recipientOK = SMTPReply(.ok, .destinationOK, "Ok")
    public static let startMailInput = SMTPReply(.startMailInput, nil, "End data with <CR><LF>.<CR><LF>")
    public static let bye = SMTPReply(.closing, .ok, "Bye")
    public static let help = SMTPReply(
        .helpMessage, .ok,
        "Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP")
    /// RFC 5321 §3.5.3: 252 when the server will not verify; never enumerates users.
    public static let cannotVerify = SMTPReply(
        .cannotVerify, .otherStatusOK,
        "Cannot VRFY user, but will accept message and attempt delivery")

    public static func queued(_ queueID: String) -> SMTPReply { SMTPReply(.ok, .ok, "Ok: queued as \(queueID)") }
    /// RFC 3030 §2: reply to a non-last BDAT chunk.
    public static func chunkReceived(_ octets: Int) -> SMTPReply { SMTPReply(.ok, .ok, "\(octets) octets received") }

    // MARK: - Syntax errors (5.5.x)

    public static let unknownCommand = SMTPReply(.syntaxError, .syntaxError, "Error: command not recognized")
    public static let commandLineTooLong = SMTPReply(.syntaxError, .lineTooLong, "Error: command line too long")
    /// RFC 5321 §2.3.8: command lines end with CRLF; one ending in a bare LF is not executed.
    public static let bareLineFeedInCommand = SMTPReply(.syntaxError, .syntaxError, "Error: command line must end with <CR><LF>")
    public static let badCharacters = SMTPReply(.syntaxError, .syntaxError, "Error: bad characters in command line")
    public static func syntax(_ usage: String) -> SMTPReply { SMTPReply(.syntaxErrorInParameters, .invalidArguments, "Syntax: \(usage)") }
    public static let badHelloName = SMTPReply(.syntaxErrorInParameters, .invalidArguments, "Error: invalid EHLO/HELO argument")
    public static func badSenderSyntax(_ reason: String) -> SMTPReply {
        SMTPReply(.syntaxErrorInParameters, .badSenderSyntax, "Bad sender address syntax: \(reason)")
    }
    public static func badRecipientSyntax(_ reason: String) -> SMTPReply {
        SMTPReply(.syntaxErrorInParameters, .badDestinationSyntax, "Bad recipient address syntax: \(reason)")
    }
    public static func badParameterValue(_ keyword: String) -> SMTPReply {
        SMTPReply(.syntaxErrorInParameters, .invalidArguments, "Bad \(keyword) parameter value")
    }
    public static func duplicateParameter(_ keyword: String) -> SMTPReply {
        SMTPReply(.syntaxErrorInParameters, .invalidArguments, "Duplicate \(keyword) parameter")
    }
    /// RFC 5321 §4.1.1.11 / §4.2.4: 555 for unrecognised MAIL/RCPT parameters.
    public static func unsupportedParameter(_ keyword: String) -> SMTPReply {
        SMTPReply(.paramsNotRecognized, .invalidArguments, "Unsupported option: \(keyword)")
    }
    public static let parametersAfterHELO = SMTPReply(
        .paramsNotRecognized, .invalidArguments,
        "Error: ESMTP parameters need EHLO, not HELO")
    public static let notImplemented = SMTPReply(.commandNotImplemented, .invalidCommand, "Error: command not implemented")

    // MARK: - Bad sequence (503 5.5.1, RFC 5321 §4.1.4)

    public static let needHello = SMTPReply(.badSequence, .invalidCommand, "Error: send HELO/EHLO first")
    public static let nestedMail = SMTPReply(.badSequence, .invalidCommand, "Error: nested MAIL command")
    public static let needMail = SMTPReply(.badSequence, .invalidCommand, "Error: need MAIL command")
    public static let noValidRecipients = SMTPReply(.badSequence, .invalidCommand, "No valid recipients")
    public static let dataAfterBDAT = SMTPReply(.badSequence, .invalidCommand, "Error: DATA not allowed after BDAT")
    public static let rcptAfterBDAT = SMTPReply(.badSequence, .invalidCommand, "Error: RCPT not allowed after BDAT")

    // MARK: - Transaction replies

    /// RFC 1870 §6.1: declared SIZE over the limit.
    public static let sizeExceedsLimit = SMTPReply(.exceededStorage, .messageTooBig, "Error: message size exceeds fixed limit")
    /// The body (DATA) or the chunks (BDAT) grew over the limit.
    public static let messageTooBig = SMTPReply(.exceededStorage, .messageTooBig, "Error: message file too big")
    /// A body line over 1000 octets (RFC 5321 §4.5.3.1.6, reply text suggested by §4.2.2 "500 Line too long").
    public static let bodyLineTooLong = SMTPReply(.syntaxError, .lineTooLong, "Error: message line too long")
    /// Bare CR or LF inside BDAT chunks: the transaction fails, the connection stays (RFC 3030 §2 keeps sync).
    public static let bareLineEndingInChunk = SMTPReply(
        .transactionFailed, .mediaNotSupported,
        "Error: bare <CR> or <LF> in message, transaction failed")
    /// A NUL octet in DATA or BDAT (RFC 5322 §2.1 and RFC 6152 §3 exclude it): the transaction fails,
    /// nothing is stored, the connection stays.
    public static let nulInMessage = SMTPReply(
        .transactionFailed, .mediaNotSupported,
        "Error: NUL character in message, transaction failed")
    /// RFC 5321 §6.3: the message has more `Received:` fields than the hop limit (a mail loop). The
    /// transaction fails, nothing is stored or bounced, the connection stays.
    public static func mailLoop(limit: Int) -> SMTPReply {
        SMTPReply(.transactionFailed, .routingLoop, "Error: mail loop: more than \(limit) Received: header fields")
    }
    /// RFC 6531 §3.4: a non-ASCII address needs the SMTPUTF8 parameter.
    public static let nonASCIISender = SMTPReply(
        .mailboxNameNotAllowed, .nonASCIIAddress,
        "Error: non-ASCII sender address needs SMTPUTF8")
    public static let nonASCIIRecipient = SMTPReply(
        .mailboxNameNotAllowed, .nonASCIIAddress,
        "Error: non-ASCII recipient address needs SMTPUTF8")
    /// RFC 5321 §4.5.3.1.10: 452 for recipients over the limit (the client retries them later).
    public static let tooManyRecipients = SMTPReply(.insufficientStorage, .tempTooManyRecipients, "Error: too many recipients")
    /// RCPT to a foreign domain this client may not relay to: 550 5.7.1 (RFC 5321 §4.3.2 lists 550, not
    /// 554, among RCPT's replies; RFC 3463 §3.8 "delivery not authorized").
    public static func relayDenied(_ address: String) -> SMTPReply {
        SMTPReply(.mailboxUnavailable, .deliveryNotAuthorized, "<\(address)>: Relay access denied")
    }
    /// The recipient's domain is not a valid IDN (bad A-label, over-long label): 553 5.1.3.
    public static func invalidRecipientDomain(_ address: String, reason: String) -> SMTPReply {
        SMTPReply(.mailboxNameNotAllowed, .badDestinationSyntax, "<\(address)>: Recipient address rejected: \(reason)")
    }
    public static func unknownUser(_ address: String) -> SMTPReply {
        SMTPReply(
            .mailboxUnavailable, .badDestinationMailbox,
            "<\(address)>: Recipient address rejected: User unknown in local recipient table")
    }
    /// A relay domain with a list of valid recipients that does not hold the address (Postfix's wording
    /// for `relay_recipient_maps`).
    public static func unknownRelayRecipient(_ address: String) -> SMTPReply {
        SMTPReply(
            .mailboxUnavailable, .badDestinationMailbox,
            "<\(address)>: Recipient address rejected: User unknown in relay recipient table")
    }
    /// A local mailbox over its quota (MailPolicy `MailboxQuotaPolicy`): 452 4.2.2, temporary, so the
    /// sender keeps the message and retries while the owner makes room (docs/IMAP.md "Quota").
    public static func mailboxFull(_ address: String) -> SMTPReply {
        SMTPReply(.insufficientStorage, .tempMailboxFull, "<\(address)>: Mailbox full")
    }
    public static func temporaryLookupFailure(_ address: String) -> SMTPReply {
        SMTPReply(.localError, .tempSystem, "<\(address)>: Temporary lookup failure, try again later")
    }
    public static let storageFailure = SMTPReply(.localError, .tempSystem, "Error: queue file write error")
    /// A recipient's mailbox was removed between its RCPT and the end of DATA (the store refused the
    /// delivery; nothing stored): temporary, so the client sends again and then gets RCPT's answer.
    public static let recipientRemoved = SMTPReply(.localError, .tempSystem, "Error: a recipient's mailbox was just removed, try again later")

    // MARK: - Closing replies (421 / 521, RFC 5321 §3.8, RFC 7504)

    /// Bare CR or LF in DATA (like Postfix `smtpd_forbid_bare_newline`): 521 and close.
    public static func bareLineEndingInData(hostname: String) -> SMTPReply {
        SMTPReply(.notAcceptingMail, .syntaxError, "\(hostname) Error: bare <CR> or <LF> received")
    }
    /// An unusable BDAT size: the octets cannot be skipped, so the connection closes after this 501.
    public static let badChunkSize = SMTPReply(.syntaxErrorInParameters, .invalidArguments, "Syntax: BDAT chunk-size [LAST]")
    public static func timeout(hostname: String) -> SMTPReply {
        SMTPReply(.serviceNotAvailable, .tempTimeout, "\(hostname) Error: timeout exceeded")
    }
    public static func sessionByteLimit(hostname: String) -> SMTPReply {
        SMTPReply(.serviceNotAvailable, .tempSecurity, "\(hostname) Error: too much data in this session")
    }
    public static func shuttingDown(hostname: String) -> SMTPReply {
        SMTPReply(.serviceNotAvailable, .tempNotAccepting, "\(hostname) Service shutting down, closing transmission channel")
    }
    public static func tooManyErrors(hostname: String) -> SMTPReply {
        SMTPReply(.serviceNotAvailable, .tempSecurity, "\(hostname) Error: too many errors")
    }
    public static func tooManyMessages(hostname: String) -> SMTPReply {
        SMTPReply(.serviceNotAvailable, .tempSecurity, "\(hostname) Error: too many messages in one session")
    }
}
