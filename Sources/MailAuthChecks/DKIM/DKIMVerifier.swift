import Crypto
import Foundation
import MailCore
import MailDNS

/// A DKIM result for one signature (RFC 8601 §2.7.1 result names).
public enum DKIMStatus: String, Sendable, Hashable {
    case pass, fail, neutral, policy, temperror, permerror
}

/// The verification of one DKIM-Signature field.
public struct DKIMVerification: Sendable, Equatable {
    public var status: DKIMStatus
    /// d= (lower-cased), "" when the signature did not parse that far.
    public var domain: String
    public var selector: String
    /// a= as written ("" when unknown).
    public var algorithm: String
    /// i= (or "@d").
    public var identity: String
    /// Key size in bits (0 when no key was used).
    public var keyBits: Int
    /// Why the result is not `pass` (for logs and the A-R comment).
    public var reason: String
    /// The first 12 characters of b= (RFC 6008 header.b, to tell signatures of one domain apart).
    public var signaturePrefix: String

    public init(
        status: DKIMStatus, domain: String = "", selector: String = "", algorithm: String = "",
        identity: String = "", keyBits: Int = 0, reason: String = "", signaturePrefix: String = ""
    ) {
        self.status = status
        self.domain = domain
        self.selector = selector
        self.algorithm = algorithm
        self.identity = identity
        self.keyBits = keyBits
        self.reason = reason
        self.signaturePrefix = signaturePrefix
    }
}

/// Verifies every DKIM-Signature of a message (up to `maxSignatures`; the rest get `permerror`), with
/// keys from DNS TXT records at `selector._domainkey.domain`.
///
/// Policy choices (documented in docs/AUTHENTICATION.md):
/// - rsa-sha1 signatures are `permerror` (RFC 8301); RSA keys under 1024 bits are `permerror`.
/// - An expired signature (x= in the past) is `fail`.
/// - l= (body length): a signature whose l= covers the whole canonical body verifies normally; one that
///   leaves body octets unsigned is `policy` (content could have been appended), and one whose l= is
///   longer than the body is `fail`.
public struct DKIMVerifier: Sendable {
    public var resolver: any DNSResolver
    public var maxSignatures = 10
    /// Seconds since the epoch; tests fix it.
    /// The time signatures' x= is compared with (the server's `MailClock`; tests use a `ManualMailClock`).
    public var clock: any MailClock = WallClock()

    public init(resolver: any DNSResolver) {
        self.resolver = resolver
    }

    public func verify(_ message: MessageData) async -> [DKIMVerification] {
        guard let header = try? message.header() else { return [] }
        return await verify(message, header: header)
    }

    public func verify(_ message: MessageData, header: MessageHeader) async -> [DKIMVerification] {
        let fields = header.fields(named: "DKIM-Signature")
        if fields.isEmpty { return [] }
        var results: [DKIMVerification?] = Array(repeating: nil, count: fields.count)
        var parsed: [(Int, DKIMSignature)] = []
        for (n, field) in fields.enumerated() {
            if n >= maxSignatures {
                results[n] = DKIMVerification(status: .permerror, reason: "more than \(maxSignatures) signatures")
                continue
            }
            do {
                let sig = try DKIMSignature.parse(field)
                parsed.append((n, sig))
            } catch {
                let tags = try? DKIMTagList.parse(field.raw, range: 0..<field.raw.count)
                results[n] = DKIMVerification(
                    status: .permerror, domain: tags?["d"]?.lowercased() ?? "",
                    selector: tags?["s"] ?? "", reason: error.description)
            }
        }
        // One pass over the body for every (canonicalization, l=) the signatures need.
        struct BodyKey: Hashable { var c: DKIMCanonicalization; var l: Int? }
        var hashers: [BodyKey: DKIMBodyHasher] = [:]
        for (_, sig) in parsed {
            let key = BodyKey(c: sig.bodyCanonicalization, l: sig.bodyLength)
            if hashers[key] == nil { hashers[key] = DKIMBodyHasher(canonicalization: key.c, limit: key.l) }
        }
        var bodies: [BodyKey: (digest: [UInt8], length: Int)] = [:]
        var bodyError: String? = nil
        if header.isComplete {
            do {
                let keys = Array(hashers.keys)
                try message.forEachChunk(from: header.bodyOffset) { chunk in
                    for key in keys { hashers[key]?.update(chunk) }
                }
                for key in keys { bodies[key] = hashers[key]?.finish() }
            } catch {
                bodyError = "cannot read the message: \(error)"
            }
        } else {
            bodyError = "header section too long"
        }
        for (n, sig) in parsed {
            var v = DKIMVerification(
                status: .fail, domain: sig.domain, selector: sig.selector,
                algorithm: sig.algorithm.rawValue, identity: sig.identity,
                signaturePrefix: String(DKIMTagList.compact(sig.tags["b"] ?? "").prefix(12)))
            if let bodyError {
                v.status = .temperror
                v.reason = bodyError
            } else if let body = bodies[BodyKey(c: sig.bodyCanonicalization, l: sig.bodyLength)] {
                await check(sig, body: body, header: header, into: &v)
            }
            results[n] = v
        }
        return results.map { $0 ?? DKIMVerification(status: .permerror, reason: "internal") }
    }

    private func check(
        _ sig: DKIMSignature, body: (digest: [UInt8], length: Int), header: MessageHeader,
        into v: inout DKIMVerification
    ) async {
        if let x = sig.expiration, x < Int(clock.now.timeIntervalSince1970) {
            v.status = .fail
            v.reason = "signature expired"
            return
        }
        // Key look-up (§3.6.2.2).
        let name = "\(sig.selector)._domainkey.\(sig.domain)"
        var record: DKIMKeyRecord? = nil
        var keyProblem = "no key record at \(name)"
        switch await resolver.txt(name) {
        case .temporaryFailure(let why):
            v.status = .temperror
            v.reason = "key look-up: \(why)"
            return
        case .nxDomain, .noData:
            break
        case .records(let txts):
            for txt in txts {
                do {
                    record = try DKIMKeyRecord.parse(txt)
                    break
                } catch {
                    keyProblem = error.description
                }
            }
        }
        guard let record else {
            v.status = .permerror
            v.reason = keyProblem
            return
        }
        if record.revoked {
            v.status = .permerror
            v.reason = "key revoked"
            return
        }
        guard record.keyType == sig.algorithm.keyType, let key = record.key else {
            v.status = .permerror
            v.reason = "key type \(record.keyType) does not match a=\(sig.algorithm.rawValue)"
            return
        }
        v.keyBits = key.bits
        if record.strictIdentity {
            let idomain = sig.identity.split(separator: "@").last.map { String($0).lowercased() } ?? ""
            if idomain != sig.domain {
                v.status = .permerror
                v.reason = "key requires i= in d= exactly (t=s)"
                return
            }
        }
        // Body.
        if let l = sig.bodyLength, l > body.length {
            v.status = .fail
            v.reason = "l=\(l) is longer than the body (\(body.length))"
            return
        }
        guard body.digest == sig.bodyHash else {
            v.status = .fail
            v.reason = "body hash did not verify"
            return
        }
        // Header hash (§3.7).
        var hash = SHA256()
        for field in DKIMSignature.selectHeaders(sig.signedHeaders, from: header.fields) {
            hash.update(data: sig.headerCanonicalization.header(field.raw))
        }
        hash.update(data: sig.canonicalizedWithoutB())
        guard key.isValid(signature: sig.signature, digest: hash.finalize()) else {
            v.status = .fail
            v.reason = "signature did not verify"
            return
        }
        if let l = sig.bodyLength, l < body.length {
            v.status = .policy
            v.reason = "l=\(l) leaves \(body.length - l) body octets unsigned"
            return
        }
        v.status = .pass
        v.reason = record.testing ? "key in testing mode (t=y)" : ""
    }
}
