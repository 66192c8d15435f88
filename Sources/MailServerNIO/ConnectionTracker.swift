/// Counts open connections, globally and per client IP, so listeners can refuse clients over the caps,
/// and remembers open channels so a graceful shutdown can reach them.
import MailCore
import NIOCore
import Synchronization

public final class ConnectionTracker: Sendable {
    public struct Limits: Sendable {
        public var maxConnections: Int
        public var maxConnectionsPerIP: Int
        public init(maxConnections: Int, maxConnectionsPerIP: Int) {
            self.maxConnections = maxConnections
            self.maxConnectionsPerIP = maxConnectionsPerIP
        }
    }

    /// Why a connection was refused or ended early by an abuse defence (logged and counted by reason).
    public enum Refusal: Sendable, Hashable, CustomStringConvertible {
        case tooManyConnections, tooManyFromIP
        /// Connection control: in a deny list, or outside a non-empty allow list (AccessControl.swift).
        case denied
        /// Over `max_connection_rate_per_ip` new connections in one minute.
        case rateLimited
        /// Sent data before the greeting.
        case talkedBeforeGreeting
        /// Too many refused RCPTs in one session.
        case tooManyInvalidRecipients
        public var description: String {
            switch self {
            case .tooManyConnections: return "too many connections"
            case .tooManyFromIP: return "too many connections from this IP"
            case .denied: return "connection denied by access list"
            case .rateLimited: return "connection rate limit exceeded"
            case .talkedBeforeGreeting: return "client sent data before the greeting"
            case .tooManyInvalidRecipients: return "too many invalid recipients"
            }
        }

        /// The metric label (`petrel_connections_rejected_total{reason}`).
        public var label: String {
            switch self {
            case .tooManyConnections: return "too_many_connections"
            case .tooManyFromIP: return "too_many_from_ip"
            case .denied: return "denied"
            case .rateLimited: return "rate_limited"
            case .talkedBeforeGreeting: return "pregreet"
            case .tooManyInvalidRecipients: return "invalid_recipients"
            }
        }
    }

    private struct State {
        var total = 0
        var perIP: [IPAddress: Int] = [:]
        var channels: [ObjectIdentifier: any Channel] = [:]
        var accepted = 0
        /// Set by `requestShutdown`: connections opened from then on are asked to close at once.
        var shuttingDown = false
        /// `waitUntilEmpty` callers, resumed when the last connection closes.
        var emptyWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())
    public let limits: Limits

    public init(limits: Limits) { self.limits = limits }

    /// Registers a new connection, or says why it must be refused.
    public func open(_ channel: any Channel, ip: IPAddress?) -> Refusal? {
        let (refusal, shuttingDown) = state.withLock { s -> (Refusal?, Bool) in
            if s.total >= limits.maxConnections { return (.tooManyConnections, false) }
            let fromIP = ip.flatMap { s.perIP[$0] } ?? 0
            if ip != nil, fromIP >= limits.maxConnectionsPerIP { return (.tooManyFromIP, false) }
            s.total += 1
            s.accepted += 1
            // updateValue, not `+= 1` through the subscript: its in-place modify allocates a coroutine
            // frame per call here (RecipientCache says the same).
            if let ip { s.perIP.updateValue(fromIP + 1, forKey: ip) }
            s.channels.updateValue(channel, forKey: ObjectIdentifier(channel))
            return (nil, s.shuttingDown)
        }
        // Accepted while the server stops (the listener was closing): asked to close like the others,
        // once its handlers are in place (this runs inside the channel initializer, on its event loop).
        if shuttingDown {
            channel.eventLoop.execute { channel.pipeline.fireUserInboundEventTriggered(ShutdownRequested()) }
        }
        return refusal
    }

    public func close(_ channel: any Channel, ip: IPAddress?) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            guard s.channels.removeValue(forKey: ObjectIdentifier(channel)) != nil else { return [] }
            s.total -= 1
            if let ip {
                let n = (s.perIP[ip] ?? 1) - 1
                if n > 0 { s.perIP.updateValue(n, forKey: ip) } else { s.perIP.removeValue(forKey: ip) }
            }
            guard s.total == 0 else { return [] }
            defer { s.emptyWaiters = [:] }
            return Array(s.emptyWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Sends `ShutdownRequested` to every open connection (each closes as soon as it is idle) and to every
    /// connection opened from now on.
    public func requestShutdown() {
        let channels = state.withLock { s -> [any Channel] in
            s.shuttingDown = true
            return Array(s.channels.values)
        }
        for channel in channels { channel.pipeline.fireUserInboundEventTriggered(ShutdownRequested()) }
    }

    /// Returns when no connection is open: at once if none is, else when the last one closes (an event,
    /// no polling). Returns early when the task is cancelled.
    public func waitUntilEmpty() async {
        let id = state.withLock { s -> Int in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.total == 0 || Task.isCancelled { return true }
                    s.emptyWaiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.emptyWaiters.removeValue(forKey: id) }?.resume()
        }
    }

    public var openCount: Int { state.withLock { $0.total } }
    public var acceptedCount: Int { state.withLock { $0.accepted } }
    public var openChannels: [any Channel] { state.withLock { Array($0.channels.values) } }
}

/// Sent down a connection's pipeline (as a user inbound event) when the server starts to stop.
public struct ShutdownRequested: Sendable {
    public init() {}
}
