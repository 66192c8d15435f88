/// SCRAM-SHA-256 (RFC 7677) for `builtin` accounts: the stored verifier for the exchange, and the
/// verdict once the client's proof was checked (MailCore's `SASLServerExchange` does the maths).
/// A user without a verifier (unknown, not builtin, or no password set since verifiers came) gets
/// made-up credentials, so the exchange looks the same and simply fails.
import MailAccounts
import MailAuth
import MailCore
import MailStore

extension Authenticator {
    /// Made-up credentials are keyed with this, new at every start.
    static let decoySecret: [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }()

    /// The builtin mailbox a SCRAM user name names, or nil (not an address, another backend, none).
    func scramMailbox(_ username: String) async throws -> MailboxInfo? {
        guard let address = EmailAddress(username), !address.isAddressLiteral else { return nil }
        if let accounts, accounts.backend(forDomain: address.domain).kind != .builtin { return nil }
        return try await store.mailbox(address)
    }

    public func scramParameters(username: String) async -> SCRAMServerParameters {
        var credentials = SCRAMVerifier.decoy(username: username, secret: Self.decoySecret)
        if let mailbox = try? await scramMailbox(username), let text = mailbox.scramVerifier,
            let stored = SCRAMVerifier.decode(text)
        {
            credentials = stored
        }
        return SCRAMServerParameters(credentials: credentials, serverNonce: SCRAMVerifier.makeNonce(), hash: SCRAMSHA256())
    }

    public func verifySCRAM(username: String, proofValid: Bool) async -> Verdict {
        guard proofValid else { return .invalidCredentials }
        do {
            // A valid proof needs the real verifier, which only an existing builtin mailbox has.
            guard let mailbox = try await scramMailbox(username), mailbox.scramVerifier != nil else { return .invalidCredentials }
            return mailbox.isLocked ? .locked : .success(mailbox)
        } catch {
            logger.error("login lookup failed", metadata: ["error": "\(error)"])
            return .temporaryFailure
        }
    }
}
