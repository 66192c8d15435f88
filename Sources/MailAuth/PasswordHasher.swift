/// Slow salted password hashes for mailbox logins (POP3 USER/PASS, AUTH PLAIN, RFC 5034).
///
/// Hashes are written as PHC strings (https://github.com/P-H-C/phc-string-format):
///
///     $scrypt$ln=15,r=8,p=1$<salt, base64 without padding>$<key, base64 without padding>
///
/// scrypt is RFC 7914 (through swift-crypto's `KDF.Scrypt`). `verify` also accepts PBKDF2-HMAC-SHA256
/// (RFC 8018 §5.2) as `$pbkdf2-sha256$i=<rounds>$<salt>$<hash>` (or passlib's `$pbkdf2-sha256$<rounds>$…`
/// with its `.`-for-`+` base64) so hashes can be imported from other servers.
///
/// Hashing is CPU- and memory-heavy by design: callers run it off the event loop.
/// `verify` never throws and never crashes on malformed input: it returns false.
import Crypto
import CryptoExtras
import Foundation

/// Hashes and verifies mailbox passwords.
public struct PasswordHasher: Sendable {
    /// scrypt cost parameters (RFC 7914 §2): N = 2^logN, block size r, parallelism p.
    public struct Parameters: Sendable, Hashable {
        public var logN: Int
        public var r: Int
        public var p: Int

        public init(logN: Int, r: Int, p: Int) {
            self.logN = logN
            self.r = r
            self.p = p
        }
    }

    /// Errors from `hash`.
    public enum HashError: Error, Equatable, Sendable, CustomStringConvertible {
        /// A mailbox gets either a real password or none.
        case emptyPassword
        /// The parameters are outside the accepted range (see `PasswordHasher.limits`).
        case invalidParameters
        /// The key derivation failed (out of memory, library error).
        case derivationFailed

        public var description: String {
            switch self {
            case .emptyPassword: return "the password is empty"
            case .invalidParameters: return "scrypt parameters out of range"
            case .derivationFailed: return "password key derivation failed"
            }
        }
    }

    /// scrypt N=2^15, r=8, p=1: 32 MiB of memory per hash (~90 ms per hash or verify on the 2-core reference machine, release build).
    public static let `default` = PasswordHasher(parameters: Parameters(logN: 15, r: 8, p: 1))
    /// scrypt N=2^10, r=8, p=1: 1 MiB, fast. For unit tests only.
    public static let fastForTests = PasswordHasher(parameters: Parameters(logN: 10, r: 8, p: 1))

    /// Salt length of new hashes, in octets.
    public static let saltLength = 16
    /// Derived key length of new hashes, in octets.
    public static let keyLength = 32

    /// Largest accepted logN (N = 2^20 with r = 8 is 1 GiB: already absurd for a login).
    static let maxLogN = 20
    static let maxR = 64
    static let maxP = 16
    /// Largest memory (128·N·r·p octets) a hash may ask for: 1 GiB.
    static let maxMemory = 1 << 30
    /// Shortest stored key accepted by `verify`: a shorter key is a prefix of the full one (both KDFs
    /// stream their output), so a truncated hash would accept wrong passwords far too often.
    static let minKeyLength = 16
    /// Largest PBKDF2 iteration count accepted from an imported hash.
    static let maxPBKDF2Rounds = 10_000_000

    public let parameters: Parameters

    public init(parameters: Parameters) {
        self.parameters = parameters
    }

    /// Hashes `password` (its UTF-8 octets) with a fresh 16-octet random salt into a PHC string.
    /// Throws `HashError.emptyPassword` for "".
    public func hash(_ password: String) throws -> String {
        guard !password.isEmpty else { throw HashError.emptyPassword }
        guard Self.scryptParametersAcceptable(parameters) else { throw HashError.invalidParameters }
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<Self.saltLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        guard let key = Self.scrypt(Array(password.utf8), salt: salt, parameters: parameters, length: Self.keyLength)
        else { throw HashError.derivationFailed }
        return "$scrypt$ln=\(parameters.logN),r=\(parameters.r),p=\(parameters.p)$"
            + Self.base64NoPadding(salt) + "$" + Self.base64NoPadding(key)
    }

    /// Verifies `password` against a PHC string made with any parameters (they are read from the string).
    /// Returns false for a wrong password, an empty password, and any malformed or out-of-range hash.
    /// The final comparison is constant-time.
    public static func verify(_ password: String, against phc: String) -> Bool {
        guard !password.isEmpty, phc.utf8.count <= 1024 else { return false }
        guard let parsed = PHCString(phc) else { return false }
        let pw = Array(password.utf8)
        switch parsed.algorithm {
        case "scrypt":
            guard let params = parseScryptParameters(parsed.parameters),
                let salt = decodeBase64(parsed.salt, passlib: false), !salt.isEmpty,
                let expected = decodeBase64(parsed.hash, passlib: false),
                (minKeyLength...1024).contains(expected.count),
                let key = scrypt(pw, salt: salt, parameters: params, length: expected.count)
            else { return false }
            return constantTimeEqual(key, expected)
        case "pbkdf2-sha256":
            guard let rounds = parsePBKDF2Rounds(parsed.parameters),
                let salt = decodeBase64(parsed.salt, passlib: true), !salt.isEmpty,
                let expected = decodeBase64(parsed.hash, passlib: true),
                (minKeyLength...1024).contains(expected.count),
                let key = try? KDF.Insecure.PBKDF2.deriveKey(
                    from: pw, salt: salt, using: .sha256,
                    outputByteCount: expected.count,
                    unsafeUncheckedRounds: rounds)
            else { return false }
            let bytes = key.withUnsafeBytes { Array($0) }
            return constantTimeEqual(bytes, expected)
        default:
            return false
        }
    }

    // MARK: - Internals

    /// True when the parameters are in range and their memory (128·N·r·p) is at most `maxMemory`.
    static func scryptParametersAcceptable(_ p: Parameters) -> Bool {
        guard (1...maxLogN).contains(p.logN), (1...maxR).contains(p.r), (1...maxP).contains(p.p) else { return false }
        let memory = 128 * (1 << p.logN) * p.r * p.p
        return memory <= maxMemory
    }

    static func scrypt(_ password: [UInt8], salt: [UInt8], parameters: Parameters, length: Int) -> [UInt8]? {
        // swift-crypto force-unwraps the buffers' base addresses: never pass it empty input.
        guard !password.isEmpty, !salt.isEmpty, length > 0, scryptParametersAcceptable(parameters) else { return nil }
        let memory = 128 * (1 << parameters.logN) * parameters.r * parameters.p
        guard
            let key = try? KDF.Scrypt.deriveKey(
                from: password, salt: salt, outputByteCount: length,
                rounds: 1 << parameters.logN, blockSize: parameters.r,
                parallelism: parameters.p, maxMemory: memory + (1 << 20))
        else { return nil }
        return key.withUnsafeBytes { Array($0) }
    }

    /// `ln=<int>,r=<int>,p=<int>` in that order (the form `hash` writes).
    static func parseScryptParameters(_ text: Substring) -> Parameters? {
        let fields = text.split(separator: ",", omittingEmptySubsequences: false)
        guard fields.count == 3 else { return nil }
        var values: [Int] = []
        for (field, name) in zip(fields, ["ln", "r", "p"]) {
            let kv = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.count == 2, kv[0] == name, let v = parseDecimal(kv[1]) else { return nil }
            values.append(v)
        }
        guard values.count == 3 else { return nil }
        let params = Parameters(logN: values[0], r: values[1], p: values[2])
        return scryptParametersAcceptable(params) ? params : nil
    }

    /// `i=<int>` (PHC) or a bare `<int>` (passlib).
    static func parsePBKDF2Rounds(_ text: Substring) -> Int? {
        let digits = text.hasPrefix("i=") ? text.dropFirst(2) : text
        guard let rounds = parseDecimal(digits), (1...maxPBKDF2Rounds).contains(rounds) else { return nil }
        return rounds
    }

    /// 1–9 ASCII digits, no sign, no leading zero (PHC decimal rule).
    static func parseDecimal(_ text: Substring) -> Int? {
        guard (1...9).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        if text.utf8.count > 1 && text.utf8.first == 0x30 { return nil }
        return Int(text)
    }

    static func base64NoPadding(_ bytes: [UInt8]) -> String {
        var s = Data(bytes).base64EncodedString()
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }

    /// B64 as PHC defines it (standard alphabet, no padding, canonical); tolerates padding, and passlib's `.` for `+`.
    static func decodeBase64(_ text: Substring, passlib: Bool) -> [UInt8]? {
        var s = String(text)
        while s.hasSuffix("=") { s.removeLast() }
        guard !s.isEmpty else { return nil }
        if passlib { s = s.replacingOccurrences(of: ".", with: "+") }
        guard s.utf8.allSatisfy({ isBase64Char($0) }), s.utf8.count % 4 != 1 else { return nil }
        while s.utf8.count % 4 != 0 { s.append("=") }
        guard let data = Data(base64Encoded: s) else { return nil }
        // Canonical only: unused low bits in the last character must be zero, so one stored hash has
        // exactly one spelling (Foundation ignores those bits, which would make "…A" and "…B" equal).
        guard data.base64EncodedString() == s else { return nil }
        return Array(data)
    }

    static func isBase64Char(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2B || c == 0x2F
    }

    /// Compares in time that depends only on the lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}

/// The four fields of `$alg$params$salt$hash`.
struct PHCString {
    var algorithm: Substring
    var parameters: Substring
    var salt: Substring
    var hash: Substring

    /// phc = "$" id "$" params "$" salt "$" hash  (the PHC string format, restricted to what we accept).
    init?(_ text: String) {
        guard text.hasPrefix("$") else { return nil }
        let parts = text.dropFirst().split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        algorithm = parts[0]
        parameters = parts[1]
        salt = parts[2]
        hash = parts[3]
    }
}
