/// SCRAM-SHA-256 verifiers (RFC 5802 §3, RFC 7677): what the server keeps so a client can prove its
/// password without sending it. Made when a password is set (`petrel mailbox add/passwd`) or, for
/// older mailboxes, at the next successful PLAIN/LOGIN.
///
/// Stored as text in PostgreSQL's format (so verifiers can be moved between the two):
///
///     SCRAM-SHA-256$<iterations>:<salt base64>$<StoredKey base64>:<ServerKey base64>
import Crypto
import CryptoExtras
import Foundation
import MailCore

public enum SCRAMVerifier {
    /// RFC 7677 §4: at least 4096; a client pays this PBKDF2 cost at every login.
    public static let defaultIterations = 10_000
    static let maxIterations = 1_000_000
    static let saltLength = 16

    /// SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, i); ClientKey = HMAC(SaltedPassword, "Client Key");
    /// StoredKey = H(ClientKey); ServerKey = HMAC(SaltedPassword, "Server Key").
    /// The password is used as given (UTF-8): SASLprep (RFC 4013) is not applied, which is the same for
    /// ASCII passwords; clients that normalise other passwords may differ (documented).
    public static func derive(password: String, salt: [UInt8], iterations: Int) -> SCRAMStoredCredentials? {
        guard !password.isEmpty, !salt.isEmpty, (1...maxIterations).contains(iterations),
            let salted = try? KDF.Insecure.PBKDF2.deriveKey(
                from: Array(password.utf8), salt: salt, using: .sha256,
                outputByteCount: 32, unsafeUncheckedRounds: iterations)
        else { return nil }
        let saltedPassword = salted.withUnsafeBytes { Array($0) }
        let hash = SCRAMSHA256()
        let clientKey = hash.hmac(key: saltedPassword, data: Array("Client Key".utf8))
        return SCRAMStoredCredentials(
            salt: salt, iterations: iterations, storedKey: hash.hash(clientKey),
            serverKey: hash.hmac(key: saltedPassword, data: Array("Server Key".utf8)))
    }

    /// A new verifier string with a random salt.
    public static func make(password: String, iterations: Int = defaultIterations) -> String? {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<saltLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return derive(password: password, salt: salt, iterations: iterations).map(encode)
    }

    public static func encode(_ credentials: SCRAMStoredCredentials) -> String {
        "SCRAM-SHA-256$\(credentials.iterations):\(Base64.encode(credentials.salt))$"
            + "\(Base64.encode(credentials.storedKey)):\(Base64.encode(credentials.serverKey))"
    }

    /// Parses a stored verifier; nil when malformed.
    public static func decode(_ text: String) -> SCRAMStoredCredentials? {
        guard text.utf8.count <= 512 else { return nil }
        let parts = text.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "SCRAM-SHA-256" else { return nil }
        let first = parts[1].split(separator: ":", omittingEmptySubsequences: false)
        let second = parts[2].split(separator: ":", omittingEmptySubsequences: false)
        guard first.count == 2, second.count == 2, first[0].utf8.count <= 7,
            let iterations = Int(first[0]), (1...maxIterations).contains(iterations),
            let salt = Base64.decode(String(first[1])), !salt.isEmpty,
            let storedKey = Base64.decode(String(second[0])), storedKey.count == 32,
            let serverKey = Base64.decode(String(second[1])), serverKey.count == 32
        else { return nil }
        return SCRAMStoredCredentials(salt: salt, iterations: iterations, storedKey: storedKey, serverKey: serverKey)
    }

    /// Made-up credentials for a user who has none (unknown, or no verifier yet): the same salt for the
    /// same name within one server run, so the exchange does not tell such users apart; no proof matches.
    public static func decoy(username: String, secret: [UInt8]) -> SCRAMStoredCredentials {
        let hash = SCRAMSHA256()
        let salt = Array(hash.hmac(key: secret, data: Array(("salt:" + username.lowercased()).utf8)).prefix(saltLength))
        let storedKey = hash.hmac(key: secret, data: Array(("stored:" + username.lowercased()).utf8))
        let serverKey = hash.hmac(key: secret, data: Array(("server:" + username.lowercased()).utf8))
        return SCRAMStoredCredentials(salt: salt, iterations: defaultIterations, storedKey: storedKey, serverKey: serverKey)
    }

    /// A server nonce: 24 random octets, base64 (printable, no ',').
    public static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64.encode((0..<24).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }
}

/// SHA-256 and HMAC-SHA-256 through swift-crypto, for MailCore's SCRAM exchange.
public struct SCRAMSHA256: SCRAMHash {
    public init() {}

    public func hash(_ data: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: data)) }

    public func hmac(key: [UInt8], data: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: key)))
    }
}
