/// Tests for PasswordHasher: scrypt PHC round trips, wrong passwords, malformed hashes (never crash),
/// salts, parameter limits, and PBKDF2-SHA256 imports (RFC 8018 / RFC 7914 test vectors).
import Foundation
import Testing

@testable import MailAuth

@Suite struct PasswordHasherTests {
    let hasher = PasswordHasher.fastForTests

    @Test func roundTrip() throws {
        let phc = try hasher.hash("correct horse battery staple")
        #expect(phc.hasPrefix("$scrypt$ln=10,r=8,p=1$"))
        #expect(PasswordHasher.verify("correct horse battery staple", against: phc))
    }

    @Test(arguments: ["wrong", "correct horse battery stapl", "Correct horse battery staple", " correct horse battery staple", ""])
    func wrongPasswordIsRejected(_ attempt: String) throws {
        let phc = try hasher.hash("correct horse battery staple")
        #expect(!PasswordHasher.verify(attempt, against: phc))
    }

    @Test func unicodePasswordRoundTrip() throws {
        let phc = try hasher.hash("pässwörd-日本語-🔑")
        #expect(PasswordHasher.verify("pässwörd-日本語-🔑", against: phc))
        #expect(!PasswordHasher.verify("passwörd-日本語-🔑", against: phc))
    }

    @Test func formatHasSixteenByteSaltAndThirtyTwoByteKey() throws {
        let phc = try hasher.hash("secret")
        let parts = phc.split(separator: "$", omittingEmptySubsequences: false)
        #expect(parts.count == 5)
        guard parts.count == 5 else { return }
        #expect(parts[1] == "scrypt")
        #expect(!parts[3].contains("=") && !parts[4].contains("="))
        #expect(PasswordHasher.decodeBase64(parts[3], passlib: false)?.count == 16)
        #expect(PasswordHasher.decodeBase64(parts[4], passlib: false)?.count == 32)
    }

    @Test func differentSaltsGiveDifferentHashes() throws {
        let a = try hasher.hash("same password")
        let b = try hasher.hash("same password")
        #expect(a != b)
        #expect(PasswordHasher.verify("same password", against: a))
        #expect(PasswordHasher.verify("same password", against: b))
    }

    @Test func emptyPasswordCannotBeHashed() {
        #expect(throws: PasswordHasher.HashError.emptyPassword) { try hasher.hash("") }
    }

    @Test func absurdParametersCannotBeHashed() {
        let bad = PasswordHasher(parameters: .init(logN: 21, r: 8, p: 1))
        #expect(throws: PasswordHasher.HashError.invalidParameters) { try bad.hash("x") }
        let zero = PasswordHasher(parameters: .init(logN: 0, r: 8, p: 1))
        #expect(throws: PasswordHasher.HashError.invalidParameters) { try zero.hash("x") }
    }

    @Test func verifiesHashesMadeWithOtherParameters() throws {
        let other = PasswordHasher(parameters: .init(logN: 8, r: 4, p: 2))
        let phc = try other.hash("pw")
        #expect(phc.hasPrefix("$scrypt$ln=8,r=4,p=2$"))
        #expect(PasswordHasher.verify("pw", against: phc))
    }

    /// RFC 7914 §12 test vector 2: scrypt("password", "NaCl", N=1024, r=8, p=16, dkLen=64).
    @Test func rfc7914Vector() {
        let salt = PasswordHasher.base64NoPadding(Array("NaCl".utf8))
        let key = hexBytes(
            """
            fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162\
            2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640
            """)
        let phc = "$scrypt$ln=10,r=8,p=16$\(salt)$\(PasswordHasher.base64NoPadding(key))"
        #expect(PasswordHasher.verify("password", against: phc))
        #expect(!PasswordHasher.verify("passwore", against: phc))
    }

    /// PBKDF2-HMAC-SHA256("password", "salt", 4096, 32) — the widely published vector.
    @Test func pbkdf2Import() {
        let key = hexBytes("c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a")
        let salt = PasswordHasher.base64NoPadding(Array("salt".utf8))
        let phc = "$pbkdf2-sha256$i=4096$\(salt)$\(PasswordHasher.base64NoPadding(key))"
        #expect(PasswordHasher.verify("password", against: phc))
        #expect(!PasswordHasher.verify("Password", against: phc))
        // passlib form: bare round count, '.' instead of '+'.
        let passlib = "$pbkdf2-sha256$4096$\(salt)$\(PasswordHasher.base64NoPadding(key).replacingOccurrences(of: "+", with: "."))"
        #expect(PasswordHasher.verify("password", against: passlib))
    }

    static let malformed: [String] = [
        "", "$", "$$", "$$$$", "$scrypt", "$scrypt$", "$scrypt$ln=10,r=8,p=1", "$scrypt$ln=10,r=8,p=1$c2FsdA",
        "$scrypt$ln=10,r=8,p=1$c2FsdA$", "$scrypt$ln=10,r=8,p=1$$aGFzaA", "$scrypt$$c2FsdA$aGFzaA",
        "scrypt$ln=10,r=8,p=1$c2FsdA$aGFzaA", "$scrypt$ln=10,r=8,p=1$c2FsdA$aGFzaA$extra",
        "$scrypt$ln=99,r=8,p=1$c2FsdA$aGFzaA", "$scrypt$ln=21,r=8,p=1$c2FsdA$aGFzaA", "$scrypt$ln=0,r=8,p=1$c2FsdA$aGFzaA",
        "$scrypt$ln=-1,r=8,p=1$c2FsdA$aGFzaA", "$scrypt$ln=10,r=0,p=1$c2FsdA$aGFzaA", "$scrypt$ln=10,r=8,p=0$c2FsdA$aGFzaA",
        "$scrypt$ln=20,r=64,p=16$c2FsdA$aGFzaA", "$scrypt$ln=10,r=8,p=99999999999$c2FsdA$aGFzaA",
        "$scrypt$ln=10,r=8$c2FsdA$aGFzaA", "$scrypt$r=8,ln=10,p=1$c2FsdA$aGFzaA", "$scrypt$ln=10,r=8,p=1,x=2$c2FsdA$aGFzaA",
        "$scrypt$ln=010,r=8,p=1$c2FsdA$aGFzaA", "$scrypt$ln=+10,r=8,p=1$c2FsdA$aGFzaA", "$scrypt$ln=1e1,r=8,p=1$c2FsdA$aGFzaA",
        "$scrypt$ln=,r=8,p=1$c2FsdA$aGFzaA", "$scrypt$ln,r,p$c2FsdA$aGFzaA", "$scrypt$ln=10,r=8,p=1$!!!!$aGFzaA",
        "$scrypt$ln=10,r=8,p=1$c2FsdA$a", "$scrypt$ln=10,r=8,p=1$c2FsdA$a-_b", "$scrypt$ln=10,r=8,p=1$c2F sdA$aGFzaA",
        "$scrypt$ln=10,r=8,p=1$c2FsdA$aGFzaA\u{0}", "$SCRYPT$ln=10,r=8,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA",
        "$2y$10$abcdefghijklmnopqrstuuJ7o8zH8xP0W2QXqXq5oWw0pV2Yb6y6a", "$6$salt$hash", "$pbkdf2-sha256$i=0$c2FsdA$aGFzaA",
        "$pbkdf2-sha256$i=99999999$c2FsdA$aGFzaA", "$pbkdf2-sha256$i=abc$c2FsdA$aGFzaA", "$pbkdf2-sha256$$c2FsdA$aGFzaA",
        "$pbkdf2-sha256$i=10$$aGFzaA", "$pbkdf2-sha256$i=10$c2FsdA$", "$pbkdf2-sha256$i=10$c2FsdA$===",
        "$pbkdf2-sha512$i=10$c2FsdA$aGFzaA", "$scrypt$ln=10,r=8,p=1$c2FsdA$" + String(repeating: "A", count: 5000),
        "$scrypt$ln=10,r=8,p=1$c2FsdA$aGFzaA" + String(repeating: "$", count: 100), "💥$scrypt$ln=10,r=8,p=1$c2FsdA$aGFzaA",
        "$scrypt$ln=１０,r=8,p=1$c2FsdA$aGFzaA", "plaintext-password"
    ]

    @Test(arguments: malformed)
    func malformedHashesAreRejectedWithoutCrashing(_ phc: String) {
        #expect(!PasswordHasher.verify("password", against: phc))
    }

    @Test func truncatedAndMutatedHashesAreRejected() throws {
        let phc = try hasher.hash("pw")
        // Every truncation that leaves less than 16 key octets (21 base64 characters) is rejected.
        // (Longer truncations are prefixes of the derived key and still verify: PHC strings carry
        // the key length implicitly.)
        let keyStart = try #require(phc.lastIndex(of: "$"))
        var count = 0
        for end in phc.indices where phc.distance(from: keyStart, to: end) <= 21 {
            #expect(!PasswordHasher.verify("pw", against: String(phc[..<end])), "\(phc[..<end])")
            count += 1
        }
        #expect(count > 50)
        // Change any one key character: verification must fail. The last character carries unused low
        // bits; a spelling that sets them is not canonical and is refused rather than decoded the same.
        let key = Array(phc[phc.index(after: keyStart)...])
        #expect(key.count == 43)
        // (One replacement per position, plus every replacement of the last one: each check is a scrypt
        // run on a shared test thread, so the test stays short.)
        let replacements: [Character] = ["A", "B", "Q", "g", "w", "/"]
        for position in key.indices {
            let choices = position == key.count - 1 ? replacements : [replacements[position % replacements.count]]
            for replacement in choices where replacement != key[position] {
                var mutated = key
                mutated[position] = replacement
                let candidate = String(phc[...keyStart]) + String(mutated)
                #expect(!PasswordHasher.verify("pw", against: candidate), "\(candidate)")
            }
        }
    }

    @Test func nonCanonicalBase64IsRefused() {
        // "QQ" is the canonical spelling of the single octet 0x41; "QR" decodes to the same octet in a
        // lenient decoder but sets unused bits.
        #expect(PasswordHasher.decodeBase64("QQ", passlib: false) == [0x41])
        #expect(PasswordHasher.decodeBase64("QR", passlib: false) == nil)
        #expect(PasswordHasher.decodeBase64("QQ==", passlib: false) == [0x41])
    }

    @Test func constantTimeEqual() {
        #expect(PasswordHasher.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!PasswordHasher.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!PasswordHasher.constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(PasswordHasher.constantTimeEqual([], []))
    }

    @Test func defaultParameters() {
        #expect(PasswordHasher.default.parameters == .init(logN: 15, r: 8, p: 1))
        #expect(PasswordHasher.fastForTests.parameters == .init(logN: 10, r: 8, p: 1))
    }

    private func hexBytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var chars = Array(hex.utf8).makeIterator()
        while let h = chars.next(), let l = chars.next() {
            if let byte = UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16) { out.append(byte) }
        }
        return out
    }
}
