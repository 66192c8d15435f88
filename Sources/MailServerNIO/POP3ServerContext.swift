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
    /// How long a maildrop lock lasts without renewal (`[pop3] lock_lease`): the session renews it every
    /// third of it; a node that dies holding it (kill -9) blocks the mailbox at most this long.
    public var lockLease: Duration = .seconds(60)
    /// Names this node in the lock owner tokens (host name and process id; `MaildropLease.makeOwner`).
    public var lockOwnerLabel: String = MaildropLease.defaultOwnerLabel
    /// The one clock: lease times and the renewal heartbeat.
    public var clock: any MailClock = WallClock()
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

    /// Client networks that may log in without TLS on this listener (`[auth] plaintext_networks`);
    /// `configuration.allowPlaintextAuth` opens the whole listener.
    public var plaintextAuthNetworks: [IPNetwork] = []

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
        configuration: POP3ServerConfiguration, store: any MailStore,
        authenticator: Authenticator, idleTimeout: TimeAmount = .minutes(10),
        connections: ConnectionTracker, tls: TLSContextProvider? = nil, logger: Logger
    ) {
        self.configuration = configuration
        self.store = store
        self.authenticator = authenticator
        self.idleTimeout = idleTimeout
        self.connections = connections
        self.tls = tls
        self.logger = logger
    }

    /// A successful login's maildrop lock (nil for every other answer).
    typealias LoginResult = (answer: POP3LoginAnswer, lease: MaildropLease?)

    /// Checks the credentials and, on success, takes the maildrop lock and lists the messages (with their
    /// body keys, kept by the handler for `MessageRetrieval.readMessage`).
    func authenticate(username: String, password: String, client: ClientInfo) async -> LoginResult {
        await openMaildrop(await authenticator.verify(username: username, password: password))
    }

    /// SCRAM-SHA-256 finished (`proofValid`: the client proved the password): as `authenticate`.
    func authenticateSCRAM(username: String, proofValid: Bool, client: ClientInfo) async -> LoginResult {
        await openMaildrop(await authenticator.verifySCRAM(username: username, proofValid: proofValid))
    }

    /// After a verdict: take the maildrop lock in the store (`[IN-USE]` when another session, on any node,
    /// holds an unexpired lease) and list messages.
    func openMaildrop(_ verdict: Authenticator.Verdict) async -> LoginResult {
        let mailbox: MailboxInfo
        switch verdict {
        case .success(let m): mailbox = m
        case .invalidCredentials: return (.invalidCredentials, nil)
        case .locked: return (.locked, nil)
        case .temporaryFailure: return (.temporaryFailure, nil)
        }
        let lease: MaildropLease
        do {
            let owner = MaildropLease.makeOwner(label: lockOwnerLabel)
            guard let taken = try await store.acquireMaildropLock(mailboxID: mailbox.id, owner: owner, duration: lockLease) else {
                return (.inUse, nil)
            }
            lease = taken
        } catch {
            logger.error("pop3 maildrop lock failed", metadata: ["error": "\(error)"])
            return (.temporaryFailure, nil)
        }
        do {
            let messages = try await store.retrievableMessages(mailboxID: mailbox.id)
            let maildrop = messages.map {
                MaildropEntry(deliveryID: $0.deliveryID, size: $0.size, bodyKey: $0.bodyID, uniqueID: $0.uniqueID, form: $0.form)
            }
            return (.success(mailboxID: mailbox.id, maildrop: maildrop), lease)
        } catch {
            try? await store.releaseMaildropLock(lease)
            logger.error("pop3 maildrop listing failed", metadata: ["error": "\(error)"])
            return (.temporaryFailure, nil)
        }
    }
}
