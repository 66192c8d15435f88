import POP3Core
import Testing

@Suite struct POP3ServerSessionTransactionTests {
    @Test func topPassesTheLineCount() {
        var h = SessionHarness.loggedIn()
        #expect(steps(h.line("TOP 3 0")) == [.send("+OK Top of message follows\r\n"), .sendMessage(15, 0)])
        _ = h.handle(.messageSent(true))
        #expect(steps(h.line("top 1 100")) == [.send("+OK Top of message follows\r\n"), .sendMessage(10, 100)])
    }

    @Test func retrReportsTheExactSize() {
        var h = SessionHarness.loggedIn([MaildropEntry(deliveryID: 42, size: 123_456_789_012)])
        #expect(steps(h.line("RETR 1")) == [.send("+OK 123456789012 octets\r\n"), .sendMessage(42, nil)])
    }

    @Test func hugeMessageNumbersAreNoSuchMessage() {
        var h = SessionHarness.loggedIn()
        #expect(wire(h.line("RETR 999999999999999999")) == "-ERR No such message\r\n")
        #expect(wire(h.line("DELE 999999999999999999")) == "-ERR No such message\r\n")
        #expect(wire(h.line("RETR 0")) == "-ERR No such message\r\n")
        #expect(wire(h.line("DELE 0")) == "-ERR No such message\r\n")
    }

    @Test func deletedMessagesKeepTheirNumbers() {
        var h = SessionHarness.loggedIn()
        _ = h.line("DELE 2")
        #expect(wire(h.line("LIST 3")) == "+OK 3 300\r\n")
        #expect(steps(h.line("RETR 3")) == [.send("+OK 300 octets\r\n"), .sendMessage(15, nil)])
    }

    @Test func rsetRestoresDeletedMessages() {
        var h = SessionHarness.loggedIn()
        _ = h.line("DELE 1")
        _ = h.line("DELE 3")
        #expect(wire(h.line("RSET")) == "+OK Maildrop has 3 messages (600 octets)\r\n")
        #expect(wire(h.line("DELE 1")) == "+OK Message 1 deleted\r\n")
        #expect(steps(h.line("QUIT")) == [.commit([10])])
    }

    @Test func uidlIsTheStoresUniqueIDOrTheDeliveryID() {
        var h = SessionHarness.loggedIn([MaildropEntry(deliveryID: 9_000_000_001, size: 1)])
        #expect(wire(h.line("UIDL 1")) == "+OK 1 9000000001\r\n")
        var s = SessionHarness.loggedIn([
            MaildropEntry(deliveryID: 7, size: 1, uniqueID: "6570e1c000000001"), MaildropEntry(deliveryID: 8, size: 1, uniqueID: "6570e1c000000003")
        ])
        #expect(wire(s.line("UIDL 2")) == "+OK 2 6570e1c000000003\r\n")
        _ = s.line("DELE 1")
        #expect(wire(s.line("UIDL")) == "+OK Unique-ID listing follows\r\n2 6570e1c000000003\r\n.\r\n")
    }

    @Test func pipelinedRetrievals() {
        // Lines queued by the adapter are delivered one by one after each answer.
        var h = SessionHarness.loggedIn()
        var sent: [Int64] = []
        for number in 1...3 {
            for case .sendMessage(let id, _) in h.line("RETR \(number)") { sent.append(id) }
            #expect(h.session.isAwaitingAnswer)
            _ = h.handle(.messageSent(true))
        }
        #expect(sent == [10, 11, 15])
    }
}
