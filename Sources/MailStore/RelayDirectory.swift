/// The administrator-managed access lists kept in the data directory: who may relay (client networks
/// and client host domains, RFC 5321 §3.6 "relaying"), which foreign domains anyone may send to (relay
/// domains, with optional valid recipients) and which client networks may connect at all (connection
/// allow/deny). `petrel relay …` and `petrel access …` write them; a running server re-reads them every
/// few seconds, so changes apply without a restart.
///
/// The store keeps the entries as text exactly as given (already validated and normalised by the
/// caller: CIDR networks in `IPNetwork` form, domains lower-cased); it does not interpret them.
import Foundation
import MailCore

/// One of the access lists.
public enum AccessList: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Client networks (IPv4/IPv6 address or CIDR) that may relay without authentication.
    case relayNetwork = "relay-network"
    /// Client host domains that may relay; only a forward-confirmed reverse DNS name counts.
    case relayClientDomain = "relay-domain"
    /// Client networks that may connect; when this list (with the configured one) is non-empty, no other client may.
    case connectionAllow = "connection-allow"
    /// Client networks that may never connect (wins over every allow list).
    case connectionDeny = "connection-deny"
    /// Relay (recipient) domains: foreign domains any client may send to (a backup MX's domains);
    /// `name` for the domain itself, `.name` for its subdomains.
    case relayRecipientDomain = "relay-recipient-domain"
    /// Valid recipients of relay domains (`local@domain` lookup keys): a relay domain that has any
    /// accepts only those.
    case relayRecipient = "relay-recipient"

    public var description: String { rawValue }
}

/// One entry of an access list.
public struct AccessEntry: Hashable, Sendable {
    public var list: AccessList
    /// A network in CIDR form (`192.0.2.0/24`, `2001:db8::/32`, a host as `/32` or `/128`) or a domain.
    public var value: String
    public var addedAt: Date

    public init(list: AccessList, value: String, addedAt: Date) {
        self.list = list
        self.value = value
        self.addedAt = addedAt
    }
}

/// Storage of the access lists. Safe to call concurrently and from several processes (the CLI writes
/// while the server reads).
public protocol RelayDirectory: Sendable {
    /// Adds `value` to `list`; false when it was already there. `value` must be non-empty and at most
    /// 255 octets without control characters (`.backend` otherwise); callers validate its syntax.
    func addAccessEntry(_ value: String, to list: AccessList) async throws -> Bool
    /// Removes `value` from `list`; false when it was not there.
    func removeAccessEntry(_ value: String, from list: AccessList) async throws -> Bool
    /// Every entry, ordered by list (declaration order of `AccessList`) and then by value (octet order).
    func accessEntries() async throws -> [AccessEntry]
}

extension AccessEntry {
    /// The order `accessEntries()` returns: list declaration order, then the value's octets.
    public static func storeOrder(_ a: AccessEntry, _ b: AccessEntry) -> Bool {
        let (ia, ib) = (AccessList.allCases.firstIndex(of: a.list) ?? 0, AccessList.allCases.firstIndex(of: b.list) ?? 0)
        if ia != ib { return ia < ib }
        return StoreNames.octetOrder(a.value, b.value)
    }

    /// Checks the shape every backend enforces (non-empty, ≤ 255 octets, no control characters).
    public static func checkStorable(_ value: String) throws {
        guard !value.isEmpty, value.utf8.count <= 255,
            !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else {
            throw StoreError.backend("invalid access list value '\(value.prefix(80))'")
        }
    }
}
