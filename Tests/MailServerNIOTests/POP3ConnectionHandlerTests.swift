import Foundation
import Logging
import MailCore
import MailServerNIO
import MailStore
import MailTestSupport
import NIOCore
import NIOEmbedded
import NIOPosix
import POP3Core
import Testing

/// The POP3 adapter on an in-memory channel with the in-memory store: RETR/TOP streamed through the async
/// store reads byte-exact (dot-stuffing across 64 KiB chunk boundaries, empty message, pipelined
/// commands), the batched read-ahead never answering TOP, a deleted message or the wrong message, and a
/// read that fails mid-session closes the connection (RFC 1939 §5, §7).
@Suite struct POP3ConnectionHandlerTests {
    /// scrypt (ln=10, fast) of "secret", salt "petrel-test-salt".
    static let secretHash = "$scrypt$ln=10,r=8,p=1$cGV0cmVsLXRlc3Qtc2FsdA$F6NoQSNEaJ4lBCchrCu1ximbPZV86jMyw2pLeOhgB0Q"

    typealias Harness = POP3HandlerHarness

    /// A store with alice@example.test (password "secret") holding `bodies` in this order.
    func makeHarness(_ bodies: [[UInt8]]) async throws -> Harness {
        try await .start(passwordHash: Self.secretHash, bodies: bodies)
    }

    static let small = Array("Subject: one\r\n\r\n.leading dot\r\nline\r\n..two dots\r\n".utf8)

    /// ~150 KB of short lines, every seventh starting with a dot: some fall on the 64 KiB chunk boundaries.
    static let large: [UInt8] = {
        var out = Array("Subject: large\r\n\r\n".utf8)
        var n = 0
        while out.count < 150_000 {
            out += Array((n % 7 == 0 ? ".dot \(n)\r\n" : "line \(n)\r\n").utf8)
            n += 1
        }
        return out
    }()

    static func retrAnswer(_ body: [UInt8]) -> [UInt8] {
        Array("+OK \(body.count) octets\r\n".utf8) + POP3MessageEncoder.encode(body, topLines: nil)
    }

    @Test func retrIsByteExactForSmallLargeAndEmptyMessages() async throws {
        let h = try await makeHarness([Self.small, Self.large, []])
        try await h.login()
        for (number, body) in [(1, Self.small), (2, Self.large), (3, [])] {
            try await h.send("RETR \(number)\r\n")
            let expected = Self.retrAnswer(body)
            #expect(try await h.read(expected.count) == expected)
        }
        try await h.send("TOP 2 3\r\n")
        let top = Array("+OK Top of message follows\r\n".utf8) + POP3MessageEncoder.encode(Self.large, topLines: 3)
        #expect(try await h.read(top.count) == top)
        try await h.send("NOOP\r\n")
        #expect(try await h.line() == "+OK")
        try await h.finish()
    }

    @Test func pipelinedRetrievalsAnswerInOrder() async throws {
        let h = try await makeHarness([Self.small, Self.large])
        try await h.login()
        try await h.send("RETR 2\r\nRETR 1\r\nRETR 2\r\nSTAT\r\n")
        let expected = Self.retrAnswer(Self.large) + Self.retrAnswer(Self.small) + Self.retrAnswer(Self.large)
        #expect(try await h.read(expected.count) == expected)
        #expect(try await h.line() == "+OK 2 \(Self.small.count + Self.large.count)")
        try await h.finish()
    }

    @Test func readAheadNeverAnswersTheWrongCommand() async throws {
        let bodies = (1...4).map { Array("Subject: m\($0)\r\n\r\n.body \($0)\r\n".utf8) }
        let h = try await makeHarness(bodies)
        try await h.login()
        // RETR 1 reads message 2 ahead; TOP 2 must still stop after the headers.
        try await h.send("RETR 1\r\n")
        #expect(try await h.read(Self.retrAnswer(bodies[0]).count) == Self.retrAnswer(bodies[0]))
        try await h.send("TOP 2 0\r\n")
        let top = Array("+OK Top of message follows\r\n".utf8) + POP3MessageEncoder.encode(bodies[1], topLines: 0)
        #expect(try await h.read(top.count) == top)
        // RETR 2 then reads 3 ahead; after DELE 3, RETR 3 is refused and RETR 4 is message 4.
        try await h.send("RETR 2\r\n")
        #expect(try await h.read(Self.retrAnswer(bodies[1]).count) == Self.retrAnswer(bodies[1]))
        try await h.send("DELE 3\r\nRETR 3\r\nRETR 4\r\n")
        #expect(try await h.line() == "+OK Message 3 deleted")
        #expect(try await h.line().hasPrefix("-ERR"))
        #expect(try await h.read(Self.retrAnswer(bodies[3]).count) == Self.retrAnswer(bodies[3]))
        // Out of order: RETR 1 again after 4 (nothing read ahead past the end).
        try await h.send("RETR 1\r\nNOOP\r\n")
        #expect(try await h.read(Self.retrAnswer(bodies[0]).count) == Self.retrAnswer(bodies[0]))
        #expect(try await h.line() == "+OK")
        try await h.finish()
    }

    /// 40 small messages (each different, dot lines included) with a large one at 20: read ahead in
    /// batches, every answer must still be its own message, in order, skipping around, around DELE and TOP.
    @Test func batchedReadAheadAnswersEveryMessageExactly() async throws {
        var bodies = (1...40).map { n in
            Array("Subject: m\(n)\r\n\r\n".utf8) + Array(repeating: Array(".line \(n)\r\nplain\r\n".utf8), count: n).flatMap { $0 }
        }
        bodies[19] = Self.large
        let h = try await makeHarness(bodies)
        try await h.login()
        // In order, pipelined: 1…40 (the large one is read on demand, the rest ahead in batches).
        try await h.send((1...40).map { "RETR \($0)\r\n" }.joined())
        for body in bodies {
            #expect(try await h.read(Self.retrAnswer(body).count) == Self.retrAnswer(body))
        }
        // Jumps: forward past what was read ahead, back, TOP inside the read-ahead range, DELE of a message
        // read ahead, and the ones after it.
        try await h.send("RETR 5\r\nRETR 30\r\nRETR 6\r\nTOP 7 0\r\nDELE 8\r\nRETR 8\r\nRETR 9\r\nRETR 7\r\n")
        for n in [5, 30, 6] {
            #expect(try await h.read(Self.retrAnswer(bodies[n - 1]).count) == Self.retrAnswer(bodies[n - 1]))
        }
        let top = Array("+OK Top of message follows\r\n".utf8) + POP3MessageEncoder.encode(bodies[6], topLines: 0)
        #expect(try await h.read(top.count) == top)
        #expect(try await h.line() == "+OK Message 8 deleted")
        #expect(try await h.line().hasPrefix("-ERR"))
        for n in [9, 7] {
            #expect(try await h.read(Self.retrAnswer(bodies[n - 1]).count) == Self.retrAnswer(bodies[n - 1]))
        }
        try await h.send("NOOP\r\n")
        #expect(try await h.line() == "+OK")
        try await h.finish()
    }

    /// Messages of 30–75 KB: the read-ahead's byte bound lets only one or two be ahead at a time; every
    /// answer is still its own message, byte-exact, in order.
    @Test func readAheadOfLargerMessagesStaysExact() async throws {
        let bodies = (1...6).map { n in
            Array("Subject: big \(n)\r\n\r\n".utf8) + Array(repeating: Array(".\(n) dotted line\r\n".utf8), count: 1_500 + n * 500).flatMap { $0 }
        }
        let h = try await makeHarness(bodies)
        try await h.login()
        try await h.send((1...6).map { "RETR \($0)\r\n" }.joined())
        for body in bodies {
            #expect(try await h.read(Self.retrAnswer(body).count) == Self.retrAnswer(body))
        }
        try await h.finish()
    }

    /// Most messages need no stuffing and go out as the buffer the store read: those, and ones where the
    /// first change comes late (a dot line or a bare LF after 100 KB unchanged, so the copy starts
    /// mid-chunk), ones without a final line end or ending in a bare CR, one starting with a dot, and TOP
    /// of them, all byte-exact; in order and pipelined, so they pass through the read-ahead too.
    @Test func unchangedAndRepairedMessagesAreByteExact() async throws {
        let plainLines = (0..<12_000).map { "plain line \($0)\r\n" }.joined()
        let bodies: [[UInt8]] = [
            Array("Subject: a\r\n\r\nplain\r\n".utf8),
            Array("Subject: b\r\n\r\nno final line end".utf8),
            Array("Subject: c\r\n\r\nends with a CR\r".utf8),
            Array(("Subject: d\r\n\r\n" + plainLines).utf8),
            Array(("Subject: e\r\n\r\n" + plainLines + ".late dot\r\nbare\nend\r\n").utf8),
            Array("bare LF\nonly\n".utf8),
            Array(".starts with a dot\r\n\r\nbody\r\n".utf8)
        ]
        let h = try await makeHarness(bodies)
        try await h.login()
        try await h.send((1...bodies.count).map { "RETR \($0)\r\n" }.joined())
        for body in bodies {
            #expect(try await h.read(Self.retrAnswer(body).count) == Self.retrAnswer(body))
        }
        for (number, lines) in [(4, 2), (5, 0), (2, 5), (1, 0)] {
            try await h.send("TOP \(number) \(lines)\r\n")
            let top = Array("+OK Top of message follows\r\n".utf8) + POP3MessageEncoder.encode(bodies[number - 1], topLines: lines)
            #expect(try await h.read(top.count) == top)
        }
        try await h.send("NOOP\r\n")
        #expect(try await h.line() == "+OK")
        try await h.finish()
    }

    /// A message that vanished from the store is one failed read in its batch: the messages read with it
    /// are still answered, and the RETR of the missing one closes the connection as before.
    @Test func oneUnreadableMessageInABatchFailsOnlyItsOwnRetrieval() async throws {
        let bodies = (1...6).map { Array("Subject: m\($0)\r\n\r\nbody \($0)\r\n".utf8) }
        let h = try await makeHarness(bodies)
        try await h.login()
        let listing = try await h.store.retrievableMessages(mailboxID: h.mailboxID)
        try await h.store.deleteMessages(mailboxID: h.mailboxID, deliveryIDs: [listing[3].deliveryID])
        try await h.send("RETR 1\r\nRETR 2\r\nRETR 3\r\n")
        for n in 1...3 {
            #expect(try await h.read(Self.retrAnswer(bodies[n - 1]).count) == Self.retrAnswer(bodies[n - 1]))
        }
        try await h.send("RETR 4\r\n")
        #expect(try await h.line() == "+OK \(bodies[3].count) octets")
        try await h.channel.closeFuture.get()
        #expect(h.logs.all.contains { $0.hasPrefix("pop3 message read failed") })
        try await h.finish()
    }

    @Test func messageRemovedBehindTheSessionClosesTheConnection() async throws {
        let h = try await makeHarness([Self.small, Self.small])
        try await h.login()
        // Another process (the admin CLI) removes message 1 while the session holds its snapshot.
        let listing = try await h.store.retrievableMessages(mailboxID: h.mailboxID)
        try await h.store.deleteMessages(mailboxID: h.mailboxID, deliveryIDs: [listing[0].deliveryID])
        try await h.send("RETR 1\r\n")
        #expect(try await h.line() == "+OK \(Self.small.count) octets")
        try await h.channel.closeFuture.get()
        #expect(h.logs.all.contains { $0.hasPrefix("pop3 message read failed") })
        // Nothing of the message (nor of message 2) was sent after the +OK line.
        #expect(try await h.channel.readOutbound(as: ByteBuffer.self).map { $0.readableBytes } ?? 0 == 0)
        try await h.finish()
    }
}

extension POP3HandlerHarness {
    /// USER/PASS as alice ("secret"), checking the greeting and both answers.
    func login() async throws {
        #expect(try await line().hasPrefix("+OK"))
        try await send("USER alice@example.test\r\nPASS secret\r\n")
        #expect(try await line().hasPrefix("+OK"))
        #expect(try await line().hasPrefix("+OK"))
    }
}
