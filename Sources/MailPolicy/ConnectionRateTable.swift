/// New connections per client IP per minute, counted in a fixed-size table (bounded memory however
/// many addresses connect), like Postfix anvil's `smtpd_client_connection_rate_limit` but without a
/// separate process. Pure: the caller passes the time, so tests are deterministic.
///
/// The table has `buckets × ways` slots; an address hashes to one bucket (SipHash with a per-table
/// random seed, so a client cannot aim at another's bucket) and uses one of its `ways` slots. When every
/// slot of a bucket holds another address with a live window, the slot whose window started first is
/// taken over: an attacker who floods one bucket can at most make the table forget an address, which
/// then starts a fresh count — the limit can be evaded only by that much, never applied to the wrong
/// client. An IPv6 client is counted per /64 (one subscriber usually holds a whole /64).
import MailCore

public struct ConnectionRateTable: Sendable {
    struct Slot: Sendable {
        var key: [UInt8]
        /// Start of this address's current one-minute window (nanoseconds, the caller's clock).
        var windowStart: UInt64
        var count: Int
    }

    /// Connections allowed per address per window; 0 disables the check.
    public let limit: Int
    /// Window length in nanoseconds (one minute).
    public let window: UInt64
    public let buckets: Int
    public let ways: Int
    private var slots: [Slot?]
    private let seed: Int

    public init(limit: Int, buckets: Int = 4096, ways: Int = 4, window: Duration = .seconds(60), seed: Int = Int.random(in: Int.min...Int.max)) {
        self.limit = max(0, limit)
        self.buckets = max(1, buckets)
        self.ways = max(1, ways)
        let parts = window.components
        self.window = UInt64(max(1, parts.seconds)) * 1_000_000_000 + UInt64(max(0, parts.attoseconds) / 1_000_000_000)
        self.slots = []
        self.seed = seed
    }

    /// The key an address is counted under: IPv4 as is (IPv4-mapped IPv6 as IPv4), IPv6 per /64.
    static func key(_ ip: IPAddress) -> [UInt8] {
        let b = ip.bytes
        if b.count == 16, b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xff, b[11] == 0xff { return Array(b[12..<16]) }
        if b.count == 16 { return Array(b[0..<8]) }
        return b
    }

    /// Records one new connection from `ip` at `now` (nanoseconds) and says whether it is within the
    /// limit. A refused connection counts too, so a client hammering the port stays refused.
    public mutating func record(_ ip: IPAddress, now: UInt64) -> Bool {
        guard limit > 0 else { return true }
        if slots.isEmpty { slots = Array(repeating: nil, count: buckets * ways) }
        let key = Self.key(ip)
        var hasher = Hasher()
        hasher.combine(seed)
        hasher.combine(key)
        let bucket = Int(UInt(bitPattern: hasher.finalize()) % UInt(buckets))
        let base = bucket * ways
        var victim = base
        var victimStart = UInt64.max
        for index in base..<(base + ways) {
            guard let slot = slots[index] else {
                if victimStart > 0 { victim = index; victimStart = 0 }
                continue
            }
            if slot.key == key {
                if now &- slot.windowStart >= window || now < slot.windowStart {
                    slots[index] = Slot(key: key, windowStart: now, count: 1)
                    return true
                }
                let count = slot.count &+ 1
                slots[index]?.count = count
                return count <= limit
            }
            let expired = now &- slot.windowStart >= window || now < slot.windowStart
            let start = expired ? 0 : slot.windowStart
            if start < victimStart { victim = index; victimStart = start }
        }
        slots[victim] = Slot(key: key, windowStart: now, count: 1)
        return 1 <= limit
    }

    /// Addresses currently held (for tests and status).
    public var occupiedSlots: Int { slots.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }
    /// Slots the table can ever hold.
    public var capacity: Int { buckets * ways }
}
