/// The replies of STARTTLS (RFC 3207 §4), AUTH (RFC 4954 §4, §6), message submission (RFC 6409 §4,
/// §6.1) and the cross-protocol guard for HTTP requests, by name. Texts follow Postfix where a
/// client might recognise them.
import MailCore

extension SMTPReply {
    // MARK: - STARTTLS (RFC 3207 §4)

    /// 220 2.0.0 Ready to start TLS
    public static let readyToStartTLS = SMTPReply(.serviceReady, .ok, "Ready to start TLS")
    /// 503 5.5.1: STARTTLS on a connection that already is TLS (STARTTLS or implicit TLS).
    public static let tlsAlreadyActive = SMTPReply(.badSequence, .invalidCommand, "Error: TLS already active")
    /// STARTTLS when TLS is not configured: answered like an unknown extension command (502 5.5.1,
    /// as Postfix does), not 454 — 454 would invite the client to retry later for nothing.
    public static let tlsNotAvailable = SMTPReply.notImplemented
    /// 503 5.5.1: STARTTLS or AUTH inside a mail transaction.
    public static let transactionInProgress = SMTPReply(.badSequence, .invalidCommand, "Error: MAIL transaction in progress")

    // MARK: - AUTH (RFC 4954 §4, §6)

    /// 334 <base64 challenge> (no enhanced code, RFC 4954 §4; an empty challenge is "334 ").
    public static func authChallenge(_ challenge: [UInt8]) -> SMTPReply {
        SMTPReply(.authContinue, nil, Base64.encode(challenge))
    }
    /// 235 2.7.0 Authentication successful
    public static let authSucceeded = SMTPReply(.authSucceeded, .securityOK, "Authentication successful")
    /// 535 5.7.8 Authentication credentials invalid
    public static let authInvalid = SMTPReply(.authCredentialsInvalid, .authInvalid, "Authentication credentials invalid")
    /// 454 4.7.0 Temporary authentication failure
    public static let authTemporaryFailure = SMTPReply(.tempAuthFailure, .tempSecurity, "Temporary authentication failure")
    /// 501 5.0.0 Authentication cancelled (the client sent "*").
    public static let authCancelled = SMTPReply(
        .syntaxErrorInParameters, EnhancedStatusCode(.permanentFailure, 0, 0),
        "Authentication cancelled")
    /// 501 5.5.2 <reason>: bad base64 or a malformed SASL message.
    public static func authMalformed(_ reason: String) -> SMTPReply {
        SMTPReply(.syntaxErrorInParameters, .syntaxError, reason)
    }
    /// 503 5.5.1 Error: already authenticated (RFC 4954 §4: AUTH is not allowed twice).
    public static let alreadyAuthenticated = SMTPReply(.badSequence, .invalidCommand, "Error: already authenticated")
    /// 538 5.7.11 (RFC 4954 §6): AUTH without TLS when plaintext mechanisms need it.
    public static let encryptionRequired = SMTPReply(
        ReplyCode(538), .encryptionRequired,
        "Encryption required for requested authentication mechanism")
    /// 504 5.5.4 Unrecognized authentication type
    public static let unknownMechanism = SMTPReply(.parameterNotImplemented, .invalidArguments, "Unrecognized authentication type")
    /// 421 4.7.0 after `maxAuthFailures` failed AUTH attempts; the connection closes.
    public static func tooManyAuthFailures(hostname: String) -> SMTPReply {
        SMTPReply(.serviceNotAvailable, .tempSecurity, "\(hostname) Error: too many authentication failures")
    }

    /// 421 4.7.0 when the client IP or the account already has as many logins in flight as allowed
    /// (`auth.max_concurrent_logins_per_ip` / `_per_account`); the connection closes.
    public static func tooManyLoginsInProgress(hostname: String) -> SMTPReply {
        SMTPReply(.serviceNotAvailable, .tempSecurity, "\(hostname) Error: too many logins in progress, try again later")
    }

    // MARK: - Submission (RFC 6409 §4.3, §6.1)

    /// 530 5.7.0 Authentication required (RFC 4954 §6), MAIL before AUTH on a submission port.
    public static let authRequired = SMTPReply(.authRequired, .authRequired, "Authentication required")
    /// 553 5.7.1: MAIL FROM is not the authenticated user's address (RFC 6409 §6.1).
    public static func senderNotOwned(_ address: String) -> SMTPReply {
        SMTPReply(.mailboxNameNotAllowed, .deliveryNotAuthorized, "<\(address)>: Sender address rejected: not owned by user")
    }

    // MARK: - Cross-protocol guard

    /// 421 4.7.0: an HTTP request line (a browser, a proxy, or a cross-protocol attack); close.
    public static func httpNotSupported(hostname: String) -> SMTPReply {
        SMTPReply(.serviceNotAvailable, .tempSecurity, "\(hostname) Error: HTTP not supported")
    }
}
