/// Everything a POP3 connection needs from the rest of the server, injected by the composition root.
import Logging
import MailAuth
import MailCore
import MailStore
import NIOCore
import NIOPosix
import POP3Core

public struct POP3ServerContext: Sendable {
    public var configuration: POP3ServerConfiguration
    public var store: any MailStore
    public var locks: MaildropLocks
    public var throttle: AuthThrottle
    /// RFC 1939 §3: an autologout timer of at least 10 minutes.
    public var idleTimeout: TimeAmount
    public var connections: ConnectionTracker
    /// Password hashing is slow by design; it runs here, never on an event loop.
    public var threadPool: NIOThreadPool
    public var logger: Logger

    public init(configuration: POP3ServerConfiguration, store: any MailStore, locks: MaildropLocks = MaildropLocks(),
                throttle: AuthThrottle = AuthThrottle(), idleTimeout: TimeAmount = .minutes(10),
                connections: ConnectionTracker, threadPool: NIOThreadPool, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.locks = locks
        self.throttle = throttle
        self.idleTimeout = idleTimeout
        self.connections = connections
        self.threadPool = threadPool
        self.logger = logger
    }

    /// A hash to verify against when the account does not exist, so a missing user costs the same time
    /// as a wrong password and the answer time does not reveal which it was.
    static let dummyHash: String = (try? PasswordHasher.default.hash("petrel-dummy-password")) ?? ""

    /// Checks the credentials and, on success, takes the maildrop lock and lists the messages.
    func authenticate(username: String, password: String, client: ClientInfo) async -> (AuthResult, mailboxID: Int64?) {
        guard let address = EmailAddress(username) else {
            _ = await verify(password, Self.dummyHash)
            return (.invalidCredentials, nil)
        }
        let mailbox: MailboxInfo?
        do {
            mailbox = try await store.mailbox(address)
        } catch {
            logger.error("pop3 mailbox lookup failed", metadata: ["error": "\(error)"])
            return (.temporaryFailure, nil)
        }
        guard let mailbox, let hash = mailbox.passwordHash else {
            _ = await verify(password, Self.dummyHash)
            return (.invalidCredentials, nil)
        }
        guard await verify(password, hash) else { return (.invalidCredentials, nil) }
        // Only a caller who knows the password learns that the mailbox is locked.
        if mailbox.isLocked { return (.locked, nil) }
        guard locks.acquire(mailbox.id) else { return (.inUse, nil) }
        do {
            let messages = try await store.messages(mailboxID: mailbox.id)
            let maildrop = messages.map { MaildropEntry(deliveryID: $0.deliveryID, size: $0.size) }
            return (.success(mailboxID: mailbox.id, maildrop: maildrop), mailbox.id)
        } catch {
            locks.release(mailbox.id)
            logger.error("pop3 maildrop listing failed", metadata: ["error": "\(error)"])
            return (.temporaryFailure, nil)
        }
    }

    private func verify(_ password: String, _ hash: String) async -> Bool {
        (try? await threadPool.runIfActive { PasswordHasher.verify(password, against: hash) }) ?? false
    }
}
