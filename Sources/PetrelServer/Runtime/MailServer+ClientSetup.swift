/// `[autoconfig]`: the HTTPS listener that tells mail clients how to connect (PetrelAutoconfig),
/// describing exactly the submission, IMAP and POP3 listeners this server has bound.
import Foundation
import Logging
import MailServerNIO
import NIOCore
import NIOPosix
import PetrelAutoconfig
import PetrelConfig
import Synchronization

/// The running client set-up applications (one per listen address) and their bound ports.
public final class ClientSetupRunner: Sendable {
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let boundPorts = Mutex<[Int]>([])

    public init() {}

    /// The ports the HTTPS listeners are bound to (empty when `[autoconfig]` is off).
    public var ports: [Int] { boundPorts.withLock { $0 } }

    /// The services the bound mail listeners offer to clients (port 25 is for servers, not clients).
    static func profile(hostname: String, listeners: [BoundListener]) -> ClientSetupProfile {
        var services: [ClientSetupService] = []
        for listener in listeners {
            switch listener.kind {
            case .submission: services.append(.init(kind: .submission, port: listener.port, security: .startTLS))
            case .submissions: services.append(.init(kind: .submission, port: listener.port, security: .implicitTLS))
            case .pop3: services.append(.init(kind: .pop3, port: listener.port, security: .startTLS))
            case .pop3s: services.append(.init(kind: .pop3, port: listener.port, security: .implicitTLS))
            case .imap: services.append(.init(kind: .imap, port: listener.port, security: .startTLS))
            case .imaps: services.append(.init(kind: .imap, port: listener.port, security: .implicitTLS))
            default: break
            }
        }
        return ClientSetupProfile(hostname: hostname, services: services)
    }

    /// Starts one HTTPS application per listen address and waits until each is bound (or failed).
    func start(_ server: MailServer) async throws {
        let configuration = server.configuration
        let hostname = configuration.autoconfig.mailHost ?? configuration.server.hostname
        let store = server.store
        let setup = ClientSetupServer(
            profile: Self.profile(hostname: hostname, listeners: server.listeners),
            isLocalDomain: { try await store.isLocalDomain($0) },
            logger: Logger(label: "petrel.autoconfig"))
        for listener in configuration.autoconfig.listen {
            let started = LockedBox<CheckedContinuation<Int, any Error>?>(nil)
            let port: Int = try await withCheckedThrowingContinuation { continuation in
                started.withLock { $0 = continuation }
                @Sendable func finish(_ result: Result<Int, any Error>) {
                    started.withLock { pending in
                        pending?.resume(with: result)
                        pending = nil
                    }
                }
                do {
                    let app = try setup.application(
                        host: listener.host, port: listener.port,
                        certificatePath: server.tls.paths.certificate, privateKeyPath: server.tls.paths.privateKey,
                        eventLoopGroup: server.group,
                        onServerRunning: { channel in finish(.success(channel.localAddress?.port ?? listener.port)) })
                    let task = Task {
                        do {
                            try await app.run()
                            finish(.failure(ServerStartError(message: "autoconfig listener \(listener) stopped at once")))
                        } catch {
                            finish(.failure(error))
                        }
                    }
                    tasks.withLock { $0.append(task) }
                } catch {
                    finish(.failure(error))
                }
            }
            boundPorts.withLock { $0.append(port) }
            server.logger.info("listening", metadata: ["protocol": "autoconfig-https", "address": "\(listener.host):\(port)"])
        }
    }

    func stop() async {
        let running = tasks.withLock { list -> [Task<Void, Never>] in
            defer { list.removeAll() }
            return list
        }
        for task in running { task.cancel() }
        for task in running { await task.value }
    }
}
