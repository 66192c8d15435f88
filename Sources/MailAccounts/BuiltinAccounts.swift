import Logging
/// The `builtin` backend: mailboxes and their scrypt hashes in the mail store.
import MailAuth
import MailCore
import MailStore
import NIOPosix

public struct BuiltinAccounts: AccountBackend {
    public var kind: AccountBackendKind { .builtin }
    let store: any MailStore
    let threadPool: NIOThreadPool
    let logger: Logger

    public init(store: any MailStore, threadPool: NIOThreadPool, logger: Logger) {
        self.store = store
        self.threadPool = threadPool
        self.logger = logger
    }

    /// A hash to verify against when the account does not exist, so a missing user costs the same time
    /// as a wrong password.
    static let dummyHash: String = (try? PasswordHasher.default.hash("petrel-dummy-password")) ?? ""

    public func verify(_ address: EmailAddress, password: String) async -> LoginVerdict {
        let mailbox: MailboxInfo?
        do {
            mailbox = try await store.mailbox(address)
        } catch {
            logger.error("login lookup failed", metadata: ["error": "\(error)"])
            return .temporaryFailure
        }
        guard let mailbox, let hash = mailbox.passwordHash else {
            await burnDummyHash(password)
            return .invalidCredentials
        }
        guard await check(password, hash) else { return .invalidCredentials }
        if mailbox.scramVerifier == nil, !mailbox.isLocked { await addSCRAMVerifier(password: password, for: address) }
        return mailbox.isLocked ? .locked : .success(mailbox)
    }

    public func resolveRecipient(_ address: EmailAddress) async throws -> RecipientResolution {
        try await store.resolveRecipient(address)
    }

    /// A mailbox whose password was set before SCRAM verifiers existed gets one at its next login.
    func addSCRAMVerifier(password: String, for address: EmailAddress) async {
        guard let verifier = try? await threadPool.runIfActive({ SCRAMVerifier.make(password: password) }) ?? nil else { return }
        do {
            try await store.setSCRAMVerifier(verifier, for: address)
        } catch {
            logger.warning("could not store the SCRAM verifier", metadata: ["mailbox": "\(address.lookupKey)", "error": "\(error)"])
        }
    }

    func burnDummyHash(_ password: String) async {
        _ = await check(password, Self.dummyHash)
    }

    private func check(_ password: String, _ hash: String) async -> Bool {
        (try? await threadPool.runIfActive { PasswordHasher.verify(password, against: hash) }) ?? false
    }
}
