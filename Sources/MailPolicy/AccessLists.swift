/// The access lists as policy values: the configured rules (`[relay]`, `[smtp] connection_*`) merged with
/// the entries of the data directory (`petrel relay …`, `petrel access …`, MailStore `AccessEntry`).
/// Pure: the caller reads the store (MailServerNIO `AccessControl` every few seconds) and applies the result.
import MailCore
import MailStore

public enum AccessLists {
    /// Configured rules plus the store's entries, each validated with `AccessSyntax` (duplicates dropped;
    /// an entry that does not parse — written by hand or by a newer version — is passed to `invalid` and
    /// skipped, never widening anything).
    public static func merge(
        relay: RelayRules, connections: ConnectionRules, entries: [AccessEntry],
        invalid: (AccessEntry, String) -> Void = { _, _ in }
    ) -> (RelayRules, ConnectionRules) {
        var relay = relay
        var connections = connections
        func addNetwork(_ entry: AccessEntry, _ list: inout [IPNetwork]) {
            switch AccessSyntax.network(entry.value) {
            case .success(let net): if !list.contains(net) { list.append(net) }
            case .failure(let error): invalid(entry, error.message)
            }
        }
        for entry in entries {
            switch entry.list {
            case .relayNetwork: addNetwork(entry, &relay.allowedNetworks)
            case .connectionAllow: addNetwork(entry, &connections.allow)
            case .connectionDeny: addNetwork(entry, &connections.deny)
            case .relayClientDomain:
                switch AccessSyntax.clientDomain(entry.value) {
                case .success(let domain):
                    if !relay.allowedClientDomains.contains(domain) { relay.allowedClientDomains.append(domain) }
                case .failure(let error): invalid(entry, error.message)
                }
            case .relayRecipientDomain:
                switch AccessSyntax.recipientDomain(entry.value) {
                case .success(let domain):
                    if !relay.recipientDomains.contains(domain) { relay.recipientDomains.append(domain) }
                case .failure(let error): invalid(entry, error.message)
                }
            case .relayRecipient:
                switch AccessSyntax.recipientAddress(entry.value) {
                case .success(let key): relay.validRecipients.insert(key)
                case .failure(let error): invalid(entry, error.message)
                }
            }
        }
        return (relay, connections)
    }
}
