import POP3Core
import Testing

@Suite struct POP3MaildropTests {
    static let entries = [
        MaildropEntry(deliveryID: 10, size: 100),
        MaildropEntry(deliveryID: 11, size: 200),
        MaildropEntry(deliveryID: 15, size: 300)
    ]

    @Test func numbersAreOneBased() {
        let drop = POP3Maildrop(Self.entries)
        #expect(drop.message(0) == nil)
        #expect(drop.message(1) == Self.entries[0])
        #expect(drop.message(3) == Self.entries[2])
        #expect(drop.message(4) == nil)
        #expect(drop.message(-1) == nil)
        #expect(drop.message(Int.max) == nil)
    }

    @Test func deletionHidesMessagesUntilReset() {
        var drop = POP3Maildrop(Self.entries)
        #expect(drop.markDeleted(2) == .deleted)
        #expect(drop.markDeleted(2) == .alreadyDeleted)
        #expect(drop.markDeleted(4) == .noSuchMessage)
        #expect(drop.markDeleted(0) == .noSuchMessage)
        #expect(drop.message(2) == nil)
        #expect(drop.visibleCount == 2)
        #expect(drop.visibleSize == 400)
        #expect(drop.visibleMessages.map(\.number) == [1, 3])
        #expect(drop.deletedIDs == [11])
        drop.reset()
        #expect(drop.visibleCount == 3)
        #expect(drop.visibleSize == 600)
        #expect(drop.deletedIDs.isEmpty)
        #expect(drop.message(2) == Self.entries[1])
    }

    @Test func deletedIDsAreInMessageOrder() {
        var drop = POP3Maildrop(Self.entries)
        _ = drop.markDeleted(3)
        _ = drop.markDeleted(1)
        #expect(drop.deletedIDs == [10, 15])
    }

    @Test func emptyMaildrop() {
        let drop = POP3Maildrop([])
        #expect(drop.visibleCount == 0)
        #expect(drop.visibleSize == 0)
        #expect(drop.message(1) == nil)
    }
}

/// The login listing is kept once, in the session: the adapter finds a message's number and body key
/// by delivery id there.
@Suite struct POP3MaildropLookupTests {
    static let entries = [
        MaildropEntry(deliveryID: 10, size: 100, bodyKey: 7),
        MaildropEntry(deliveryID: 11, size: 200, bodyKey: 8),
        MaildropEntry(deliveryID: 15, size: 300, bodyKey: 7)
    ]

    @Test func numberAndEntryByDeliveryID() {
        var drop = POP3Maildrop(Self.entries)
        #expect(drop.number(ofDelivery: 15) == 3)
        #expect(drop.number(ofDelivery: 10) == 1)
        #expect(drop.number(ofDelivery: 12) == nil)
        #expect(drop.entry(3)?.bodyKey == 7)
        #expect(drop.entry(0) == nil && drop.entry(4) == nil)
        // Marked deleted: still found by number (the adapter may be sending it), hidden from `message`.
        #expect(drop.markDeleted(2) == .deleted)
        #expect(drop.number(ofDelivery: 11) == 2)
        #expect(drop.entry(2)?.bodyKey == 8)
        #expect(drop.message(2) == nil)
    }

    @Test func bodyKeyDefaultsToZero() {
        #expect(MaildropEntry(deliveryID: 1, size: 2).bodyKey == 0)
    }

    @Test func sessionKeepsTheListingFromTheLogin() {
        var session = POP3ServerSession(configuration: POP3ServerConfiguration(hostname: "pop.test"))
        _ = session.handle(.connected)
        _ = session.handle(.line(Array("USER alice".utf8)))
        _ = session.handle(.line(Array("PASS secret".utf8)))
        _ = session.handle(.authenticated(.success(mailboxID: 4, maildrop: Self.entries)))
        #expect(session.mailboxID == 4)
        #expect(session.maildrop?.entries == Self.entries)
        let actions = session.handle(.line(Array("RETR 3".utf8)))
        #expect(actions.contains(.sendMessage(deliveryID: 15, topLines: nil)))
        #expect(session.maildrop?.number(ofDelivery: 15).flatMap { session.maildrop?.entry($0)?.bodyKey } == 7)
    }
}
