import Foundation
import MailAuth
import MailCore
import MailStore
import Testing

@testable import PetrelServer

/// The administration API the CLI calls: it hashes passwords itself, checks what it changes, and opens
/// the data directory only when a call needs the store.
@Suite struct PetrelAdminTests {
    func admin() -> (PetrelAdmin, InMemoryMailStore) {
        let store = InMemoryMailStore()
        return (PetrelAdmin(configuration: .developmentDefaults(), store: store, hasher: .fastForTests), store)
    }

    func address(_ text: String) throws -> EmailAddress { try #require(EmailAddress(text)) }

    @Test func addMailboxStoresOnlyAHashAndAVerifier() async throws {
        let (admin, store) = admin()
        _ = try await admin.addDomain("example.test")
        let alice = try address("alice@example.test")
        let info = try await admin.addMailbox(alice, password: "s3cret-pass", isAdmin: true)
        #expect(info.address == "alice@example.test")
        let stored = try #require(try await store.mailbox(alice))
        let hash = try #require(stored.passwordHash)
        #expect(!hash.contains("s3cret-pass"))
        #expect(PasswordHasher.verify("s3cret-pass", against: hash))
        #expect(!PasswordHasher.verify("wrong-pass", against: hash))
        #expect(stored.scramVerifier != nil)
        #expect(stored.isAdmin)
    }

    @Test func mailboxWithoutPasswordHasNoHash() async throws {
        let (admin, store) = admin()
        _ = try await admin.addDomain("example.test")
        let bob = try address("bob@example.test")
        _ = try await admin.addMailbox(bob, password: nil, isAdmin: false)
        let stored = try #require(try await store.mailbox(bob))
        #expect(stored.passwordHash == nil && stored.scramVerifier == nil)
    }

    @Test func setPasswordReplacesHashAndVerifier() async throws {
        let (admin, store) = admin()
        _ = try await admin.addDomain("example.test")
        let alice = try address("alice@example.test")
        _ = try await admin.addMailbox(alice, password: "first-pass", isAdmin: false)
        let before = try #require(try await store.mailbox(alice))
        try await admin.setPassword("second-pass", for: alice)
        let after = try #require(try await store.mailbox(alice))
        #expect(PasswordHasher.verify("second-pass", against: try #require(after.passwordHash)))
        #expect(!PasswordHasher.verify("first-pass", against: try #require(after.passwordHash)))
        #expect(after.scramVerifier != nil && after.scramVerifier != before.scramVerifier)
    }

    @Test func postmasterMustBeAnExistingMailbox() async throws {
        let (admin, _) = admin()
        _ = try await admin.addDomain("example.test")
        await #expect(throws: StoreError.self) {
            try await admin.setPostmaster(domain: "example.test", mailbox: try address("nobody@example.test"))
        }
        _ = try await admin.addMailbox(try address("alice@example.test"), password: nil, isAdmin: false)
        try await admin.setPostmaster(domain: "example.test", mailbox: try address("Alice@example.test"))
        #expect(try await admin.domains().first?.postmaster == "alice@example.test")
        try await admin.setPostmaster(domain: "example.test", mailbox: nil)
        #expect(try await admin.domains().first?.postmaster == nil)
    }

    @Test func unknownMailboxIsAStoreError() async throws {
        let (admin, _) = admin()
        await #expect(throws: StoreError.self) { _ = try await admin.mailbox(try address("x@example.test")) }
    }

    /// Badmail and DKIM calls never open the store, so they do not create a missing data directory;
    /// the first store call does, and `close()` closes it.
    @Test func theStoreOpensOnFirstUse() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-admin-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = PetrelConfiguration.developmentDefaults()
        configuration.server.dataDirectory = directory
        let admin = PetrelAdmin(configuration: configuration)
        #expect(admin.badmail.path.hasPrefix(directory))
        _ = admin.dkimKeys
        #expect(!FileManager.default.fileExists(atPath: directory))
        #expect(try await admin.domains().isEmpty)
        #expect(FileManager.default.fileExists(atPath: directory))
        await admin.close()
    }

    @Test func anUnopenableDataDirectoryIsAnOpenError() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-admin-file-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
        defer { try? FileManager.default.removeItem(atPath: file) }
        var configuration = PetrelConfiguration.developmentDefaults()
        configuration.server.dataDirectory = file + "/data"
        let admin = PetrelAdmin(configuration: configuration)
        do {
            _ = try await admin.domains()
            Issue.record("opened a data directory below a regular file")
        } catch let error as PetrelAdmin.OpenError {
            #expect(error.description.hasPrefix("cannot open the data directory \(file)/data: "))
        }
    }
}
