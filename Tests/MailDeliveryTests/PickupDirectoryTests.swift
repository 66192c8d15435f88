// Tests for PickupDirectory: settled files are queued and removed, fresh ones wait, bad ones go to
// rejected/, claims left by a crash are recovered.
import Foundation
import Logging
import MailCore
import MailPolicy
import MailStore
import Testing

@testable import MailDelivery

@Suite struct PickupDirectoryTests {
    static func setUp() async throws -> (InMemoryMailStore, PickupDirectory, String, TestClock, Int64) {
        let store = InMemoryMailStore()
        _ = try await store.addDomain("example.test")
        let bob = try await store.addMailbox(EmailAddress(localPart: "bob", domain: "example.test"), passwordHash: nil, isAdmin: false)
        let dir = NSTemporaryDirectory() + "petrel-pickup-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let clock = TestClock(Date())
        let pickup = PickupDirectory(
            store: store,
            configuration: PickupConfiguration(
                directory: dir, hostname: "mx.example.test",
                maxMessageSize: 10_000, settleTime: 2),
            logger: Logger(label: "test.pickup"), clock: clock)
        return (store, pickup, dir, clock, bob.id)
    }

    /// The pickup directory takes THE recipient decision (MailPolicy `RecipientRouting`): a Unicode
    /// domain is queued under its A-label, a relay domain's valid-recipient list applies, an invalid IDN
    /// is skipped.
    @Test func recipientsAreRoutedByTheOneDecision() async throws {
        let store = InMemoryMailStore()
        _ = try await store.addDomain("example.test")
        let dir = NSTemporaryDirectory() + "petrel-pickup-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let clock = TestClock(Date())
        var configuration = PickupConfiguration(directory: dir, hostname: "mx.example.test", maxMessageSize: 10_000, settleTime: 2)
        configuration.relayRules = {
            RelayRules(
                recipientDomains: [RelayDomain(name: "backup.test", coversSubdomains: false)],
                validRecipients: ["listed@backup.test"])
        }
        let pickup = PickupDirectory(
            store: store, configuration: configuration, logger: Logger(label: "test.pickup"),
            clock: clock)
        try
            ("X-Sender: <alice@example.test>\nX-Receiver: <anna@Bücher.test>\nX-Receiver: <listed@backup.test>\n"
            + "X-Receiver: <other@backup.test>\nX-Receiver: <x@xn--zz.test>\nSubject: p\n\nhello\n")
            .write(toFile: dir + "/idn.eml", atomically: false, encoding: .utf8)
        clock.advance(5)
        #expect(await pickup.scanOnce() == 1)
        let queued = try await store.queueEntries()
        #expect(queued.map(\.recipient.address) == [address("anna@bücher.test"), address("listed@backup.test")])
        #expect(queued.map(\.recipient.domain) == ["xn--bcher-kva.test", "backup.test"])
    }

    @Test func settledFileIsQueuedAndRemoved() async throws {
        let (store, pickup, dir, clock, bob) = try await Self.setUp()
        try "From: alice@example.test\nTo: bob@example.test, zed@remote.test\nSubject: p\n\nhello\n"
            .write(toFile: dir + "/msg1.eml", atomically: false, encoding: .utf8)
        #expect(await pickup.scanOnce() == 0, "a file that may still be written is left alone")
        #expect(FileManager.default.fileExists(atPath: dir + "/msg1.eml"))
        clock.advance(5)
        #expect(await pickup.scanOnce() == 1)
        #expect(!FileManager.default.fileExists(atPath: dir + "/msg1.eml"))
        let messages = try await store.messages(mailboxID: bob)
        #expect(messages.count == 1)
        let stored = try await store.readMessage(mailboxID: bob, deliveryID: messages[0].deliveryID, offset: 0, maxLength: 10_000)
        let text = String(decoding: stored, as: UTF8.self)
        #expect(text.hasPrefix("Return-Path: <alice@example.test>\r\nReceived: from pickup directory by mx.example.test"))
        #expect(text.hasSuffix("\r\n\r\nhello\r\n"))
        let queued = try await store.queueEntries()
        #expect(queued.map(\.recipient.address) == [address("zed@remote.test")])
        #expect(await pickup.scanOnce() == 0, "taken once")
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test func dotFilesWaitAndBadFilesAreRejected() async throws {
        let (_, pickup, dir, clock, _) = try await Self.setUp()
        try "From: a@example.test\nTo: bob@example.test\n\nx\n".write(toFile: dir + "/.writing", atomically: false, encoding: .utf8)
        try "no headers here\n".write(toFile: dir + "/junk.txt", atomically: false, encoding: .utf8)
        try "From: a@example.test\nTo: nobody@example.test\n\nx\n".write(toFile: dir + "/unknown.eml", atomically: false, encoding: .utf8)
        clock.advance(5)
        #expect(await pickup.scanOnce() == 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/.writing"))
        #expect(FileManager.default.fileExists(atPath: dir + "/rejected/junk.txt"))
        let reason = try String(contentsOfFile: dir + "/rejected/junk.txt.reason", encoding: .utf8)
        #expect(reason.contains("no header section"))
        #expect(FileManager.default.fileExists(atPath: dir + "/rejected/unknown.eml"))
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test func claimsLeftByACrashAreRecovered() async throws {
        let (_, pickup, dir, _, _) = try await Self.setUp()
        try "x".write(toFile: dir + "/.petrel-left.eml", atomically: false, encoding: .utf8)
        await pickup.recoverClaims()
        #expect(FileManager.default.fileExists(atPath: dir + "/left.eml"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/.petrel-left.eml"))
        try? FileManager.default.removeItem(atPath: dir)
    }
}
