// The admin endpoint's limits (AdminServer.swift) on an in-memory channel with NIOHTTP1's real decoder
// and a virtual clock: an oversized request line or header is refused while it is read (NIOHTTP1's
// decoder limits, 400), a body over 16 KiB gets 413, and a request that is not complete within the
// request timeout gets 408 — each followed by a close. e2e/interop/test_limits.py does the same
// through a real socket against the real binary.
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import PetrelServer

@Suite struct AdminLimitsTests {
    static let routes = AdminServer.Routes(
        metrics: { "m 1\n" },
        status: {
            StatusReport(
                version: "t", hostname: "h", startedAt: Date(timeIntervalSince1970: 0),
                now: Date(timeIntervalSince1970: 0), listeners: [], connections: [:])
        })

    func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withPipeliningAssistance: false, withErrorHandling: true, withOutboundHeaderValidation: true, withEncoderConfiguration: .init(),
            withDecoderLimitConfiguration: AdminServer.decoderLimits)
        try channel.pipeline.syncOperations.addHandler(AdminHTTPHandler(routes: Self.routes))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2026)).wait()
        return channel
    }

    /// Feeds raw bytes (stops once the channel is closed) and returns the response text so far.
    func feed(_ channel: EmbeddedChannel, _ text: String) throws {
        guard channel.isActive else { return }
        try channel.writeInbound(ByteBuffer(string: text))
    }

    func response(_ channel: EmbeddedChannel) throws -> String {
        channel.embeddedEventLoop.run()
        var text = ""
        while let part = try channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let buffer) = part { text += String(buffer: buffer) }
        }
        return text
    }

    @Test func anOrdinaryRequestIsAnswered() throws {
        let c = try channel()
        try feed(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        let text = try response(c)
        #expect(text.hasPrefix("HTTP/1.1 200 OK") && text.hasSuffix("m 1\n"))
        #expect(!c.isActive)
    }

    @Test func aRequestLineWithoutEndIsRefusedWhileReading() throws {
        let c = try channel()
        try feed(c, "GET /")
        for _ in 0..<64 { try feed(c, String(repeating: "a", count: 1024)) } // 64 KiB of URL, no line end
        #expect(try response(c).hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(!c.isActive)
    }

    @Test func tooManyOrTooLargeHeadersAreRefused() throws {
        let c = try channel()
        try feed(c, "GET /metrics HTTP/1.1\r\n")
        for n in 0..<200 where c.isActive { try feed(c, "X-\(n): \(String(repeating: "v", count: 100))\r\n") }
        #expect(try response(c).hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(!c.isActive)
    }

    @Test func aLargeBodyGets413() throws {
        let c = try channel()
        try feed(c, "POST /status HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n")
        for _ in 0..<32 { try feed(c, String(repeating: "b", count: 1024)) }
        #expect(try response(c).hasPrefix("HTTP/1.1 413 Payload Too Large"))
        #expect(!c.isActive)
    }

    @Test func aTrickledRequestGets408AfterTheRequestTimeout() throws {
        let c = try channel()
        let timeout = Int(AdminServer.requestTimeout.nanoseconds / 1_000_000_000)
        let request = Array("GET /metrics HTTP/1.1\r\nX-Slow: " + String(repeating: "s", count: 100))
        for n in 0..<(timeout - 1) { // one byte a second: the request is never complete
            try feed(c, String(request[n]))
            c.embeddedEventLoop.advanceTime(by: .seconds(1))
        }
        #expect(c.isActive)
        #expect(try response(c) == "")
        c.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(try response(c).hasPrefix("HTTP/1.1 408 Request Timeout"))
        #expect(!c.isActive)
    }
}
