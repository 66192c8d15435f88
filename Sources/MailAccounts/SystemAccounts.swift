/// The `system` backend: the machine's accounts through PAM (Linux-PAM, service name `petrel` by
/// default, see dist/pam.d/petrel and docs/ACCOUNTS.md).
///
/// Which addresses exist: the mailboxes the admin added (`petrel mailbox add user@domain`, no password
/// needed); the local part is the PAM user name. A login for an address without a mailbox fails like a
/// wrong password, without asking PAM. PAM runs on the thread pool (modules block, and pam_unix's
/// unix_chkpwd helper forks).
import CPetrelPAM
import Logging
import MailCore
import MailStore
import NIOPosix

public struct SystemAccounts: AccountBackend {
    public var kind: AccountBackendKind { .system }
    let store: any MailStore
    let threadPool: NIOThreadPool
    let service: String
    let logger: Logger

    public init(store: any MailStore, threadPool: NIOThreadPool, service: String = "petrel", logger: Logger) {
        self.store = store
        self.threadPool = threadPool
        self.service = service
        self.logger = logger
    }

    public enum PAMResult: Sendable, Equatable {
        case ok
        case denied(String)
        case temporary(String)
    }

    /// One PAM conversation (blocking).
    public static func authenticate(service: String, user: String, password: String) -> PAMResult {
        guard !user.isEmpty, !password.isEmpty, !user.utf8.contains(0), !password.utf8.contains(0) else {
            return .denied("empty or NUL in user name or password")
        }
        var err = [CChar](repeating: 0, count: 256)
        let errLength = err.count
        let rc = petrel_pam_authenticate(service, user, password, &err, errLength)
        let text = String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        switch rc {
        case Int32(PETREL_PAM_OK): return .ok
        case Int32(PETREL_PAM_DENIED): return .denied(text)
        default: return .temporary(text)
        }
    }

    public func verify(_ address: EmailAddress, password: String) async -> LoginVerdict {
        let mailbox: MailboxInfo?
        do {
            mailbox = try await store.mailbox(address)
        } catch {
            logger.error("login lookup failed", metadata: ["error": "\(error)"])
            return .temporaryFailure
        }
        guard let mailbox else { return .invalidCredentials }
        let user = address.localPart
        let service = self.service
        let result: PAMResult
        do {
            result = try await threadPool.runIfActive { Self.authenticate(service: service, user: user, password: password) }
        } catch {
            return .temporaryFailure
        }
        switch result {
        case .ok:
            return mailbox.isLocked ? .locked : .success(mailbox)
        case .denied(let why):
            logger.debug("pam refused", metadata: ["user": "\(user)", "pam": "\(why)"])
            return .invalidCredentials
        case .temporary(let why):
            logger.error("pam failed: the login is answered as a temporary failure", metadata: ["service": "\(service)", "pam": "\(why)"])
            return .temporaryFailure
        }
    }

    public func resolveRecipient(_ address: EmailAddress) async throws -> RecipientResolution {
        try await store.resolveRecipient(address)
    }
}
