import Testing

@testable import MailCore

@Suite struct HopCountTests {
    func message(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func countsReceivedFieldsCaseInsensitively() {
        let m = message("Received: from a\r\nRECEIVED: from b\r\nreceived : from c\r\nReceived\t: x\r\nSubject: hi\r\n\r\nbody\r\n")
        #expect(HopCount.count(in: m) == 4)
    }

    @Test func ignoresLookalikesContinuationsAndBody() {
        let m = message(
            "Received-SPF: pass\r\nX-Received: x\r\n Received: folded\r\n\tReceived: folded\r\nSubject: Received: no\r\nReceivedx: no\r\nRecei: no\r\n\r\nReceived: in body\r\n"
        )
        #expect(HopCount.count(in: m) == 0)
    }

    @Test func stopsAtFirstEmptyLineWithBareLF() {
        let m = message("Received: a\nReceived: b\n\nReceived: c\n")
        #expect(HopCount.count(in: m) == 2)
    }

    @Test func loopDetectionUsesMoreThanLimit() {
        let hops = HopCount(limit: 3)
        let three = message(String(repeating: "Received: x\r\n", count: 3) + "\r\n")
        let four = message(String(repeating: "Received: x\r\n", count: 4) + "\r\n")
        #expect(!hops.isLoop(three))
        #expect(hops.isLoop(four))
        #expect(HopCount().limit == 30)
        #expect(HopCount(limit: 0).limit == 1)
    }

    @Test func workIsBounded() {
        let many = message(String(repeating: "Received: x\r\n", count: 1000))
        #expect(HopCount.count(in: many, stopAfter: 31) == 31)
        // 13 octets per line: the second colon is octet 22.
        #expect(HopCount.count(in: many, scanLimit: 22) == 2)
        #expect(HopCount.count(in: many, scanLimit: 21) == 1)
    }

    @Test func emptyAndOddInput() {
        #expect(HopCount.count(in: [UInt8]()) == 0)
        #expect(HopCount.count(in: message("\r\nReceived: x\r\n")) == 0)
        #expect(HopCount.count(in: message("Received:")) == 1)
        #expect(HopCount.count(in: [0xFF, 0x00, 0x0A, 0x52]) == 0)
    }
}
