/// Everything a POP3 connection needs from the rest of the server, injected by the composition root.
import Logging
import MailAuth
import MailCore
import MailPolicy
import MailStore
import NIOCore
import NIOPosix
import POP3Core

public struct POP3ServerContext: Sendable {
    public var configuration: POP3ServerConfiguration
    public var store: any MailStore
    public var locks: MaildropLocks
    public var authenticator: Authenticator
    /// RFC 1939 §3: an autologout timer of at least 10 minutes. Per line: the time the server waits for
    /// the first byte of a command line, and then for the rest of that line (and for the client to take
    /// each chunk of a RETR answer).
    public var idleTimeout: TimeAmount
    /// Octets one connection may send before it gets `-ERR` and is closed; 0: unlimited.
    public var maxSessionBytes: Int64 = 0
    public var connections: ConnectionTracker
    /// TLS for STLS and the implicit-TLS listener; nil when TLS is not set up.
    public var tls: TLSContextProvider?
    public var logger: Logger
    /// Counters (connections, logins, retrievals); no-op unless injected.
    public var metrics: ServerMetrics = .disabled()
    /// Where RETR/TOP run their blocking store reads (one hand-off per chunk); nil: the authenticator's
    /// pool (shared with the password hashing). A dedicated pool keeps retrievals from waiting behind logins.
    public var readThreadPool: NIOThreadPool?

    /// Client networks that may log in without TLS on this listener (`[auth] plaintext_networks`);
    /// `configuration.allowPlaintextAuth` opens the whole listener.
    public var plaintextAuthNetworks: [IPNetwork] = []

    /// The pool message reads run on.
    var readPool: NIOThreadPool { readThreadPool ?? authenticator.threadPool }

    /// The context one accepted client's session runs with: plaintext logins allowed when the listener
    /// allows them or the client is in `plaintextAuthNetworks` (MailPolicy `PlaintextLogin`).
    public func admitting(_ client: ClientInfo) -> POP3ServerContext {
        guard !configuration.allowPlaintextAuth,
            PlaintextLogin.allowed(listenerAllows: false, client: client.ip, trustedNetworks: plaintextAuthNetworks)
        else {
            return self
        }
        var context = self
        context.configuration.allowPlaintextAuth = true
        return context
    }

    public init(
        configuration: POP3ServerConfiguration, store: any MailStore, locks: MaildropLocks = MaildropLocks(),
        authenticator: Authenticator, idleTimeout: TimeAmount = .minutes(10),
        connections: ConnectionTracker, tls: TLSContextProvider? = nil, logger: Logger
    ) {
        self.configuration = configuration
        self.store = store
        self.locks = locks
        self.authenticator = authenticator
        self.idleTimeout = idleTimeout
        self.connections = connections
        self.tls = tls
        self.logger = logger
    }

    /// Checks the credentials and, on success, takes the maildrop lock and lists the messages (with their
    /// body keys, kept by the handler for `MessageRetrieval.readMessageBlocking`).
    func authenticate(username: String, password: String, client: ClientInfo) async
        -> POP3LoginAnswer
    {
        await openMaildrop(await authenticator.verify(username: username, password: password))
    }

    /// SCRAM-SHA-256 finished (`proofValid`: the client proved the password): as `authenticate`.
    func authenticateSCRAM(username: String, proofValid: Bool, client: ClientInfo) async
        -> POP3LoginAnswer
    {
        await openMaildrop(await authenticator.verifySCRAM(username: username, proofValid: proofValid))
    }

    /// After a verdict: take the maildrop lock ([IN-USE] when another session has it) and list messages.
    func openMaildrop(_ verdict: Authenticator.Verdict) async -> POP3LoginAnswer {
        let mailbox: MailboxInfo
        switch verdict {
        case .success(let m): mailbox = m
        case .invalidCredentials: return .invalidCredentials
        case .locked: return .locked
        case .temporaryFailure: return .temporaryFailure
        }
        guard locks.acquire(mailbox.id) else { return .inUse }
        do {
            let messages = try await store.retrievableMessages(mailboxID: mailbox.id)
            let maildrop = messages.map { MaildropEntry(deliveryID: $0.deliveryID, size: $0.size, bodyKey: $0.bodyID) }
            return .success(mailboxID: mailbox.id, maildrop: maildrop)
        } catch {
            locks.release(mailbox.id)
            logger.error("pop3 maildrop listing failed", metadata: ["error": "\(error)"])
            return .temporaryFailure
        }
    }
}
