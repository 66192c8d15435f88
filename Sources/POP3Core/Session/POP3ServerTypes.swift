/// The values that cross the boundary between `POP3ServerSession` and its adapter: configuration,
/// the maildrop snapshot, authentication answers, events in and actions out (RFC 1939 §3–§6,
/// RFC 2449, RFC 5034, RFC 2595 STLS, RFC 8314 implicit TLS).
import MailCore

/// Settings for one POP3 session.
public struct POP3ServerConfiguration: Sendable {
    /// The host name used in greetings and logs.
    public var hostname: String
    /// The longest command line the adapter's framer accepts, CRLF included: RFC 2449 §4 limits
    /// commands to 255 octets. `AUTH` command lines (a long initial response) and SASL response lines
    /// may have `maxAuthLineLength` instead.
    public var maxCommandLineLength: Int = 255
    /// The longest `AUTH` command line and SASL response line (RFC 5034 §4), CRLF included: the bound
    /// RFC 4954 §4 sets for SMTP AUTH (a PLAIN response with 255-octet fields needs about 1 KiB).
    public var maxAuthLineLength: Int = 12288
    /// Whether USER/PASS and AUTH (PLAIN, LOGIN) are offered and allowed on a connection that is not
    /// TLS. Over TLS they always are. When false and not TLS, CAPA omits USER and SASL, and USER/PASS/
    /// AUTH get `-ERR [AUTH] Plaintext authentication disallowed on non-secure connections`.
    public var allowPlaintextAuth: Bool = true
    /// Offer SASL SCRAM-SHA-256 (RFC 7677) besides PLAIN and LOGIN.
    public var offerSCRAM: Bool = false
    /// Whether STLS is offered (RFC 2595 §4) while the connection is not yet TLS.
    public var tlsAvailable: Bool = false
    /// The connection is TLS from its first byte (RFC 8314 §3.3, port 995).
    public var implicitTLS: Bool = false
    /// Failed logins allowed before the session sends `-ERR [AUTH]` and closes.
    public var maxAuthFailures: Int = 3
    /// Protocol errors (unknown commands, syntax errors, commands in the wrong state) allowed
    /// before the session closes.
    public var maxErrors: Int = 10

    public init(hostname: String) {
        self.hostname = hostname
    }
}

/// One message of the maildrop snapshot taken at login.
public struct MaildropEntry: Hashable, Sendable {
    /// The store's delivery id (what DELE and RETR name to the store).
    public var deliveryID: Int64
    /// The unique-id UIDL reports (RFC 1939 §7: 1-70 characters 0x21-0x7E, never reused for another
    /// message): the store's choice (`RetrievableMessage.uniqueID`), by default the decimal delivery id.
    public var uniqueID: String
    /// The exact size in octets as stored (CRLF line ends), as LIST and STAT report it.
    public var size: Int64
    /// The store's key of the stored body, opaque to the session: the adapter reads the message with
    /// it (`MessageRetrieval.readMessage`), so the login listing is kept once, here.
    public var bodyKey: Int64
    /// What the store knows about the message's octets (`RetrievableMessage.form`): RETR of a message
    /// with nothing to stuff sends it as stored.
    public var form: BodyForm

    public init(deliveryID: Int64, size: Int64, bodyKey: Int64 = 0, uniqueID: String? = nil, form: BodyForm = []) {
        self.form = form
        self.deliveryID = deliveryID
        self.uniqueID = uniqueID ?? String(deliveryID)
        self.size = size
        self.bodyKey = bodyKey
    }
}

/// The adapter's answer to `.authenticate` (and `.authenticateSCRAM`): the login as POP3 sees it — the
/// credentials' verdict (the server's `Authenticator.Verdict`) combined with taking the maildrop lock and
/// listing the maildrop. The SMTP session's answer is `SMTPAuthAnswer`.
public enum POP3LoginAnswer: Hashable, Sendable {
    /// Credentials verified, the per-mailbox lock taken and the messages listed (RFC 1939 §4).
    case success(mailboxID: Int64, maildrop: [MaildropEntry])
    /// Wrong user or password: `-ERR [AUTH] Authentication failed` (never says which).
    case invalidCredentials
    /// The maildrop is locked by another session: `-ERR [IN-USE] Mailbox is in use by another session`.
    case inUse
    /// The mailbox is disabled by the administrator: `-ERR [AUTH] Mailbox is locked by the administrator`.
    case locked
    /// Storage or directory unavailable: `-ERR [SYS/TEMP] Temporary failure, try again later`.
    case temporaryFailure
    /// Too many logins in flight from this client IP or for this account (the password was not
    /// checked): `-ERR [SYS/TEMP] Too many logins in progress, try again later`, then close.
    case tooManyLogins
}

/// The three POP3 session states (RFC 1939 §3).
public enum POP3State: Hashable, Sendable {
    case authorization
    case transaction
    case update
}

/// What the adapter feeds the session.
public enum POP3ServerEvent: Hashable, Sendable {
    /// The connection is open: the session sends its greeting.
    case connected
    /// One command line (or SASL response line), CRLF removed.
    case line([UInt8])
    /// A line passed its limit (`maxCommandLineLength`, or `maxAuthLineLength` for AUTH) before its
    /// line end: `-ERR` and close (the framer checks while reading; the rest is never read).
    case lineTooLong
    /// The client sent more octets than the adapter's per-session cap: `-ERR` and close.
    case sessionByteLimitExceeded
    /// The answer to `.authenticate` and `.authenticateSCRAM`.
    case authenticated(POP3LoginAnswer)
    /// The answer to `.lookupSCRAM`.
    case scramParameters(SCRAMServerParameters)
    /// The answer to `.sendMessage`: false when reading the message failed (the session closes).
    case messageSent(Bool)
    /// The answer to `.commitDeletions`.
    case updateFinished(Bool)
    /// The autologout timer expired (RFC 1939 §3).
    case timeout
    /// The answer to `.startTLS`: the handshake finished (RFC 2595 §4: back to a fresh AUTHORIZATION
    /// state, no greeting). With `implicitTLS` it may come at any time and only records the parameters.
    case tlsEstablished(TLSInfo)
}

/// What the session asks the adapter to do, in order.
public enum POP3ServerAction: Hashable, Sendable {
    /// Write these already-encoded response bytes.
    case send([UInt8])
    /// Verify the credentials, take the maildrop lock and list messages; answer `.authenticated`.
    case authenticate(username: String, password: String)
    /// SCRAM-SHA-256: find the user's stored SCRAM credentials; answer `.scramParameters`.
    case lookupSCRAM(username: String)
    /// SCRAM-SHA-256 finished (`proofValid`: the client proved the password): check the account, take
    /// the maildrop lock and list messages as for `.authenticate`; answer `.authenticated`.
    case authenticateSCRAM(username: String, proofValid: Bool)
    /// The session already sent `+OK`: stream the stored message through `POP3MessageEncoder`
    /// (dot-stuffed, terminated) and answer `.messageSent`.
    case sendMessage(deliveryID: Int64, topLines: Int?)
    /// UPDATE state (RFC 1939 §6): delete these delivery ids atomically (the list may be empty);
    /// answer `.updateFinished`.
    case commitDeletions([Int64])
    /// The maildrop lock may be dropped. Emitted once on every path that held it.
    case releaseMaildrop
    /// Close the connection (after writing what was sent before).
    case close
    /// After `+OK Begin TLS negotiation`: flush, DISCARD every buffered input byte (RFC 2595 §4),
    /// run the TLS handshake, then answer `.tlsEstablished`. On handshake failure just close.
    case startTLS
}
