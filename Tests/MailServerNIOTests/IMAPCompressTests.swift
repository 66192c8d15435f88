/// COMPRESS=DEFLATE (RFC 4978) over real loopback sockets: a session over raw DEFLATE both ways (SELECT,
/// a FETCH larger than the channel's high watermark, a second COMPRESS refused), COMPRESS after STARTTLS,
/// compressed octets pipelined after the command (inflated, not run as plain text), invalid DEFLATE data,
/// and compression bombs: a line without end that inflates to 128 MiB (BAD, discarded slice by slice, the
/// held input never above 80 KiB), the same while the store is busy (reading stops: the session's 1 MiB
/// backstop never fires), and a huge non-synchronizing literal (BYE, closed, almost nothing inflated).
import CompressNIO
import Foundation
import IMAPCore
import MailTestSupport
import NIOCore
import Testing

@Suite(.serialized) struct IMAPCompressTests {
    typealias Fixture = IMAPListenerTests.Fixture
    static let user = IMAPListenerTests.user
    static let message = IMAPListenerTests.message

    /// Plain input held by the handler: `maxBufferedInput` plus one inflated slice.
    static let heldInputBound = 64 * 1024 + 16 * 1024

    /// The "imap compression ended" log entry (written when the connection closes).
    static func compressionEnded(_ server: Fixture) async throws -> CapturedLogs.Entry? {
        for _ in 0..<500 {
            if let entry = server.logs.entries.last(where: { $0.message == "imap compression ended" }) { return entry }
            try await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    static func number(_ entry: CapturedLogs.Entry?, _ key: String) -> Int {
        entry.flatMap { Int("\($0.metadata[key] ?? "")") } ?? -1
    }

    @Test func sessionOverDeflate() async throws {
        let server = try await Fixture.start(compress: true)
        let lines = (0..<3000).map { "line \($0) of a message larger than 64 KiB\r\n" }.joined()
        try await server.provider.deliver(to: Self.user, Self.message)
        try await server.provider.deliver(to: Self.user, Array("Subject: big\r\n\r\n\(lines)".utf8))
        let client = try await server.loggedIn()
        let caps = try await client.command("a", "CAPABILITY")
        #expect(caps.contains { $0.hasPrefix("* CAPABILITY") && $0.contains("COMPRESS=DEFLATE") }, "\(caps)")

        let ok = try await client.compress(tag: "c")
        #expect(ok.last == "c OK DEFLATE active", "\(ok)")
        // From here on a plain answer would not inflate, and a command the server did not inflate would be BAD.
        let select = try await client.command("s", "SELECT INBOX")
        #expect(select.contains("* 2 EXISTS"), "\(select)")
        #expect(select.last?.hasPrefix("s OK [READ-WRITE]") == true, "\(select)")
        try await client.send("f FETCH 1:2 (FLAGS BODY[])\r\n")
        let fetch = try await client.lines(through: "f ", timeout: .seconds(10))
        #expect(fetch.contains("IMAP over a real socket"))
        #expect(fetch.contains("line 2999 of a message larger than 64 KiB"))
        #expect(fetch.last?.hasPrefix("f OK") == true, "\(fetch.suffix(2))")
        let again = try await client.command("d", "COMPRESS DEFLATE")
        #expect(again.last?.hasPrefix("d NO [COMPRESSIONACTIVE]") == true, "\(again)")
        let capsAfter = try await client.command("e", "CAPABILITY")
        #expect(capsAfter.contains { $0.hasPrefix("* CAPABILITY") && !$0.contains("COMPRESS=DEFLATE") }, "\(capsAfter)")
        let logout = try await client.command("z", "LOGOUT")
        #expect(logout.first?.hasPrefix("* BYE") == true, "\(logout)")
        let closed = try await client.waitClosed()
        #expect(closed, "no close after LOGOUT; client active: \(client.channel.isActive); server log: \(server.logs.leveled.suffix(12))")
        #expect(server.logs.entries.contains { $0.message == "imap compression started" && $0.level == .info })
        let ended = try await Self.compressionEnded(server)
        #expect(Self.number(ended, "inflated") > 0)
        await server.stop()
    }

    @Test func compressAfterSTARTTLS() async throws {
        let server = try await Fixture.start(allowPlaintext: false, compress: true)
        try await server.provider.deliver(to: Self.user, Self.message)
        let client = try await server.connect()
        _ = try await client.line()
        let tls = try await client.command("t", "STARTTLS")
        #expect(tls.last?.hasPrefix("t OK") == true)
        try await client.startTLS()
        let login = try await client.command("l", "LOGIN \(Self.user) secret")
        #expect(login.last?.hasPrefix("l OK") == true, "\(login)")
        #expect(login.last?.contains("COMPRESS=DEFLATE") == true, "\(login)")
        let ok = try await client.compress(tag: "c")
        #expect(ok.last == "c OK DEFLATE active", "\(ok)")
        _ = try await client.command("s", "SELECT INBOX")
        let fetch = try await client.command("f", "FETCH 1 BODY.PEEK[]")
        #expect(fetch.contains("IMAP over a real socket"), "\(fetch)")
        #expect(fetch.last?.hasPrefix("f OK") == true)
        await client.close()
        await server.stop()
    }

    /// RFC 4978 §3 says the client waits for the OK; one that does not has sent compressed octets, which
    /// the server inflates (never runs them as plain text).
    @Test func compressedOctetsPipelinedAfterCOMPRESSAreInflated() async throws {
        let server = try await Fixture.start(compress: true)
        let client = try await server.loggedIn()
        let deflater = try ZlibCompressor(algorithm: .deflate)
        let early = try IMAPTestClient.deflate(Array("n NOOP\r\n".utf8), with: deflater)
        client.armInflate(afterLineStarting: "c OK")
        try await client.sendRaw(Array("c COMPRESS DEFLATE\r\n".utf8) + early)
        try client.startDeflate(deflater)
        let replies = try await client.lines(through: "n ")
        #expect(replies.first == "c OK DEFLATE active", "\(replies)")
        #expect(replies.last?.hasPrefix("n OK") == true, "\(replies)")
        let after = try await client.command("x", "NOOP")
        #expect(after.last?.hasPrefix("x OK") == true)
        #expect(server.logs.entries.contains { $0.message == "imap compression started" && "\($0.metadata["pipelined"] ?? "")" != "0" })
        await client.close()
        await server.stop()
    }

    @Test func invalidDeflateDataEndsTheConnection() async throws {
        let server = try await Fixture.start(compress: true)
        let client = try await server.loggedIn()
        _ = try await client.compress(tag: "c")
        // 0xFF: a final block of the reserved type 3.
        try await client.sendRaw([UInt8](repeating: 0xFF, count: 64))
        let bye = try await client.lines(through: "* BYE")
        #expect(bye.last == "* BYE Invalid compressed data", "\(bye)")
        #expect(try await client.waitClosed())
        await server.stop()
    }

    /// About 125 KiB of DEFLATE that inflate to a 128 MiB line: BAD once 64 KiB have passed, the rest
    /// inflated and discarded slice by slice until 1 MiB was dropped (`maxDiscardedLine`), then BYE and
    /// close — the server inflated about 1 MiB of the 128, and never held more than 80 KiB of it.
    @Test func bombOfAnEndlessLineIsCutByTheLineLimit() async throws {
        let server = try await Fixture.start(compress: true)
        let client = try await server.loggedIn()
        _ = try await client.compress(tag: "c")
        try await client.send("a NOOP ")
        let bomb = try client.deflated([UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20), repeat: 128)
        #expect(bomb.count < 200 * 1024, "\(bomb.count) octets")
        try? await client.sendRaw(bomb)
        let replies = try await client.lines(through: "* BYE", timeout: .seconds(10))
        #expect(replies.first?.hasPrefix("a BAD") == true && replies.first?.lowercased().contains("too long") == true, "\(replies)")
        #expect(replies.last == "* BYE Command line too long", "\(replies)")
        #expect(try await client.waitClosed())
        await client.close()
        let ended = try await Self.compressionEnded(server)
        #expect(Self.number(ended, "inflated") > 1 << 20, "\(String(describing: ended?.text))")
        #expect(Self.number(ended, "inflated") < 4 << 20, "\(String(describing: ended?.text))")
        #expect(Self.number(ended, "max_held_input") <= Self.heldInputBound, "\(String(describing: ended?.text))")
        #expect(Self.number(ended, "max_held_input") > 0)
        await server.stop()
    }

    /// The same bomb while SELECT waits for a held store: the server inflates only up to its bound and then
    /// stops reading (no answer, no close; the session's `BYE Too much input while busy` past 1 MiB never
    /// comes); once the store answers, the line gets BAD, and past 1 MiB dropped, BYE.
    @Test func bombWhileTheStoreIsBusyIsNotInflatedAhead() async throws {
        let server = try await Fixture.start(compress: true)
        let client = try await server.loggedIn()
        _ = try await client.compress(tag: "c")
        server.provider.hold(true)
        try await client.send("s SELECT INBOX\r\n")
        try await client.send("x NOOP ")
        try await client.sendRaw(try client.deflated([UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20), repeat: 128))
        try await server.expectHeldLineIsCutOnceTheStoreAnswers(client, tag: "x")
        await client.close()
        let ended = try await Self.compressionEnded(server)
        #expect(Self.number(ended, "max_held_input") <= Self.heldInputBound, "\(String(describing: ended?.text))")
        #expect(Self.number(ended, "inflated") < 4 << 20)
        await server.stop()
    }

    /// A non-synchronizing literal of 999999999 octets followed by 64 MiB of compressed zeros: BYE [TOOBIG]
    /// at the header, the connection closes, and little of the bomb was ever inflated.
    @Test func bombInAHugeLiteralEndsTheConnection() async throws {
        let server = try await Fixture.start(compress: true)
        let client = try await server.loggedIn()
        _ = try await client.compress(tag: "c")
        try await client.send("l APPEND INBOX {999999999+}\r\n")
        let zeros = try client.deflated([UInt8](repeating: 0, count: 1 << 20), repeat: 64)
        try? await client.sendRaw(zeros)
        let refused = try await client.lines(through: "* BYE")
        #expect(refused.contains { $0.contains("TOOBIG") }, "\(refused)")
        #expect(try await client.waitClosed())
        let ended = try await Self.compressionEnded(server)
        #expect(Self.number(ended, "inflated") >= 0)
        #expect(Self.number(ended, "inflated") < 1 << 20, "\(String(describing: ended?.text))")
        await server.stop()
    }
}
