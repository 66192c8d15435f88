/// The admin HTTP endpoint (HTTP/1.1 through SwiftNIO's NIOHTTP1) on a loopback address from `[admin]`:
/// - `GET /metrics`: every metric in the Prometheus text exposition format (version 0.0.4);
/// - `GET /status`: a `StatusReport` as JSON (what `petrel status` prints);
/// anything else is 404 (unknown path) or 405 (other methods). Requests are small and answered at once;
/// request bodies are ignored, and each connection is closed after its response (no keep-alive to manage).
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

    public static func bind(_ address: ListenAddress, routes: Routes, group: any EventLoopGroup) async throws -> Bound {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
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

/// One HTTP connection: answers each request when its end arrives, then closes.
final class AdminHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: AdminServer.Routes
    private var head: HTTPRequestHead?

    init(routes: AdminServer.Routes) { self.routes = routes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let (status, type, body) = AdminServer.respond(method: head.method, path: head.uri, routes: routes)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: type)
            headers.add(name: "Content-Length", value: "\(body.utf8.count)")
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            if head.method != .HEAD {
                var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
                buffer.writeString(body)
                context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            }
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
