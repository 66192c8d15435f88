/// What is known about the peer of a connection. Filled in by the network adapter.
public struct ClientInfo: Hashable, Sendable {
    /// The peer's IP address, or nil for a non-IP transport (tests, Unix sockets).
    public var ip: IPAddress?
    /// The peer's port.
    public var port: Int
    /// Forward-confirmed reverse DNS name, when one was verified (RFC 8601 "iprev").
    public var verifiedHostName: String?

    public init(ip: IPAddress?, port: Int = 0, verifiedHostName: String? = nil) {
        self.ip = ip
        self.port = port
        self.verifiedHostName = verifiedHostName
    }

    /// The address in brackets as used in trace headers, e.g. `[192.0.2.1]` or `[IPv6:::1]`.
    public var addressLiteral: String {
        guard let ip else { return "[unknown]" }
        return ip.isIPv6 ? "[IPv6:\(ip)]" : "[\(ip)]"
    }
}
