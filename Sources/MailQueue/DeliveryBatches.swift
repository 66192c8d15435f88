/// How the delivery agent turns due queue entries into work for connections, and how long it leases
/// them — pure rules, no store and no clock.
///
/// `DeliveryBatching.plan` groups due entries by destination (`RouteTable.destinationKey`), then by
/// message (all recipients of a message at one destination go in one transaction), and cuts them into
/// batches of at most `maxMessagesPerConnection` messages, one per free connection slot within the total
/// and per-destination limits. The agent claims exactly the planned entries (`QueueStore.claimQueueEntries`
/// with their ids); `restrict` drops what another node claimed first.
import Foundation
import MailStore

/// Work for one connection.
public struct DeliveryBatch: Hashable, Sendable {
    public var destination: String
    /// The routing domain of the first entry (all entries share the next hop).
    public var domain: String
    /// Entries grouped by message, in queue order.
    public var messages: [[QueueEntry]]

    public init(destination: String, domain: String, messages: [[QueueEntry]]) {
        self.destination = destination
        self.domain = domain
        self.messages = messages
    }

    public var entryIDs: [Int64] { messages.flatMap { $0.map(\.id) } }
}

/// The connection limits batches are planned within.
public struct DeliveryLimits: Hashable, Sendable {
    public var maxConnections: Int
    public var maxConnectionsPerDestination: Int
    public var maxMessagesPerConnection: Int

    public init(maxConnections: Int, maxConnectionsPerDestination: Int, maxMessagesPerConnection: Int) {
        self.maxConnections = max(1, maxConnections)
        self.maxConnectionsPerDestination = max(1, maxConnectionsPerDestination)
        self.maxMessagesPerConnection = max(1, maxMessagesPerConnection)
    }
}

public enum DeliveryBatching {
    /// The batches to start now, given the connections already open (`activeTotal`, `activePerDestination`).
    public static func plan(
        _ due: [QueueEntry], destinationKey: (QueueEntry) -> String, limits: DeliveryLimits, activeTotal: Int,
        activePerDestination: [String: Int]
    ) -> [DeliveryBatch] {
        var total = activeTotal
        var perDestinationNow = activePerDestination
        var batches: [DeliveryBatch] = []
        for (destination, entries) in group(due, by: destinationKey) {
            guard let first = entries.first else { continue }
            let messages = group(entries, by: \.messageID).map(\.1)
            var start = 0
            while start < messages.count {
                let perDestination = perDestinationNow[destination, default: 0]
                guard perDestination < limits.maxConnectionsPerDestination, total < limits.maxConnections else { break }
                let end = min(messages.count, start + limits.maxMessagesPerConnection)
                batches.append(
                    DeliveryBatch(destination: destination, domain: first.recipient.domain, messages: Array(messages[start..<end])))
                total += 1
                perDestinationNow[destination] = perDestination + 1
                start = end
            }
        }
        return batches
    }

    /// The planned batches keeping only the entries that were claimed (as the claim returned them, with
    /// their lease); messages and batches left empty are dropped.
    public static func restrict(_ batches: [DeliveryBatch], to claimed: [QueueEntry]) -> [DeliveryBatch] {
        let byID = Dictionary(claimed.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return batches.compactMap { batch in
            var batch = batch
            batch.messages = batch.messages.map { $0.compactMap { byID[$0.id] } }.filter { !$0.isEmpty }
            return batch.messages.isEmpty ? nil : batch
        }
    }

    /// Groups keeping the order of first appearance.
    public static func group<Key: Hashable>(_ entries: [QueueEntry], by key: (QueueEntry) -> Key) -> [(Key, [QueueEntry])] {
        var order: [Key] = []
        var groups: [Key: [QueueEntry]] = [:]
        for entry in entries {
            let k = key(entry)
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append(entry)
        }
        return order.map { ($0, groups[$0] ?? []) }
    }
}

/// How long claimed queue work is leased and how often a running agent renews it.
public struct QueueLeaseTiming: Hashable, Sendable {
    /// The lease a claim or renewal gives (`[queue] lease_seconds`).
    public var duration: Duration

    public init(duration: Duration) {
        self.duration = max(duration, .seconds(1))
    }

    /// Renewal comes at a third of the lease, so two renewals may fail (a slow database) before it runs out.
    public var renewInterval: Duration { duration / 3 }

    /// The end of a lease taken or renewed at `now`.
    public func until(_ now: Date) -> Date {
        let (seconds, attoseconds) = duration.components
        return now.addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18)
    }
}
