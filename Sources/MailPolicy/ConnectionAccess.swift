/// Connection control (the old service's "connection control"): which client addresses may open a
/// session at all, decided before the greeting. A deny entry always wins; when any allow entry exists,
/// only clients in an allow entry may connect. Pure: the lists come from the configuration and the
/// data directory (merged by the caller).
import MailCore

public struct ConnectionRules: Hashable, Sendable {
    public var allow: [IPNetwork]
    public var deny: [IPNetwork]

    public init(allow: [IPNetwork] = [], deny: [IPNetwork] = []) {
        self.allow = allow
        self.deny = deny
    }

    public static let open = ConnectionRules()
}

public enum ConnectionVerdict: Hashable, Sendable {
    case accept
    /// In the deny list (the matching entry).
    case denied(IPNetwork)
    /// An allow list exists and the client is in none of its entries.
    case notAllowed
}

public enum ConnectionAccess {
    /// The verdict for a client; a client without an IP (not TCP) is only refused by a non-empty allow list.
    public static func decide(_ ip: IPAddress?, rules: ConnectionRules) -> ConnectionVerdict {
        guard let ip else { return rules.allow.isEmpty ? .accept : .notAllowed }
        if let net = rules.deny.first(where: { $0.contains(ip) }) { return .denied(net) }
        if !rules.allow.isEmpty && !rules.allow.contains(where: { $0.contains(ip) }) { return .notAllowed }
        return .accept
    }
}
