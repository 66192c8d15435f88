/// Secrets named by file (`[ldap] bind_password_file`, `[store] password_file`): bounded reads and clear errors.
import Foundation
import Testing

@testable import PetrelServer

@Suite struct SecretFileTests {
    func file(_ contents: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-secret-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(contents.utf8)))
        return path
    }

    func message(_ body: () throws -> String) -> String {
        do {
            _ = try body()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func trailingLineEndsAreRemoved() throws {
        let path = try file("s3cret\r\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try SecretFile.read(path, key: "[store] password_file") == "s3cret")
    }

    /// An endless source is refused after 4 KiB, never read whole.
    @Test func devZeroIsRefusedAfterFourKiB() {
        #expect(message { try SecretFile.read("/dev/zero", key: "[store] password_file") } == "[store] password_file /dev/zero is over 4 KiB")
    }

    @Test func emptyMissingAndNonUTF8AreRefusedByName() throws {
        let empty = try file("\n")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(message { try SecretFile.read(empty, key: "[ldap] bind_password_file") } == "[ldap] bind_password_file \(empty) is empty")
        #expect(message { try SecretFile.read("/nonexistent/pw", key: "k") } == "k /nonexistent/pw cannot be read")
        let binary = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-secret-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: binary, contents: Data([0xFF, 0xFE, 0x41])))
        defer { try? FileManager.default.removeItem(atPath: binary) }
        #expect(message { try SecretFile.read(binary, key: "k") } == "k \(binary) is not UTF-8")
    }
}
