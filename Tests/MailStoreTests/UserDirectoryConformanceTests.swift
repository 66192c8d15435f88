/// Conformance suite for `UserDirectory` (MailStore.swift), run against every backend:
/// domains, mailboxes, case-insensitive lookup and the postmaster rules (RFC 5321 §4.5.1, §4.1.1.3).
import Foundation
import MailCore
import MailStore
import Testing

@Suite struct UserDirectoryConformanceTests {
    // MARK: - Domains

    @Test(arguments: Backend.allCases)
    func addListRemoveDomains(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        let added = try await s.addDomain("Example.TEST")
        #expect(added.name == "example.test")
        #expect(added.postmaster == nil)
        _ = try await s.addDomain("b.example")
        _ = try await s.addDomain("a.example")
        #expect(try await s.domains().map(\.name) == ["a.example", "b.example", "example.test"])
        #expect(try await s.isLocalDomain("EXAMPLE.test"))
        #expect(try await !s.isLocalDomain("other.test"))
        #expect(try await !s.isLocalDomain("not a domain"))
        try await s.removeDomain("B.example", force: false)
        #expect(try await s.domains().map(\.name) == ["a.example", "example.test"])
        #expect(try await !s.isLocalDomain("b.example"))
    }

    @Test(arguments: Backend.allCases)
    func duplicateAndMissingDomains(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.addDomain("example.test")
        await #expect(throws: StoreError.domainExists("example.test")) { try await s.addDomain("EXAMPLE.test") }
        await #expect(throws: StoreError.domainNotFound("nope.test")) { try await s.removeDomain("nope.test", force: true) }
        await #expect(throws: StoreError.domainNotFound("nope.test")) { try await s.setPostmaster(domain: "nope.test", mailbox: nil) }
    }

    @Test(
        arguments: Backend.allCases.flatMap { b in
            [
                "", ".", "a..b", "-a.test", "a-.test", "a b.test", "[127.0.0.1]", "a.test.", "x@y.test",
                String(repeating: "a", count: 64) + ".test"
            ].map { (b, $0) }
        })
    func invalidDomainNames(_ backend: Backend, _ name: String) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        await #expect(throws: StoreError.invalidDomain(name)) { try await f.store.addDomain(name) }
        #expect(try await f.store.domains().isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func removeDomainNeedsForceWhileMailboxesExist(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.addDomain("example.test")
        _ = try await s.addDomain("keep.test")
        let a = try await s.addMailbox(address("a@example.test"), passwordHash: nil, isAdmin: false)
        _ = try await s.addMailbox(address("b@example.test"), passwordHash: nil, isAdmin: false)
        let k = try await s.addMailbox(address("k@keep.test"), passwordHash: nil, isAdmin: false)
        let ids = try await s.deliver(message(to: [a.id, k.id]))
        _ = try await s.deliver(message(to: [a.id]))
        await #expect(throws: StoreError.domainNotEmpty("example.test", mailboxes: 2)) {
            try await s.removeDomain("example.test", force: false)
        }
        #expect(try await s.mailboxes(domain: "example.test").count == 2)
        try await s.removeDomain("example.test", force: true)
        #expect(try await s.domains().map(\.name) == ["keep.test"])
        #expect(try await s.mailboxes(domain: nil).map(\.address) == ["k@keep.test"])
        #expect(try await s.mailbox(id: a.id) == nil)
        // The shared message survives for k; the one only a had is gone.
        #expect(try await s.messages(mailboxID: k.id).map(\.deliveryID) == [ids[1]])
        #expect(try await f.storedBodies() == 1)
    }

    // MARK: - Mailboxes

    @Test(arguments: Backend.allCases)
    func addAndLookUpMailboxes(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.addDomain("example.test")
        let alice = try await s.addMailbox(address("Alice@Example.Test"), passwordHash: "$scrypt$x", isAdmin: true)
        #expect(alice.address == "alice@example.test")
        #expect(alice.domain == "example.test")
        #expect(alice.passwordHash == "$scrypt$x")
        #expect(alice.isAdmin && !alice.isLocked)
        #expect(alice.messageCount == 0 && alice.totalSize == 0)
        let fetched = try #require(try await s.mailbox(address("ALICE@example.TEST")))
        #expect(fetched.id == alice.id && fetched.address == "alice@example.test")
        #expect(try await s.mailbox(id: alice.id)?.address == "alice@example.test")
        #expect(try await s.mailbox(id: 987_654) == nil)
        #expect(try await s.mailbox(address("bob@example.test")) == nil)
        await #expect(throws: StoreError.mailboxExists("alice@example.test")) {
            try await s.addMailbox(address("ALICE@example.test"), passwordHash: nil, isAdmin: false)
        }
        await #expect(throws: StoreError.notLocalDomain("other.test")) {
            try await s.addMailbox(address("x@other.test"), passwordHash: nil, isAdmin: false)
        }
    }

    @Test(arguments: Backend.allCases)
    func listMailboxesSortedAndFiltered(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.addDomain("b.test")
        _ = try await s.addDomain("a.test")
        for text in ["zed@a.test", "amy@b.test", "Bob@a.test", "carl@b.test"] {
            _ = try await s.addMailbox(address(text), passwordHash: nil, isAdmin: false)
        }
        #expect(try await s.mailboxes(domain: nil).map(\.address) == ["amy@b.test", "bob@a.test", "carl@b.test", "zed@a.test"])
        #expect(try await s.mailboxes(domain: "A.test").map(\.address) == ["bob@a.test", "zed@a.test"])
        #expect(try await s.mailboxes(domain: "none.test").isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func passwordLockAndAdminFlags(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.addDomain("example.test")
        let a = try address("a@example.test")
        _ = try await s.addMailbox(a, passwordHash: nil, isAdmin: false)
        try await s.setPasswordHash("$scrypt$new", for: address("A@EXAMPLE.TEST"))
        try await s.setLocked(true, for: a)
        try await s.setAdmin(true, for: a)
        var info = try #require(try await s.mailbox(a))
        #expect(info.passwordHash == "$scrypt$new" && info.isLocked && info.isAdmin)
        try await s.setLocked(false, for: a)
        try await s.setAdmin(false, for: a)
        info = try #require(try await s.mailbox(a))
        #expect(!info.isLocked && !info.isAdmin)
        let ghost = try address("ghost@example.test")
        await #expect(throws: StoreError.mailboxNotFound("ghost@example.test")) { try await s.setPasswordHash("h", for: ghost) }
        await #expect(throws: StoreError.mailboxNotFound("ghost@example.test")) { try await s.setLocked(true, for: ghost) }
        await #expect(throws: StoreError.mailboxNotFound("ghost@example.test")) { try await s.setAdmin(true, for: ghost) }
    }

    @Test(arguments: Backend.allCases)
    func removeMailboxRemovesItsMessages(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.addDomain("example.test")
        let a = try await s.addMailbox(address("a@example.test"), passwordHash: nil, isAdmin: false)
        let b = try await s.addMailbox(address("b@example.test"), passwordHash: nil, isAdmin: false)
        _ = try await s.deliver(message(to: [a.id]))
        let shared = try await s.deliver(message(to: [a.id, b.id]))
        #expect(try await f.storedBodies() == 2)
        try await s.removeMailbox(address("A@example.test"))
        #expect(try await s.mailbox(id: a.id) == nil)
        #expect(try await s.messages(mailboxID: a.id).isEmpty)
        #expect(try await s.messages(mailboxID: b.id).map(\.deliveryID) == [shared[1]])
        #expect(try await f.storedBodies() == 1)
        await #expect(throws: StoreError.mailboxNotFound("a@example.test")) { try await s.removeMailbox(address("a@example.test")) }
    }

    @Test(arguments: Backend.allCases)
    func mailboxCountsAndSizes(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.addDomain("example.test")
        let a = try await s.addMailbox(address("a@example.test"), passwordHash: nil, isAdmin: false)
        _ = try await s.deliver(message(to: [a.id], body: [UInt8](repeating: 65, count: 100), trace: [66, 67]))
        _ = try await s.deliver(message(to: [a.id], body: [UInt8](repeating: 65, count: 10), trace: []))
        let info = try #require(try await s.mailbox(id: a.id))
        #expect(info.messageCount == 2)
        #expect(info.totalSize == 112)
        #expect(try await s.mailboxes(domain: nil).first?.totalSize == 112)
    }

    // MARK: - Recipients and postmaster

    @Test(arguments: Backend.allCases)
    func resolveRecipientCases(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.addDomain("example.test")
        let a = try await s.addMailbox(address("alice@example.test"), passwordHash: nil, isAdmin: false)
        #expect(try await s.resolveRecipient(address("ALICE@Example.Test")) == .mailbox(id: a.id, address: "alice@example.test"))
        #expect(try await s.resolveRecipient(address("bob@example.test")) == .unknownUser)
        #expect(try await s.resolveRecipient(address("alice@elsewhere.test")) == .notLocal)
        #expect(try await s.resolveRecipient(address("postmaster@elsewhere.test")) == .notLocal)
    }

    @Test(arguments: Backend.allCases)
    func postmasterRealMailboxWins(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.addDomain("example.test")
        let admin = try await s.addMailbox(address("admin@example.test"), passwordHash: nil, isAdmin: true)
        let chosen = try await s.addMailbox(address("chosen@example.test"), passwordHash: nil, isAdmin: false)
        let real = try await s.addMailbox(address("PostMaster@example.test"), passwordHash: nil, isAdmin: false)
        try await s.setPostmaster(domain: "example.test", mailbox: "chosen@example.test")
        #expect(try await s.resolveRecipient(address("POSTMASTER@example.test")) == .mailbox(id: real.id, address: "postmaster@example.test"))
        _ = (admin, chosen)
    }

    @Test(arguments: Backend.allCases)
    func postmasterChosenThenAdminThenCreated(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.addDomain("example.test")
        _ = try await s.addDomain("other.test")
        let pm = try address("Postmaster@Example.test")

        // No admin, no choice: created on the spot, without a password, once.
        guard case .mailbox(let createdID, let createdAddress) = try await s.resolveRecipient(pm) else {
            Issue.record("postmaster must resolve to a mailbox"); return
        }
        #expect(createdAddress == "postmaster@example.test")
        let created = try #require(try await s.mailbox(id: createdID))
        #expect(created.passwordHash == nil && !created.isAdmin)
        #expect(try await s.resolveRecipient(pm) == .mailbox(id: createdID, address: "postmaster@example.test"))
        try await s.removeMailbox(address("postmaster@example.test"))

        // First admin (lowest id), from any domain.
        let admin1 = try await s.addMailbox(address("boss@other.test"), passwordHash: nil, isAdmin: true)
        _ = try await s.addMailbox(address("aaa@example.test"), passwordHash: nil, isAdmin: true)
        #expect(try await s.resolveRecipient(pm) == .mailbox(id: admin1.id, address: "boss@other.test"))

        // The chosen postmaster beats admins.
        let chosen = try await s.addMailbox(address("helpdesk@example.test"), passwordHash: nil, isAdmin: false)
        try await s.setPostmaster(domain: "EXAMPLE.test", mailbox: "HelpDesk@example.test")
        #expect(try await s.domains().first { $0.name == "example.test" }?.postmaster == "helpdesk@example.test")
        #expect(try await s.resolveRecipient(pm) == .mailbox(id: chosen.id, address: "helpdesk@example.test"))

        // Back to the default.
        try await s.setPostmaster(domain: "example.test", mailbox: nil)
        #expect(try await s.domains().first { $0.name == "example.test" }?.postmaster == nil)
        #expect(try await s.resolveRecipient(pm) == .mailbox(id: admin1.id, address: "boss@other.test"))

        // Removing the chosen mailbox clears the choice.
        try await s.setPostmaster(domain: "example.test", mailbox: "helpdesk@example.test")
        try await s.removeMailbox(address("helpdesk@example.test"))
        #expect(try await s.domains().first { $0.name == "example.test" }?.postmaster == nil)
        #expect(try await s.resolveRecipient(pm) == .mailbox(id: admin1.id, address: "boss@other.test"))

        await #expect(throws: StoreError.mailboxNotFound("nobody@example.test")) {
            try await s.setPostmaster(domain: "example.test", mailbox: "nobody@example.test")
        }
    }

    @Test(arguments: Backend.allCases)
    func barePostmaster(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        #expect(try await s.resolveBarePostmaster() == .notLocal)
        _ = try await s.addDomain("first.test")
        _ = try await s.addDomain("a-second.test")
        // No admin: the postmaster of the first local domain (created on the spot).
        guard case .mailbox(let id, let addr) = try await s.resolveBarePostmaster() else {
            Issue.record("bare postmaster must resolve"); return
        }
        #expect(addr == "postmaster@first.test")
        #expect(try await s.resolveBarePostmaster() == .mailbox(id: id, address: addr))
        // The chosen postmaster of that domain.
        let chosen = try await s.addMailbox(address("ops@first.test"), passwordHash: nil, isAdmin: false)
        try await s.removeMailbox(address("postmaster@first.test"))
        try await s.setPostmaster(domain: "first.test", mailbox: "ops@first.test")
        #expect(try await s.resolveBarePostmaster() == .mailbox(id: chosen.id, address: "ops@first.test"))
        // An admin wins over everything.
        let admin = try await s.addMailbox(address("root@a-second.test"), passwordHash: nil, isAdmin: true)
        #expect(try await s.resolveBarePostmaster() == .mailbox(id: admin.id, address: "root@a-second.test"))
    }

    @Test(arguments: Backend.allCases)
    func closedStoreRefusesCalls(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        _ = try await f.store.addDomain("example.test")
        try await f.store.close()
        await #expect(throws: StoreError.self) { try await f.store.domains() }
        await #expect(throws: StoreError.self) { try await f.store.deliver(message(to: [1])) }
    }
}
