/// The POP3 adapter and the maildrop lock in the store (MaildropLocking, MaildropLocks.swift): a login
/// takes the store's lease (another owner — another node — is refused, and a second login gets
/// `-ERR [IN-USE]`), QUIT gives it back before its `+OK`, a dropped connection gives it back, the session
/// renews it on the server's clock, and a session whose lease was taken over is closed without committing.
import Foundation
import MailCore
import MailServerNIO
import MailStore
import MailTestSupport
import NIOCore
import Testing

@Suite struct POP3MaildropLeaseTests {
    typealias Harness = POP3HandlerHarness
    static let start = Date(timeIntervalSince1970: 1_700_000_000)

    /// Another node's attempt to take alice's maildrop.
    func otherNodeTakes(_ h: Harness, duration: Duration = .seconds(30)) async throws -> MaildropLease? {
        try await h.store.acquireMaildropLock(mailboxID: h.mailboxID, owner: "other-node/1", duration: duration)
    }

    @Test func loginTakesTheStoreLeaseAndQuitReleasesItBeforeItsAnswer() async throws {
        let h = try await Harness.start(passwordHash: POP3ConnectionHandlerTests.secretHash, bodies: [Array("Subject: a\r\n\r\nx\r\n".utf8)]) {
            $0.lockOwnerLabel = "node-a:42"
        }
        #expect(try await h.line().hasPrefix("+OK"))
        try await h.send("USER alice@example.test\r\nPASS secret\r\n")
        #expect(try await h.line().hasPrefix("+OK"))
        #expect(try await h.line().hasPrefix("+OK"))
        #expect(try await otherNodeTakes(h) == nil)
        try await h.send("DELE 1\r\nQUIT\r\n")
        #expect(try await h.line().hasPrefix("+OK"))
        #expect(try await h.line().hasPrefix("+OK"))
        // The +OK of QUIT came after the release: another node gets the maildrop at once.
        #expect(try await otherNodeTakes(h) != nil)
        #expect(try await h.store.retrievableMessages(mailboxID: h.mailboxID).isEmpty)
        try await h.finish()
    }

    @Test func maildropHeldByAnotherNodeIsInUse() async throws {
        let h = try await Harness.start(passwordHash: POP3ConnectionHandlerTests.secretHash)
        _ = try #require(try await otherNodeTakes(h))
        #expect(try await h.line().hasPrefix("+OK"))
        try await h.send("USER alice@example.test\r\nPASS secret\r\n")
        #expect(try await h.line().hasPrefix("+OK"))
        #expect(try await h.line() == "-ERR [IN-USE] Mailbox is in use by another session")
        try await h.finish()
    }

    @Test func droppedConnectionReleasesTheLease() async throws {
        let h = try await Harness.start(passwordHash: POP3ConnectionHandlerTests.secretHash)
        try await h.login()
        #expect(try await otherNodeTakes(h) == nil)
        _ = try? await h.channel.close()
        var taken: MaildropLease?
        for _ in 0..<500 where taken == nil {
            taken = try await otherNodeTakes(h)
            if taken == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(taken != nil, "the lease is given back when the connection ends")
        try await h.finish()
    }

    @Test func sessionRenewsItsLeaseOnTheServerClock() async throws {
        let clock = ManualMailClock(Self.start)
        let h = try await Harness.start(passwordHash: POP3ConnectionHandlerTests.secretHash, storeClock: clock) {
            $0.clock = clock
            $0.lockLease = .seconds(30)
        }
        try await h.login()
        // Four beats of 10 s: each renews the 30 s lease, so 40 s later it is still held.
        for _ in 0..<4 {
            try await waitForSleeper(clock)
            clock.advance(10)
        }
        try await waitForSleeper(clock)
        #expect(try await otherNodeTakes(h) == nil)
        try await h.send("NOOP\r\n")
        #expect(try await h.line().hasPrefix("+OK"))
        try await h.finish()
    }

    @Test func sessionWhoseLeaseWasTakenOverIsClosedWithoutCommitting() async throws {
        // The store's clock runs ahead of the server's: the lease expires in the store before the session's
        // next renewal (as after a long stall or a partition from the database).
        let storeClock = ManualMailClock(Self.start)
        let serverClock = ManualMailClock(Self.start)
        let h = try await Harness.start(
            passwordHash: POP3ConnectionHandlerTests.secretHash, bodies: [Array("Subject: a\r\n\r\nx\r\n".utf8)],
            storeClock: storeClock
        ) {
            $0.clock = serverClock
            $0.lockLease = .seconds(30)
        }
        try await h.login()
        try await h.send("DELE 1\r\n")
        #expect(try await h.line().hasPrefix("+OK"))
        storeClock.advance(31)
        _ = try #require(try await otherNodeTakes(h))
        try await waitForSleeper(serverClock)
        serverClock.advance(10) // the renewal finds the row owned by the other node
        try await h.channel.closeFuture.get()
        #expect(h.logs.all.contains { $0.hasPrefix("pop3 maildrop lock lost") })
        // Nothing was deleted, and the other node's lease is untouched.
        #expect(try await h.store.retrievableMessages(mailboxID: h.mailboxID).count == 1)
        #expect(try await h.store.acquireMaildropLock(mailboxID: h.mailboxID, owner: "third/1", duration: .seconds(30)) == nil)
        try await h.finish()
    }

    /// Waits until the session's renewal task sleeps on `clock`.
    func waitForSleeper(_ clock: ManualMailClock) async throws {
        for _ in 0..<1000 where clock.sleeperCount == 0 {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(clock.sleeperCount > 0)
    }
}
