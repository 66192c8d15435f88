import Foundation
import MailStore
import Testing

@testable import MailAuthChecks
@testable import PetrelServer

/// MessageAuthentication.obscure: a forged Authentication-Results field is renamed in place, in memory
/// and in a spool file; a spool file that cannot be updated is an error (logged by the caller with the
/// queue id), never silently ignored.
@Suite struct ObscureForgedFieldsTests {
    static let message = Array("Authentication-Results: mx.petrel.test; spf=pass\r\nSubject: x\r\n\r\nbody\r\n".utf8)
    static var forged: [HeaderField] {
        let end = message.firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        return [HeaderField(raw: Array(message[0..<end]), range: 0..<end)]
    }
    static let expected = "X-Removed-Auth-Results: mx.petrel.test; spf=pass\r\nSubject: x\r\n\r\nbody\r\n"

    @Test func inMemoryBodyIsRenamed() throws {
        guard case .bytes(let bytes) = try MessageAuthentication.obscure(Self.forged, in: .bytes(Self.message)) else {
            Issue.record("not bytes")
            return
        }
        #expect(String(decoding: bytes, as: UTF8.self) == Self.expected)
    }

    @Test func spoolFileIsRenamedInPlace() throws {
        let path = NSTemporaryDirectory() + "petrel-obscure-\(UUID().uuidString)"
        try Data(Self.message).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try MessageAuthentication.obscure(Self.forged, in: .file(path: path, size: Int64(Self.message.count)))
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self) == Self.expected)
    }

    @Test func unreadableSpoolFileThrows() {
        let path = NSTemporaryDirectory() + "petrel-obscure-missing-\(UUID().uuidString)"
        #expect(throws: ObscureFailure.self) {
            _ = try MessageAuthentication.obscure(Self.forged, in: .file(path: path, size: 10))
        }
    }
}
