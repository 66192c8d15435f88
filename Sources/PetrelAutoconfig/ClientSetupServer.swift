/// The HTTPS listener for mail-client set-up (`[autoconfig]`), on Hummingbird 2 with the server's
/// certificate (HummingbirdTLS):
///
/// - `GET /mail/config-v1.1.xml?emailaddress=…` and `GET /.well-known/autoconfig/mail/config-v1.1.xml`
///   (Thunderbird, also Thunderbird for Android / K-9);
/// - `POST /autodiscover/autodiscover.xml` (Outlook's POX Autodiscover; any case of the path);
/// - `GET /mail/petrel.mobileconfig?emailaddress=…` (Apple Mail, iOS).
///
/// Only addresses in local domains are answered (404 otherwise). Bounded: request bodies 16 KiB (413),
/// headers 16 KiB and 64 fields (the connection is closed), 30 s idle.
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import MailCore
import NIOCore
import NIOSSL

public struct ClientSetupServer: Sendable {
    public static let maxBodySize = 16 * 1024
    public static let maxHeaderSize = 16 * 1024
    public static let maxHeaderFields = 64

    public let profile: ClientSetupProfile
    /// True when the (canonical) domain is local; throws on a store failure (answered 503).
    public let isLocalDomain: @Sendable (String) async throws -> Bool
    let logger: Logger

    public init(profile: ClientSetupProfile, isLocalDomain: @escaping @Sendable (String) async throws -> Bool, logger: Logger) {
        self.profile = profile
        self.isLocalDomain = isLocalDomain
        self.logger = logger
    }

    func localDomain(_ domain: String) async throws -> String? {
        guard let canonical = IDNA.canonicalKey(domain) else { return nil }
        do {
            return try await isLocalDomain(canonical) ? canonical : nil
        } catch {
            logger.error("client set-up: domain lookup failed", metadata: ["error": "\(error)"])
            throw HTTPError(.serviceUnavailable)
        }
    }

    static func xmlResponse(_ text: String, contentType: String = "application/xml; charset=utf-8") -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        let server = self
        @Sendable func thunderbird(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
            // Thunderbird asks autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=…; the
            // well-known form is asked of the domain itself (its Host).
            let domain: String
            if let address = request.uri.queryParameters.get("emailaddress").flatMap({ EmailAddress($0) }) {
                domain = address.domain
            } else if let host = request.head.authority?.split(separator: ":").first {
                let name = host.lowercased()
                domain = name.hasPrefix("autoconfig.") ? String(name.dropFirst("autoconfig.".count)) : name
            } else {
                throw HTTPError(.badRequest)
            }
            guard let local = try await server.localDomain(domain) else { throw HTTPError(.notFound) }
            return Self.xmlResponse(ClientSetupDocuments.thunderbird(profile: server.profile, domain: local))
        }
        router.get("/mail/config-v1.1.xml", use: thunderbird)
        router.get("/.well-known/autoconfig/mail/config-v1.1.xml", use: thunderbird)

        @Sendable func autodiscover(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
            let body = try await request.body.collect(upTo: Self.maxBodySize)
            guard let text = body.getString(at: body.readerIndex, length: body.readableBytes),
                let address = ClientSetupDocuments.autodiscoverRequestAddress(text)
            else {
                throw HTTPError(.badRequest, message: "no EMailAddress in the request")
            }
            guard try await server.localDomain(address.domain) != nil else { throw HTTPError(.notFound) }
            return Self.xmlResponse(ClientSetupDocuments.autodiscover(profile: server.profile, address: address))
        }
        for path in ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml", "/AutoDiscover/AutoDiscover.xml"] {
            router.post(RouterPath(path), use: autodiscover)
        }

        router.get("/mail/petrel.mobileconfig") { request, _ -> Response in
            guard let address = request.uri.queryParameters.get("emailaddress").flatMap({ EmailAddress($0) }),
                !address.isAddressLiteral
            else {
                throw HTTPError(.badRequest, message: "emailaddress=user@domain is required")
            }
            guard try await server.localDomain(address.domain) != nil else { throw HTTPError(.notFound) }
            let data = try ClientSetupDocuments.mobileconfig(profile: server.profile, address: address, identifierPrefix: "")
            var headers = HTTPFields()
            headers[.contentType] = "application/x-apple-aspen-config"
            headers[.contentDisposition] = "attachment; filename=\"\(address.domain).mobileconfig\""
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        return router
    }

    /// An HTTPS application on `host:port` with the given certificate chain and key (PEM files).
    public func application(
        host: String, port: Int, certificatePath: String, privateKeyPath: String,
        eventLoopGroup: any EventLoopGroup,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: privateKeyPath, format: .pem)
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        let http1 = HTTP1Channel.Configuration(
            idleTimeout: .seconds(30),
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: Self.maxHeaderSize, maxHeaderListSize: Self.maxHeaderSize,
                maxHeaderFieldCount: Self.maxHeaderFields))
        return Application(
            router: router(),
            server: try .tls(.http1(configuration: http1), tlsConfiguration: tls),
            configuration: .init(address: .hostname(host, port: port), serverName: "Petrel"),
            onServerRunning: onServerRunning,
            eventLoopGroupProvider: .shared(eventLoopGroup),
            logger: logger)
    }
}
