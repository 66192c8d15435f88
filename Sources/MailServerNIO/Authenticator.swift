/// Checks a login (SMTP AUTH or POP3) against the mailbox directory, the same way for both protocols:
/// the slow hash runs on a thread pool, never on an event loop; an unknown account costs the same
/// time as a wrong password (a dummy hash is checked); a locked mailbox is only reported to a caller
/// who knew the password; every failure gets a delay that grows per client IP and per account; and the
/// logins in flight per client IP and per account are bounded (`beginLogin`, see AuthThrottle.swift).
import Logging
import MailAccounts
import MailAuth
import MailCore
import MailStore
import NIOCore
import NIOPosix

public final class Authenticator: Sendable {
    /// The verdict on a user name and password (or SCRAM proof), shared by every protocol. Each protocol
    /// adapter turns it into its session's answer: `SMTPAuthAnswer` (SMTPCore), `POP3LoginAnswer`
    /// (POP3Core, after taking the maildrop lock).
    public enum Verdict: Sendable, Equatable {
        case success(MailboxInfo)
        case invalidCredentials
        case locked
        case temporaryFailure
    }

    let store: any MailStore
    let threadPool: NIOThreadPool
    public let throttle: AuthThrottle
    let logger: Logger
    /// The per-domain account backends (builtin, system, ldap); nil checks the store's hashes directly.
    public let accounts: AccountRouter?

    /// What an unknown account's password is checked against.
    let unknownUserHash: String

    /// `unknownUserHash`: nil for `dummyHash` (the production cost); a test or fuzzer that makes its
    /// mailboxes with a cheaper hasher passes a hash of that cost, so unknown users cost the same again.
    public init(
        store: any MailStore, threadPool: NIOThreadPool, throttle: AuthThrottle, logger: Logger,
        accounts: AccountRouter? = nil, unknownUserHash: String? = nil
    ) {
        self.accounts = accounts
        self.store = store
        self.threadPool = threadPool
        self.throttle = throttle
        self.logger = logger
        self.unknownUserHash = unknownUserHash ?? Self.dummyHash
    }

    /// A hash to verify against when the account does not exist, so a missing user costs the same time
    /// as a wrong password.
    static let dummyHash: String = (try? PasswordHasher.default.hash("petrel-dummy-password")) ?? ""

    /// A slot for one login of `account` from `ip`, or nil when too many are in flight (the caller
    /// refuses the login without checking it). Give it back with `endLogin` when the answer is due.
    public func beginLogin(ip: IPAddress?, account: String) -> AuthThrottle.LoginSlot? {
        throttle.beginLogin(ip: ip, account: account)
    }

    public func endLogin(_ slot: AuthThrottle.LoginSlot) { throttle.endLogin(slot) }

    public func verify(username: String, password: String) async -> Verdict {
        if let accounts {
            switch await accounts.verify(username: username, password: password) {
            case .success(let mailbox): return .success(mailbox)
            case .invalidCredentials: return .invalidCredentials
            case .locked: return .locked
            case .temporaryFailure: return .temporaryFailure
            }
        }
        guard let address = EmailAddress(username), !address.isAddressLiteral else {
            _ = await check(password, unknownUserHash)
            return .invalidCredentials
        }
        let mailbox: MailboxInfo?
        do {
            mailbox = try await store.mailbox(address)
        } catch {
            logger.error("login lookup failed", metadata: ["error": "\(error)"])
            return .temporaryFailure
        }
        guard let mailbox, let hash = mailbox.passwordHash else {
            _ = await check(password, unknownUserHash)
            return .invalidCredentials
        }
        guard await check(password, hash) else { return .invalidCredentials }
        return mailbox.isLocked ? .locked : .success(mailbox)
    }

    /// Records a failure; returns the delay before the failure may be answered.
    public func failureDelay(ip: IPAddress?, account: String) -> TimeAmount {
        .milliseconds(Int64(throttle.recordFailure(ip: ip, account: account) * 1000))
    }

    public func recordSuccess(account: String) { throttle.recordSuccess(account: account) }

    private func check(_ password: String, _ hash: String) async -> Bool {
        (try? await threadPool.runIfActive { PasswordHasher.verify(password, against: hash) }) ?? false
    }
}
