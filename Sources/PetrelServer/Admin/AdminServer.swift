/// The admin HTTP endpoint (HTTP/1.1 through SwiftNIO's NIOHTTP1) on a loopback address from `[admin]`:
/// - `GET /metrics`: every metric in the Prometheus text exposition format (version 0.0.4);
/// - `GET /status`: a `StatusReport` as JSON (what `petrel status` prints);
/// anything else is 404 (unknown path) or 405 (other methods). Requests are small and answered at once;
/// request bodies are ignored, and each connection is closed after its response (no keep-alive to manage).
///
/// Limits (issue 13), so a client cannot make the endpoint hold memory or a connection: the request line
/// and headers are bounded by NIOHTTP1's decoder while it reads (`decoderLimits`: one field — the URL
/// counts as one — at most 8 KiB, all of them 16 KiB, at most 100 fields; over that NIOHTTP1 answers 400
/// and closes); a body over `maxBodyBytes` gets 413 and a close; and the whole request must arrive within
/// `requestTimeout` of the connection (408 and close), however slowly its bytes trickle in. No pipelining
/// assistance: one request per connection, and the 408 may have to go out before any request head arrived
/// (NIO's pipelining handler traps on a response without a request).
import Foundation
import Logging
import MailServerNIO
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

public enum AdminServer {
    /// Produces the two documents; called on the event loop for each request.
    public struct Routes: Sendable {
        public var metrics: @Sendable () -> String
        public var status: @Sendable () -> StatusReport
        public init(metrics: @escaping @Sendable () -> String, status: @escaping @Sendable () -> StatusReport) {
            self.metrics = metrics
            self.status = status
        }
    }

    /// A bound admin listener.
    public struct Bound: Sendable {
        public var channel: any Channel
        public var localAddress: ListenAddress
    }

    /// NIOHTTP1's limits for the request head (its defaults are 80 KiB and 65,534 fields).
    public static let decoderLimits: NIOHTTPDecoderLimitConfiguration = {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = 8 * 1024
        limits.maxHeaderListSize = 16 * 1024
        limits.maxHeaderFieldCount = 100
        return limits
    }()
    /// The largest request body read (and ignored); more gets 413.
    public static let maxBodyBytes = 16 * 1024
    /// The time one connection has for its whole request.
    public static let requestTimeout: TimeAmount = .seconds(10)

    public static func bind(_ address: ListenAddress, routes: Routes, group: any EventLoopGroup) async throws -> Bound {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: false, withErrorHandling: true, withOutboundHeaderValidation: true,
                        withEncoderConfiguration: .init(),
                        withDecoderLimitConfiguration: decoderLimits)
                    try channel.pipeline.syncOperations.addHandler(AdminHTTPHandler(routes: routes))
                }
            }
        let channel = try await bootstrap.bind(host: address.host, port: address.port).get()
        let port = channel.localAddress?.port ?? address.port
        return Bound(channel: channel, localAddress: ListenAddress(host: address.host, port: port))
    }

    /// The response for one request: status, content type and body. Pure, for tests.
    public static func respond(method: HTTPMethod, path: String, routes: Routes) -> (HTTPResponseStatus, String, String) {
        let route = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? path
        guard route == "/metrics" || route == "/status" else {
            return (.notFound, "text/plain; charset=utf-8", "not found: try /metrics or /status\n")
        }
        guard method == .GET || method == .HEAD else {
            return (.methodNotAllowed, "text/plain; charset=utf-8", "only GET\n")
        }
        if route == "/metrics" {
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", routes.metrics())
        }
        return (.ok, "application/json", routes.status().jsonString() + "\n")
    }
}

/// One HTTP connection: answers the request when its end arrives, then closes. A body over
/// `AdminServer.maxBodyBytes` gets 413, a request not complete within `AdminServer.requestTimeout` 408.
final class AdminHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: AdminServer.Routes
    private let requestTimeout: TimeAmount
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    private var answered = false
    private var deadline: Scheduled<Void>?

    init(routes: AdminServer.Routes, requestTimeout: TimeAmount = AdminServer.requestTimeout) {
        self.routes = routes
        self.requestTimeout = requestTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: requestTimeout) {
            let (handler, context) = bound.value
            handler.refuse(.requestTimeout, "request not complete in time\n", context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body(let part):
            bodyBytes += part.readableBytes
            if bodyBytes > AdminServer.maxBodyBytes {
                refuse(.payloadTooLarge, "request body too large\n", context: context)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let (status, type, body) = AdminServer.respond(method: head.method, path: head.uri, routes: routes)
            respond(status: status, type: type, body: body, version: head.version, includeBody: head.method != .HEAD, context: context)
        }
    }

    /// Answers with an error and closes (the rest of the request is not read).
    private func refuse(_ status: HTTPResponseStatus, _ text: String, context: ChannelHandlerContext) {
        guard !answered, context.channel.isActive else { return }
        respond(
            status: status, type: "text/plain; charset=utf-8", body: text, version: head?.version ?? .http1_1,
            includeBody: true, context: context)
    }

    private func respond(
        status: HTTPResponseStatus, type: String, body: String, version: HTTPVersion, includeBody: Bool,
        context: ChannelHandlerContext
    ) {
        answered = true
        deadline?.cancel()
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        if includeBody {
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
