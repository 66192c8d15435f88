/// Conformance suite for internationalised domains (StoreSupport.swift `StoreNames.domain`, RFC 5890
/// §2.3.2.1 A-labels), run against every backend: a local domain added in U-label form (`bücher.example`)
/// and in A-label form (`xn--bcher-kva.example`) is the same domain, for domains, mailboxes, RCPT lookups
/// and relay client domains; invalid IDNs are refused. Plus the SQLite "v4-idn-canonical" migration.
import Foundation
import GRDB
import MailCore
import MailStore
import Testing

@testable import MailStoreSQLite

@Suite struct IDNDomainConformanceTests {
    static let uLabel = "bücher.example"
    static let aLabel = "xn--bcher-kva.example"

    /// (backend, spelling used to add, the other spelling)
    static let spellings: [(Backend, String, String)] = Backend.allCases.flatMap { b in
        [(b, uLabel, aLabel), (b, aLabel, uLabel), (b, "BÜCHER.Example", "XN--BCHER-KVA.EXAMPLE")]
    }

    @Test(arguments: spellings)
    func domainAddedEitherWayMatchesBoth(_ backend: Backend, _ added: String, _ other: String) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        let info = try await s.addDomain(added)
        #expect(info.name == Self.aLabel)
        #expect(info.unicodeName == Self.uLabel)
        #expect(try await s.domains().map(\.name) == [Self.aLabel])
        #expect(try await s.isLocalDomain(Self.uLabel))
        #expect(try await s.isLocalDomain(Self.aLabel))
        #expect(try await s.isLocalDomain(other))
        await #expect(throws: StoreError.domainExists(Self.aLabel)) { try await s.addDomain(other) }
        await #expect(throws: StoreError.domainExists(Self.aLabel)) { try await s.addDomain(Self.uLabel) }
    }

    @Test(arguments: spellings)
    func mailboxesAndRecipientsInBothForms(_ backend: Backend, _ added: String, _ other: String) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.addDomain(added)
        let box = try await s.addMailbox(address("Anna@\(added)"), passwordHash: "h", isAdmin: false)
        #expect(box.address == "anna@\(Self.aLabel)")
        #expect(box.domain == Self.aLabel)
        await #expect(throws: StoreError.mailboxExists("anna@\(Self.aLabel)")) {
            try await s.addMailbox(address("anna@\(other)"), passwordHash: nil, isAdmin: false)
        }
        for spelling in [Self.uLabel, Self.aLabel, other] {
            #expect(try await s.resolveRecipient(address("anna@\(spelling)")) == .mailbox(id: box.id, address: box.address))
            #expect(try await s.resolveRecipient(address("ANNA@\(spelling)")) == .mailbox(id: box.id, address: box.address))
            #expect(try await s.resolveRecipient(address("bob@\(spelling)")) == .unknownUser)
            #expect(try await s.mailbox(address("anna@\(spelling)"))?.id == box.id)
            #expect(try await s.mailboxes(domain: spelling).map(\.id) == [box.id])
        }
        // POP3 login names and the CLI reach the mailbox under the other spelling too.
        try await s.setLocked(true, for: address("anna@\(other)"))
        #expect(try await s.mailbox(id: box.id)?.isLocked == true)
        try await s.setPasswordHash("h2", for: address("anna@\(Self.uLabel)"))
        #expect(try await s.mailbox(address("anna@\(Self.aLabel)"))?.passwordHash == "h2")
        try await s.removeMailbox(address("anna@\(other)"))
        #expect(try await s.mailbox(id: box.id) == nil)
    }

    @Test(arguments: Backend.allCases)
    func postmasterAndRemovalUnderTheOtherSpelling(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.addDomain(Self.uLabel)
        let pm = try await s.resolveRecipient(address("postmaster@\(Self.aLabel)"))
        #expect(pm == .mailbox(id: 1, address: "postmaster@\(Self.aLabel)"))
        #expect(try await s.resolveRecipient(address("Postmaster@\(Self.uLabel)")) == pm)
        let chosen = try await s.addMailbox(address("boss@\(Self.aLabel)"), passwordHash: nil, isAdmin: false)
        try await s.removeMailbox(address("postmaster@\(Self.uLabel)"))
        try await s.setPostmaster(domain: Self.uLabel, mailbox: "boss@\(Self.uLabel)")
        #expect(try await s.domains().first?.postmaster == chosen.address)
        #expect(try await s.resolveRecipient(address("postmaster@\(Self.aLabel)")) == .mailbox(id: chosen.id, address: chosen.address))
        await #expect(throws: StoreError.domainNotEmpty(Self.aLabel, mailboxes: 1)) {
            try await s.removeDomain(Self.aLabel, force: false)
        }
        try await s.removeDomain(Self.aLabel, force: true)
        #expect(try await s.domains().isEmpty)
        #expect(try await !s.isLocalDomain(Self.uLabel))
    }

    @Test(arguments: Backend.allCases)
    func unknownIDNDomainIsNotLocal(_ backend: Backend) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        let s = f.store
        _ = try await s.addDomain(Self.uLabel)
        #expect(try await s.resolveRecipient(address("anna@bücher.test")) == .notLocal)
        #expect(try await s.resolveRecipient(address("anna@xn--exmple-cua.test")) == .notLocal)
        #expect(try await s.resolveRecipient(address("anna@xn--zz.example")) == .notLocal)
        #expect(try await !s.isLocalDomain("xn--bcher-kva.test"))
        await #expect(throws: StoreError.notLocalDomain("bücher.test")) {
            try await s.addMailbox(address("anna@bücher.test"), passwordHash: nil, isAdmin: false)
        }
    }

    /// Truncated or overflowing Punycode, A-labels that decode to upper case (not a round trip), a U-label
    /// of 62 octets whose A-label would be 68.
    @Test(
        arguments: Backend.allCases.flatMap { b in
            [
                "xn--zz.example", "xn--9.example", "xn--99999999999999999999a.example", "xn--a-kfa.example",
                "XN--BCHER-2PA.example", String(repeating: "a", count: 60) + "ü.example"
            ].map { (b, $0) }
        })
    func invalidIDNDomainsAreRefused(_ backend: Backend, _ name: String) async throws {
        let f = try backend.make()
        defer { Task { await f.cleanup() } }
        await #expect(throws: StoreError.invalidDomain(name)) { try await f.store.addDomain(name) }
        #expect(try await !f.store.isLocalDomain(name))
        #expect(try await f.store.domains().isEmpty)
    }

    // MARK: - SQLite migration

    @Test func sqliteMigrationRewritesULabelsAndMergesBothSpellings() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-idn-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // A v3 database as earlier releases left it: the same domain under both spellings (two rows),
        // anna under both, bob only under the U-label, a U-label relay client domain, an invalid name.
        do {
            let old = try DatabaseQueue(path: dir + "/" + SQLiteMailStore.fileName)
            try Schema.migrator().migrate(old, upTo: "v3-relay")
            try await old.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO domains (id, name, created_at) VALUES (1, 'bücher.example', 0), (2, 'xn--bcher-kva.example', 0),
                            (3, 'münchen.test', 0), (4, 'xn--zz.test', 0);
                        INSERT INTO mailboxes (id, domain_id, address, password_hash, created_at) VALUES
                            (1, 1, 'anna@bücher.example', 'old', 0), (2, 2, 'anna@xn--bcher-kva.example', 'new', 0),
                            (3, 1, 'bob@bücher.example', NULL, 0), (4, 3, 'max@münchen.test', NULL, 0),
                            (5, 4, 'x@xn--zz.test', NULL, 0);
                        UPDATE domains SET postmaster_id = 3 WHERE id = 1;
                        INSERT INTO messages (id, queue_id, sender, received_at, size, body) VALUES
                            (1, 'OLD1', '<>', 0, 2, x'6869'), (2, 'OLD2', '<>', 0, 2, x'6869');
                        INSERT INTO deliveries (id, mailbox_id, message_id, created_at) VALUES (1, 1, 1, 0), (2, 2, 2, 0);
                        INSERT INTO access_entries (list, value, added_at) VALUES ('relay-domain', 'partnér.test', 0),
                            ('relay-domain', 'xn--partnr-fva.test', 1), ('relay-domain', 'plain.test', 2);
                        """)
            }
            try old.close()
        }
        let store = try SQLiteMailStore(directory: dir)
        #expect(try await store.domains().map(\.name) == ["xn--bcher-kva.example", "xn--mnchen-3ya.test", "xn--zz.test"])
        #expect(try await store.domains().first?.postmaster == "bob@xn--bcher-kva.example")
        #expect(
            try await store.mailboxes(domain: nil).map(\.address)
                == ["anna@xn--bcher-kva.example", "bob@xn--bcher-kva.example", "max@xn--mnchen-3ya.test", "x@xn--zz.test"])
        // anna's mail from both rows is in the canonical mailbox, which keeps its own password.
        let anna = try #require(try await store.mailbox(address("anna@bücher.example")))
        #expect(anna.id == 2)
        #expect(anna.passwordHash == "new")
        #expect(try await store.messages(mailboxID: 2).map(\.queueID) == ["OLD1", "OLD2"])
        #expect(try await store.resolveRecipient(address("max@münchen.test")) == .mailbox(id: 4, address: "max@xn--mnchen-3ya.test"))
        #expect(try await store.resolveRecipient(address("bob@xn--bcher-kva.example")) == .mailbox(id: 3, address: "bob@xn--bcher-kva.example"))
        let relay = try await store.accessEntries().filter { $0.list == .relayClientDomain }.map(\.value).sorted()
        #expect(relay == ["plain.test", "xn--partnr-fva.test"])
        try await store.close()
    }
}
