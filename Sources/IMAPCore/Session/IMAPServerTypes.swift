/// The values that cross the boundary between `IMAPServerSession` and its adapter: configuration,
/// events in, actions out (RFC 9051 §3 states; RFC 2595/9051 §6.2.1 STARTTLS; RFC 8314 implicit TLS).
import MailCore

public struct IMAPServerConfiguration: Sendable {
    /// The host name used in greetings and logs.
    public var hostname: String
    /// Line, literal and command size limits, enforced while framing.
    public var limits = IMAPFramingLimits()
    /// Whether LOGIN and AUTHENTICATE are allowed on a connection that is not TLS (else LOGINDISABLED
    /// is advertised and they get `NO [PRIVACYREQUIRED]`, RFC 9051 §6.2.3).
    public var allowPlaintextAuth = true
    /// Whether STARTTLS is offered while the connection is not TLS.
    public var tlsAvailable = false
    /// The connection is TLS from its first byte (RFC 8314 §3.3, port 993).
    public var implicitTLS = false
    /// Whether COMPRESS=DEFLATE (RFC 4978) is offered (the adapter must implement `.startCompression`).
    public var compressionAvailable = false
    /// Failed logins before the session closes.
    public var maxAuthFailures = 3
    /// Protocol errors (BAD) before the session closes.
    public var maxErrors = 20
    /// Messages per backend fetch when bodies or headers are needed / when only index data is. Each batch
    /// is a round trip to the store (two thread wake-ups): 200 bodies of 4 KiB take a quarter of the
    /// hand-offs 50 did, while `fetchBatchBytes` still bounds what one batch holds; an index-only batch of
    /// 4000 renders in about 1.5 ms on the event loop, and `UID FETCH 1:* (FLAGS)` of 100,000 messages takes
    /// 25 of them.
    public var fetchBatchWithContent = 200
    public var fetchBatchIndexOnly = 4000
    /// Octets of whole messages per backend fetch (a larger message is fetched alone): bounds the memory
    /// a FETCH of many large messages holds at once.
    public var fetchBatchBytes = 4 * 1024 * 1024
    /// Octets of input the session buffers while it waits for an answer before it gives up (the adapter
    /// should stop reading long before: this is the backstop).
    public var maxPendingInput = 1 << 20

    public init(hostname: String) {
        self.hostname = hostname
    }
}

/// The adapter's answer to `.authenticate`.
public enum IMAPAuthResult: Hashable, Sendable {
    /// Verified: the adapter has opened the user's `IMAPMailboxAccess` for the backend requests to come.
    case success(username: String)
    /// Wrong user or password: `NO [AUTHENTICATIONFAILED]`.
    case invalidCredentials
    /// The account is disabled: `NO [CONTACTADMIN]`.
    case disabled
    /// Directory unavailable: `NO [UNAVAILABLE]`.
    case temporaryFailure
}

/// The session states (RFC 9051 §3).
public enum IMAPSessionState: Hashable, Sendable {
    case notAuthenticated
    case authenticated
    case selected
    case logout
}

/// What the adapter feeds the session.
public enum IMAPServerEvent: Hashable, Sendable {
    /// The connection is open: the session sends its greeting.
    case connected
    /// Octets from the client (after TLS and decompression). The session frames them itself.
    case received([UInt8])
    /// The answer to `.authenticate`.
    case authenticated(IMAPAuthResult)
    /// The answer to `.backend(request)`.
    case backend(IMAPBackendResponse)
    /// The answer to `.startTLS`: the handshake finished.
    case tlsEstablished(TLSInfo)
    /// The answer to `.startCompression`.
    case compressionStarted
    /// The watched mailbox changed (store notification, on this node or another) while IDLE.
    case mailboxChanged
    /// The inactivity timer expired (RFC 9051 §5.4: at least 30 minutes).
    case timeout
}

/// What the session asks the adapter to do, in order.
public enum IMAPServerAction: Hashable, Sendable {
    /// Write these octets.
    case send([UInt8])
    /// Verify the credentials (with throttling) and open the user's mailbox access; answer `.authenticated`.
    case authenticate(username: String, password: String)
    /// Run this against the user's `IMAPMailboxAccess` (`IMAPBackendRunner.run`); answer `.backend`.
    case backend(IMAPBackendRequest)
    /// After the tagged OK: flush, start TLS (the session already dropped buffered input, RFC 9051
    /// §6.2.1); answer `.tlsEstablished`, or close on failure.
    case startTLS
    /// After the tagged OK: flush, then inflate input and deflate output (RFC 4978); answer `.compressionStarted`.
    case startCompression
    /// IDLE started: feed `.mailboxChanged` when this mailbox changes (nil: no mailbox selected, only the
    /// timeout matters).
    case startWatching(IMAPMailboxID?)
    /// IDLE ended.
    case stopWatching
    /// Close the connection after writing what was sent before.
    case close
}
