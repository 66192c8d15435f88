/// A self-signed certificate for first start: ECDSA P-256, valid for the server's host name plus
/// `localhost`, 127.0.0.1 and ::1 (Python's ssl module checks IP SANs on loopback), one year long.
/// Made with swift-certificates + swift-crypto; written as PEM files the admin can replace.
import Crypto
import Foundation
import SwiftASN1
import X509

public enum SelfSignedCertificate {
    public struct PEMPair: Sendable {
        public var certificatePEM: String
        public var privateKeyPEM: String
    }

    public static func generate(hostname: String, now: Date = Date(), validDays: Int = 365) throws -> PEMPair {
        let key = P256.Signing.PrivateKey()
        let privateKey = Certificate.PrivateKey(key)
        let name = try DistinguishedName {
            CommonName(hostname)
            OrganizationName("Petrel self-signed")
        }
        var names: [GeneralName] = [.dnsName(hostname)]
        if hostname != "localhost" { names.append(.dnsName("localhost")) }
        names.append(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])))
        names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))))
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames(names)
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: privateKey.publicKey,
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(Double(validDays) * 86400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions,
            issuerPrivateKey: privateKey)
        return PEMPair(
            certificatePEM: try certificate.serializeAsPEM().pemString,
            privateKeyPEM: try privateKey.serializeAsPEM().pemString)
    }

    /// SHA-256 fingerprint of the first certificate in a PEM file, as colon-separated hex (for the log).
    public static func fingerprint(ofPEM pem: String) -> String? {
        guard let cert = try? Certificate(pemEncoded: pem) else { return nil }
        var serializer = DER.Serializer()
        guard (try? serializer.serialize(cert)) != nil else { return nil }
        return SHA256.hash(data: serializer.serializedBytes).map { String(format: "%02X", $0) }.joined(separator: ":")
    }

    /// Expiry date of the first certificate in a PEM string.
    public static func notValidAfter(ofPEM pem: String) -> Date? {
        (try? Certificate(pemEncoded: pem))?.notValidAfter
    }
}
