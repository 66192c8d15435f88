import Crypto
import Foundation
import MailCore
import MailDNS
import Testing

@testable import MailAuthChecks

@Suite struct DKIMCanonicalizationTests {
    /// RFC 6376 §3.4.5's example.
    @Test func rfc6376Example() {
        let a = HeaderField(raw: Array("A: X".utf8), range: 0..<0)
        let b = HeaderField(raw: Array("B : Y\t\r\n\tZ  ".utf8), range: 0..<0)
        #expect(
            String(decoding: DKIMCanonicalization.relaxed.header(a.raw) + DKIMCanonicalization.relaxed.header(b.raw), as: UTF8.self)
                == "a:X\r\nb:Y Z\r\n")
        #expect(String(decoding: DKIMCanonicalization.simple.header(b.raw), as: UTF8.self) == "B : Y\t\r\n\tZ  \r\n")
        let body = Array(" C \r\nD \t E\r\n\r\n\r\n".utf8)
        #expect(canonicalBody(body, .relaxed) == " C\r\nD E\r\n")
        #expect(canonicalBody(body, .simple) == " C \r\nD \t E\r\n")
    }

    func canonicalBody(_ body: [UInt8], _ c: DKIMCanonicalization, chunk: Int = 3) -> String {
        // Feed in small chunks so CRLF pairs and whitespace runs straddle chunk boundaries.
        var h = DKIMBodyHasher(canonicalization: c)
        var i = 0
        while i < body.count { h.update(body[i..<min(body.count, i + chunk)]); i += chunk }
        let (digest, length) = h.finish()
        // Compare with the expected digest from a one-shot reference to check the streaming path.
        let reference = Self.reference(body, c)
        #expect(length == reference.count)
        #expect(digest == Array(SHA256.hash(data: reference)))
        return String(decoding: reference, as: UTF8.self)
    }

    /// A direct, non-streaming implementation of §3.4.3/§3.4.4 for cross-checking.
    static func reference(_ body: [UInt8], _ c: DKIMCanonicalization) -> [UInt8] {
        var text = String(decoding: body, as: UTF8.self)
        var lines = text.components(separatedBy: "\r\n")
        if lines.last == "" { lines.removeLast() }
        if c == .relaxed {
            lines = lines.map { line in
                var out = ""
                var space = false
                for ch in line {
                    if ch == " " || ch == "\t" { space = true; continue }
                    if space { out.append(" "); space = false }
                    out.append(ch)
                }
                return out
            }
        }
        while lines.last == "" { lines.removeLast() }
        text = lines.map { $0 + "\r\n" }.joined()
        if c == .simple && text.isEmpty { text = "\r\n" }
        return Array(text.utf8)
    }

    @Test func emptyAndUnterminatedBodies() {
        #expect(canonicalBody([], .simple) == "\r\n")
        #expect(canonicalBody([], .relaxed) == "")
        #expect(canonicalBody(Array("\r\n\r\n".utf8), .relaxed) == "")
        #expect(canonicalBody(Array("\r\n\r\n".utf8), .simple) == "\r\n")
        #expect(canonicalBody(Array("abc".utf8), .simple) == "abc\r\n")
        #expect(canonicalBody(Array("a  \t b \t".utf8), .relaxed) == "a b\r\n")
        #expect(canonicalBody(Array("  \r\nx\r\n \t \r\n".utf8), .relaxed) == "\r\nx\r\n")
    }

    @Test func headerParsing() {
        let msg = Array("From: a@b.example\r\nSubject: hi\r\n there\r\nX: 1\r\n\r\nbody\r\n".utf8)
        let h = MessageHeader.parse(msg)
        #expect(h.fields.map(\.name) == ["From", "Subject", "X"])
        #expect(h.fields[1].unfoldedValue == "hi there")
        #expect(h.bodyOffset == msg.count - 6)
        #expect(h.isComplete)
        let noBody = MessageHeader.parse(Array("From: x@y.example\r\n".utf8))
        #expect(noBody.fields.count == 1 && noBody.isComplete)
    }
}

/// RFC 8463 Appendix A: the example message with one ed25519-sha256 and one rsa-sha256 signature.
@Suite struct RFC8463Tests {
    static let keys: [String: [String]] = [
        "brisbane._domainkey.football.example.com": ["v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="],
        "test._domainkey.football.example.com": [
            "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"
        ]
    ]

    static func message() throws -> [UInt8] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/dkim/rfc8463-a3.eml")
        return Array(try Data(contentsOf: url))
    }

    static func verifier() -> DKIMVerifier {
        var v = DKIMVerifier(resolver: StaticResolver(txt: keys))
        v.clock = ManualMailClock(Date(timeIntervalSince1970: TimeInterval(1_600_000_000)))
        return v
    }

    @Test func bothSignaturesVerify() async throws {
        let results = await Self.verifier().verify(.bytes(try Self.message()))
        #expect(results.map(\.status) == [.pass, .pass], "\(results)")
        #expect(results.map(\.algorithm) == ["ed25519-sha256", "rsa-sha256"])
        #expect(results.map(\.keyBits) == [256, 1024])
        #expect(results.allSatisfy { $0.domain == "football.example.com" })
    }

    @Test func changedBodyFails() async throws {
        var msg = try Self.message()
        let text = String(decoding: msg, as: UTF8.self).replacingOccurrences(of: "We lost the game.", with: "We won the game.")
        msg = Array(text.utf8)
        let results = await Self.verifier().verify(.bytes(msg))
        #expect(results.map(\.status) == [.fail, .fail])
        #expect(results.allSatisfy { $0.reason == "body hash did not verify" })
    }

    @Test func changedHeaderFails() async throws {
        let text = String(decoding: try Self.message(), as: UTF8.self).replacingOccurrences(
            of: "Subject: Is dinner ready?", with: "Subject: Is lunch ready?")
        let results = await Self.verifier().verify(.bytes(Array(text.utf8)))
        #expect(results.map(\.status) == [.fail, .fail])
        #expect(results.allSatisfy { $0.reason == "signature did not verify" })
    }

    @Test func addedFromFailsBecauseFromIsOverSigned() async throws {
        // h= lists from twice: a second From: added anywhere takes part in the hash.
        let text = String(decoding: try Self.message(), as: UTF8.self).replacingOccurrences(
            of: "To: Suzie", with: "From: evil@attacker.example\r\nTo: Suzie")
        let results = await Self.verifier().verify(.bytes(Array(text.utf8)))
        #expect(results.map(\.status) == [.fail, .fail])
    }

    @Test func missingKeyAndTemporaryFailure() async throws {
        var v = DKIMVerifier(resolver: StaticResolver(txt: [:], failures: ["test._domainkey.football.example.com": "SERVFAIL"]))
        v.clock = ManualMailClock(Date(timeIntervalSince1970: TimeInterval(1_600_000_000)))
        let results = await v.verify(.bytes(try Self.message()))
        #expect(results.map(\.status) == [.permerror, .temperror])
    }
}

@Suite struct DKIMSignVerifyTests {
    static let message = Array(
        """
        From: Alice <alice@example.org>\r
        To: bob@example.net\r
        Subject: hello\r
        Date: Thu, 03 Dec 2026 10:00:00 +0000\r
        Message-ID: <1@example.org>\r
        \r
        Hi Bob,\r
        \r
        see you  at   noon.\r
        \r
        \r

        """.utf8)

    static func keys() throws -> (DKIMSigner.Key, DKIMSigner.Key, StaticResolver) {
        let ed = DKIMSigner.Key(domain: "example.org", selector: "ed1", privateKey: try .generate(.ed25519))
        let rsa = DKIMSigner.Key(domain: "example.org", selector: "rsa1", privateKey: try .generate(.rsa))
        let resolver = StaticResolver(txt: [
            "ed1._domainkey.example.org": [ed.privateKey.dnsRecord],
            "rsa1._domainkey.example.org": [rsa.privateKey.dnsRecord]
        ])
        return (ed, rsa, resolver)
    }

    static func verify(_ msg: [UInt8], _ resolver: StaticResolver, now: Int = 1_800_000_000) async -> [DKIMVerification] {
        var v = DKIMVerifier(resolver: resolver)
        v.clock = ManualMailClock(Date(timeIntervalSince1970: TimeInterval(now)))
        return await v.verify(.bytes(msg))
    }

    @Test func signedMessagesVerify() async throws {
        let (ed, rsa, resolver) = try Self.keys()
        let sig = try DKIMSigner().sign(.bytes(Self.message), keys: [ed, rsa], now: 1_800_000_000)
        let text = String(decoding: sig, as: UTF8.self)
        #expect(text.contains("a=ed25519-sha256") && text.contains("a=rsa-sha256"))
        #expect(text.contains("x=\(1_800_000_000 + 7 * 24 * 3600)"))
        // No line longer than 78 characters.
        #expect(text.components(separatedBy: "\r\n").allSatisfy { $0.count <= 78 })
        let results = await Self.verify(sig + Self.message, resolver)
        #expect(results.map(\.status) == [.pass, .pass], "\(results)")
        #expect(results.map(\.keyBits) == [256, 2048])
        // The over-signed list: from/to/subject/date once more than present.
        #expect(text.contains("h=from:from:subject:subject:date:date:message-id:to:to;"))
    }

    @Test func relaxedSurvivesWhitespaceChangesButNotContentChanges() async throws {
        let (ed, rsa, resolver) = try Self.keys()
        let sig = try DKIMSigner().sign(.bytes(Self.message), keys: [ed, rsa], now: 1_800_000_000)
        let refolded = String(decoding: Self.message, as: UTF8.self)
            .replacingOccurrences(of: "Subject: hello", with: "subject:   hello ")
            .replacingOccurrences(of: "see you  at   noon.", with: "see you at noon.  ")
        #expect(await Self.verify(sig + Array(refolded.utf8), resolver).map(\.status) == [.pass, .pass])
        let changed = String(decoding: Self.message, as: UTF8.self).replacingOccurrences(of: "noon", with: "nine")
        #expect(await Self.verify(sig + Array(changed.utf8), resolver).map(\.status) == [.fail, .fail])
        let added = String(decoding: Self.message, as: UTF8.self).replacingOccurrences(
            of: "Message-ID", with: "Cc: x@y.example\r\nSubject: second\r\nMessage-ID")
        #expect(await Self.verify(sig + Array(added.utf8), resolver).map(\.status) == [.fail, .fail])
    }

    @Test func expiredSignatureFails() async throws {
        let (ed, _, resolver) = try Self.keys()
        let sig = try DKIMSigner().sign(.bytes(Self.message), keys: [ed], now: 1_800_000_000)
        let results = await Self.verify(sig + Self.message, resolver, now: 1_800_000_000 + 8 * 24 * 3600)
        #expect(results.map(\.status) == [.fail])
        #expect(results.first?.reason == "signature expired")
    }

    /// One verifier on one clock: the same signature passes up to its x= and fails once the clock
    /// passes it (RFC 6376 §3.5: x= is the last second the signature is valid).
    @Test func signatureExpiresWhenTheInjectedClockPassesX() async throws {
        let (ed, _, resolver) = try Self.keys()
        let signedAt = 1_800_000_000
        let sig = try DKIMSigner().sign(.bytes(Self.message), keys: [ed], now: signedAt)
        let clock = ManualMailClock(Date(timeIntervalSince1970: TimeInterval(signedAt)))
        var v = DKIMVerifier(resolver: resolver)
        v.clock = clock
        #expect(await v.verify(.bytes(sig + Self.message)).map(\.status) == [.pass])
        clock.advance(TimeInterval(7 * 24 * 3600)) // exactly x=
        #expect(await v.verify(.bytes(sig + Self.message)).map(\.status) == [.pass])
        clock.advance(1)
        let late = await v.verify(.bytes(sig + Self.message))
        #expect(late.map(\.status) == [.fail])
        #expect(late.first?.reason == "signature expired")
    }

    @Test func revokedKeyAndWrongKeyType() async throws {
        let (ed, rsa, _) = try Self.keys()
        let sig = try DKIMSigner().sign(.bytes(Self.message), keys: [ed, rsa], now: 1_800_000_000)
        let resolver = StaticResolver(txt: [
            "ed1._domainkey.example.org": ["v=DKIM1; k=ed25519; p="],
            "rsa1._domainkey.example.org": [ed.privateKey.dnsRecord]
        ])
        let results = await Self.verify(sig + Self.message, resolver)
        #expect(results.map(\.status) == [.permerror, .permerror])
        #expect(results.first?.reason == "key revoked")
    }

    @Test func keysRoundTripThroughPEM() throws {
        for alg in DKIMAlgorithm.allCases {
            let key = try DKIMPrivateKey.generate(alg)
            let again = try DKIMPrivateKey.fromPEM(key.pemRepresentation, algorithm: alg)
            #expect(again.publicKeyBase64 == key.publicKeyBase64)
            #expect(key.pemRepresentation.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        }
    }

    @Test func malformedSignaturesArePermerrors() async throws {
        let (_, _, resolver) = try Self.keys()
        let bad = [
            "DKIM-Signature: v=1; a=rsa-sha1; d=example.org; s=rsa1; h=from; bh=AAAA; b=AAAA",
            "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=rsa1; h=to; bh=AAAA; b=AAAA",
            "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; d=example.org; s=rsa1; h=from; bh=AAAA; b=AAAA",
            "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=rsa1; h=from; bh=AAAA; b=AAAA; i=@other.example",
            "DKIM-Signature: v=2; a=rsa-sha256; d=example.org; s=rsa1; h=from; bh=AAAA; b=AAAA",
            "DKIM-Signature: garbage"
        ]
        for field in bad {
            let results = await Self.verify(Array((field + "\r\n").utf8) + Self.message, resolver)
            #expect(results.map(\.status) == [.permerror], "\(field)")
        }
    }

    @Test func withoutExpiry() async throws {
        let (ed, _, resolver) = try Self.keys()
        var signer = DKIMSigner()
        signer.expiry = nil
        let sig = try signer.sign(.bytes(Self.message), keys: [ed], now: 1_800_000_000)
        #expect(!String(decoding: sig, as: UTF8.self).contains("x="))
        #expect(await Self.verify(sig + Self.message, resolver).map(\.status) == [.pass])
    }
}
