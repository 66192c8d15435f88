import Testing
import POP3Core

@Suite struct POP3MaildropTests {
    static let entries = [
        MaildropEntry(deliveryID: 10, size: 100),
        MaildropEntry(deliveryID: 11, size: 200),
        MaildropEntry(deliveryID: 15, size: 300),
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
