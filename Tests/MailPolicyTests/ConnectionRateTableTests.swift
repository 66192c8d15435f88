import MailCore
import MailPolicy
import Testing

@Suite struct ConnectionRateTableTests {
    let second: UInt64 = 1_000_000_000

    /// `#expect` cannot call a mutating method inside its expression: a reference wrapper.
    final class Box {
        var table: ConnectionRateTable
        init(_ table: ConnectionRateTable) { self.table = table }
        func hit(_ ip: IPAddress, _ now: UInt64) -> Bool { table.record(ip, now: now) }
    }

    func ip(_ s: String) -> IPAddress {
        guard let ip = IPAddress(s) else { Issue.record("bad test address \(s)"); return IPAddress(bytes: [0, 0, 0, 0]) ?? IPAddress(bytes: [])! }
        return ip
    }

    @Test func limitPerMinuteThenNewWindow() {
        let t = Box(ConnectionRateTable(limit: 3, seed: 1))
        let a = ip("192.0.2.1")
        #expect(t.hit(a, 0))
        #expect(t.hit(a, 1 * second))
        #expect(t.hit(a, 2 * second))
        #expect(!t.hit(a, 3 * second))
        #expect(!t.hit(a, 59 * second))
        // A new window starts one minute after the first connection of the old one.
        #expect(t.hit(a, 60 * second))
    }

    @Test func addressesAreCountedApart() {
        let t = Box(ConnectionRateTable(limit: 1, seed: 2))
        #expect(t.hit(ip("192.0.2.1"), 0))
        #expect(t.hit(ip("192.0.2.2"), 0))
        #expect(!t.hit(ip("192.0.2.1"), 1))
    }

    @Test func ipv6CountedPerSlash64AndMappedAsIPv4() {
        let t = Box(ConnectionRateTable(limit: 2, seed: 3))
        #expect(t.hit(ip("2001:db8::1"), 0))
        #expect(t.hit(ip("2001:db8::ffff:2"), 0))
        #expect(!t.hit(ip("2001:db8::3"), 0))
        #expect(t.hit(ip("2001:db8:0:1::1"), 0))
        #expect(t.hit(ip("198.51.100.1"), 0))
        #expect(t.hit(ip("::ffff:198.51.100.1"), 0))
        #expect(!t.hit(ip("198.51.100.1"), 0))
    }

    @Test func zeroLimitDisables() {
        let t = Box(ConnectionRateTable(limit: 0))
        for i in 0..<1000 { #expect(t.hit(ip("192.0.2.1"), UInt64(i))) }
        #expect(t.table.occupiedSlots == 0)
    }

    @Test func memoryIsBoundedUnderAFlood() {
        let t = Box(ConnectionRateTable(limit: 5, buckets: 16, ways: 2, seed: 4))
        for i in 0..<10_000 {
            _ = t.hit(ip("10.\(i / 65536 % 256).\(i / 256 % 256).\(i % 256)"), UInt64(i))
        }
        #expect(t.table.occupiedSlots <= t.table.capacity)
        #expect(t.table.capacity == 32)
    }

    @Test func expiredSlotsAreReused() {
        let t = Box(ConnectionRateTable(limit: 1, buckets: 1, ways: 1, seed: 5))
        #expect(t.hit(ip("192.0.2.1"), 0))
        #expect(!t.hit(ip("192.0.2.1"), 1))
        // Another address takes the only slot over; the first one then starts afresh.
        #expect(t.hit(ip("192.0.2.2"), 2))
        #expect(t.hit(ip("192.0.2.1"), 3))
    }

    @Test func clockGoingBackwardsStartsANewWindow() {
        let t = Box(ConnectionRateTable(limit: 1, seed: 6))
        #expect(t.hit(ip("192.0.2.1"), 100 * second))
        #expect(t.hit(ip("192.0.2.1"), 10 * second))
    }
}
