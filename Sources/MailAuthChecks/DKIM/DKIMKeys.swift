import Crypto
import CryptoExtras
import Foundation

/// The signing algorithms Petrel signs and verifies. rsa-sha1 is refused (RFC 8301 §3.1).
public enum DKIMAlgorithm: String, Sendable, Hashable, CaseIterable {
    case ed25519 = "ed25519-sha256"
    case rsa = "rsa-sha256"

    /// The k= value of the key record.
    public var keyType: String { self == .ed25519 ? "ed25519" : "rsa" }
}

/// A private signing key: Ed25519 (RFC 8463) or RSA (2048 bits when generated).
public enum DKIMPrivateKey: Sendable {
    case ed25519(Curve25519.Signing.PrivateKey)
    case rsa(_RSA.Signing.PrivateKey)

    public var algorithm: DKIMAlgorithm {
        switch self {
        case .ed25519: return .ed25519
        case .rsa: return .rsa
        }
    }

    public static func generate(_ algorithm: DKIMAlgorithm) throws -> DKIMPrivateKey {
        switch algorithm {
        case .ed25519: return .ed25519(Curve25519.Signing.PrivateKey())
        case .rsa: return .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        }
    }

    /// PKCS#8 PEM ("BEGIN PRIVATE KEY"), readable by OpenSSL.
    public var pemRepresentation: String {
        switch self {
        case .ed25519(let k):
            // RFC 8410 §7: OneAsymmetricKey with the Ed25519 OID and the 32-byte seed as an OCTET STRING.
            let der: [UInt8] =
                [
                    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
                    0x04, 0x22, 0x04, 0x20
                ] + Array(k.rawRepresentation)
            return Self.pem(der, label: "PRIVATE KEY")
        case .rsa(let k):
            return k.pkcs8PEMRepresentation
        }
    }

    public struct KeyError: Error, CustomStringConvertible { public var description: String }

    /// Reads a PEM written by `pemRepresentation` (or OpenSSL: PKCS#8 for Ed25519, PKCS#1 or PKCS#8 RSA).
    public static func fromPEM(_ pem: String, algorithm: DKIMAlgorithm) throws -> DKIMPrivateKey {
        switch algorithm {
        case .ed25519:
            guard let der = Self.derFromPEM(pem), der.count == 48,
                Array(der[0..<16]) == [
                    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
                    0x04, 0x22, 0x04, 0x20
                ]
            else {
                throw KeyError(description: "not a PKCS#8 Ed25519 private key")
            }
            return .ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: der[16..<48]))
        case .rsa:
            return .rsa(try _RSA.Signing.PrivateKey(pemRepresentation: pem))
        }
    }

    /// The p= value of the DNS key record: the raw 32-byte key (Ed25519, RFC 8463 §4.2) or the DER
    /// SubjectPublicKeyInfo (RSA, RFC 6376 §3.6.1), in base64.
    public var publicKeyBase64: String {
        switch self {
        case .ed25519(let k): return Data(k.publicKey.rawRepresentation).base64EncodedString()
        case .rsa(let k): return k.publicKey.derRepresentation.base64EncodedString()
        }
    }

    /// The TXT record to publish at `selector._domainkey.domain`.
    public var dnsRecord: String { "v=DKIM1; k=\(algorithm.keyType); p=\(publicKeyBase64)" }

    func sign(_ digest: SHA256.Digest) throws -> [UInt8] {
        switch self {
        case .ed25519(let k):
            // RFC 8463 §3: Ed25519 (pure) over the SHA-256 hash of the canonicalized header data.
            return Array(try k.signature(for: Array(digest)))
        case .rsa(let k):
            return Array(try k.signature(for: digest, padding: .insecurePKCS1v1_5).rawRepresentation)
        }
    }

    static func pem(_ der: [UInt8], label: String) -> String {
        let b64 = Data(der).base64EncodedString()
        var lines: [String] = ["-----BEGIN \(label)-----"]
        var i = b64.startIndex
        while i < b64.endIndex {
            let j = b64.index(i, offsetBy: 64, limitedBy: b64.endIndex) ?? b64.endIndex
            lines.append(String(b64[i..<j]))
            i = j
        }
        lines.append("-----END \(label)-----")
        return lines.joined(separator: "\n") + "\n"
    }

    static func derFromPEM(_ pem: String) -> [UInt8]? {
        let body = pem.split(whereSeparator: \.isNewline).filter { !$0.hasPrefix("-----") }.joined()
        return Data(base64Encoded: body).map { Array($0) }
    }
}

/// A public key from a DKIM key record (RFC 6376 §3.6.1), ready to verify.
enum DKIMPublicKey {
    case ed25519(Curve25519.Signing.PublicKey)
    case rsa(_RSA.Signing.PublicKey, bits: Int)

    var bits: Int {
        switch self {
        case .ed25519: return 256
        case .rsa(_, let bits): return bits
        }
    }

    func isValid(signature: [UInt8], digest: SHA256.Digest) -> Bool {
        switch self {
        case .ed25519(let k):
            return k.isValidSignature(signature, for: Array(digest))
        case .rsa(let k, _):
            return k.isValidSignature(
                _RSA.Signing.RSASignature(rawRepresentation: signature), for: digest,
                padding: .insecurePKCS1v1_5)
        }
    }
}

/// A parsed DKIM key record.
struct DKIMKeyRecord {
    var keyType: String
    var key: DKIMPublicKey?
    var revoked: Bool
    var testing: Bool
    var strictIdentity: Bool

    struct RecordError: Error, CustomStringConvertible { var description: String }

    /// Minimum RSA size accepted for verification (RFC 8301 §3.2: verifiers MUST accept 1024–4096 bits and
    /// signers use at least 1024; Petrel signs with 2048).
    static let minimumRSABits = 1024

    static func parse(_ text: String) throws(RecordError) -> DKIMKeyRecord {
        let bytes = Array(text.utf8)
        let tags: DKIMTagList
        do { tags = try DKIMTagList.parse(bytes, range: 0..<bytes.count) } catch {
            throw RecordError(description: "key record: \(error.description)")
        }
        if let v = tags["v"] {
            guard v == "DKIM1", tags.tags.first?.name == "v" else { throw RecordError(description: "key record v=\(v)") }
        }
        if let h = tags["h"] {
            let hashes = h.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard hashes.contains("sha256") else { throw RecordError(description: "key record does not allow sha256") }
        }
        if let s = tags["s"] {
            let services = s.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard services.contains("*") || services.contains("email") else {
                throw RecordError(description: "key record not for email (s=\(s))")
            }
        }
        let flags = (tags["t"] ?? "").split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let k = (tags["k"] ?? "rsa").lowercased()
        guard let pValue = tags["p"] else { throw RecordError(description: "key record without p=") }
        let p = DKIMTagList.compact(pValue)
        var record = DKIMKeyRecord(
            keyType: k, key: nil, revoked: p.isEmpty, testing: flags.contains("y"),
            strictIdentity: flags.contains("s"))
        if p.isEmpty { return record }
        guard let der = Data(base64Encoded: p) else { throw RecordError(description: "key record p= is not base64") }
        switch k {
        case "ed25519":
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: der) else {
                throw RecordError(description: "bad Ed25519 public key")
            }
            record.key = .ed25519(key)
        case "rsa":
            guard let key = try? _RSA.Signing.PublicKey(unsafeDERRepresentation: der) else {
                throw RecordError(description: "bad or too small RSA public key (minimum \(minimumRSABits) bits)")
            }
            guard key.keySizeInBits >= minimumRSABits else {
                throw RecordError(description: "RSA key of \(key.keySizeInBits) bits is too small")
            }
            record.key = .rsa(key, bits: key.keySizeInBits)
        default:
            throw RecordError(description: "unknown key type k=\(k)")
        }
        return record
    }
}
