// DeliveryBatching: due entries → batches per destination within the connection limits (pure), and the
// planned batches cut down to what the claim returned (another node took the rest).
import Foundation
import MailCore
import MailQueue
import MailStore
import Testing

@Suite struct DeliveryBatchingTests {
    static let t = Date(timeIntervalSince1970: 1_900_000_000)

    func entry(_ id: Int64, message: Int64, to: String) -> QueueEntry {
        QueueEntry(
            id: id, messageID: message, queueID: "Q\(message)", sender: .null,
            recipient: OutboundRecipient(address: address(to)), envelope: OutboundEnvelope(), state: .active, attempts: 0,
            arrivedAt: Self.t, nextAttempt: Self.t, lastAttempt: nil, lastError: nil, delayNotified: false, size: 10)
    }

    var due: [QueueEntry] {
        [
            entry(1, message: 1, to: "a@one.test"), entry(2, message: 1, to: "b@one.test"), entry(3, message: 2, to: "c@one.test"),
            entry(4, message: 3, to: "d@one.test"), entry(5, message: 4, to: "e@two.test")
        ]
    }

    @Test func groupsByDestinationAndMessageWithinTheLimits() {
        let limits = DeliveryLimits(maxConnections: 10, maxConnectionsPerDestination: 1, maxMessagesPerConnection: 2)
        let batches = DeliveryBatching.plan(
            due, destinationKey: { $0.recipient.domain }, limits: limits, activeTotal: 0, activePerDestination: [:])
        #expect(batches.map(\.destination) == ["one.test", "two.test"])
        // One connection to one.test, two messages on it (message 3 waits for the next batch).
        #expect(batches[0].messages.map { $0.map(\.id) } == [[1, 2], [3]])
        #expect(batches[1].entryIDs == [5])
    }

    @Test func connectionsAlreadyOpenCount() {
        let limits = DeliveryLimits(maxConnections: 2, maxConnectionsPerDestination: 2, maxMessagesPerConnection: 1)
        let batches = DeliveryBatching.plan(
            due, destinationKey: { $0.recipient.domain }, limits: limits, activeTotal: 1, activePerDestination: ["one.test": 1])
        #expect(batches.map(\.entryIDs) == [[1, 2]])
        #expect(
            DeliveryBatching.plan(
                due, destinationKey: { $0.recipient.domain }, limits: limits, activeTotal: 2, activePerDestination: [:]
            ).isEmpty)
    }

    @Test func restrictKeepsOnlyClaimedEntries() {
        let limits = DeliveryLimits(maxConnections: 10, maxConnectionsPerDestination: 4, maxMessagesPerConnection: 10)
        let planned = DeliveryBatching.plan(
            due, destinationKey: { $0.recipient.domain }, limits: limits, activeTotal: 0, activePerDestination: [:])
        var claimedOne = entry(2, message: 1, to: "b@one.test")
        claimedOne.lease = QueueLease(owner: "n1", until: Self.t.addingTimeInterval(60))
        // Entries 1, 3, 4 and 5 went to another node: two.test's batch disappears.
        let kept = DeliveryBatching.restrict(planned, to: [claimedOne])
        #expect(kept.count == 1)
        #expect(kept[0].messages.map { $0.map(\.id) } == [[2]])
        #expect(kept[0].messages[0][0].lease?.owner == "n1", "the claimed copy, with its lease")
    }
}
