/// THE recipient-routing decision (RFC 5321 §3.6 relaying, §7.1): where mail for one address goes —
/// a local mailbox, the outbound queue (relay, with its routing domain), or nowhere (refused). Every path
/// that accepts mail calls it: SMTP RCPT (MailServerNIO `SMTPServerContext.decide`), the pickup directory
/// and delivery reports (MailDelivery). Pure: `decide` takes what the directory said about the address
/// (`RecipientResolution`, looked up by the caller or by `route`) and the relay rules in force.
///
/// The order, for an address whose routing domain is `D` (`EmailAddress.routingDomain`):
/// 1. `D` has no A-label form (bad Punycode, over-long label) → refused, never looked up nor relayed;
/// 2. the directory knows the address → that local mailbox; `D` is local but the mailbox is unknown →
///    refused (unknown user);
/// 3. `D` is a relay domain (`RelayRules.recipientDomains`) → relayed to `D` for ANY client, unless the
///    domain has a valid-recipient list that does not hold the address (refused: unknown user);
/// 4. mail made or taken by this server itself (pickup, reports: `.local`) → relayed to `D`;
/// 5. an SMTP client that may relay (`RelayPolicy.permission`: AUTH, network, verified client domain) →
///    relayed to `D`; any other → refused (relay denied).
/// The sender address never plays a part (anyone can forge it).
import MailCore
import MailStore

/// Who is handing the message over.
public enum RecipientOrigin: Hashable, Sendable {
    /// An SMTP client (RCPT TO): relaying needs a permission or a relay domain.
    case smtp(RelayContext)
    /// This server itself: a file from the pickup directory, a delivery report. May relay anywhere.
    case local
}

/// Where one recipient goes.
public enum RecipientRoute: Hashable, Sendable {
    /// Deliver to this local mailbox.
    case local(mailboxID: Int64)
    /// Queue for outbound delivery to `domain`, the address's routing domain (lower case, A-labels, or
    /// an address literal); `reason` says why relaying is allowed (for the log).
    case relay(domain: String, reason: RelayReason)
    /// Do not accept.
    case refuse(RecipientRefusal)
}

/// Why a non-local recipient may be relayed to.
public enum RelayReason: Hashable, Sendable, CustomStringConvertible {
    /// The recipient's domain is a relay domain.
    case relayDomain(RelayDomain)
    /// The SMTP client may relay.
    case client(RelayPermission)
    /// The message comes from this server (pickup directory, delivery report).
    case localOrigin

    public var description: String {
        switch self {
        case .relayDomain(let domain): return "relay domain \(domain)"
        case .client(let permission): return "client \(permission)"
        case .localOrigin: return "local origin"
        }
    }
}

/// Why a recipient is refused.
public enum RecipientRefusal: Hashable, Sendable, CustomStringConvertible {
    /// A local domain without that mailbox (550 5.1.1).
    case unknownUser
    /// A relay domain whose valid-recipient list does not hold the address (550 5.1.1).
    case unknownRelayRecipient
    /// A foreign domain the client may not relay to (550 5.7.1).
    case relayDenied
    /// The domain has no routing domain (553 5.1.3).
    case invalidDomain(IDNAError)

    public var description: String {
        switch self {
        case .unknownUser: return "no such mailbox here"
        case .unknownRelayRecipient: return "not a valid recipient of its relay domain"
        case .relayDenied: return "relay access denied"
        case .invalidDomain(let error): return "\(error)"
        }
    }
}

public enum RecipientRouting {
    /// The decision for `address`, given the directory's answer for it (`UserDirectory.resolveRecipient`).
    public static func decide(
        _ address: EmailAddress, directory: RecipientResolution, origin: RecipientOrigin,
        rules: RelayRules
    ) -> RecipientRoute {
        let domain: String
        switch address.checkedRoutingDomain {
        case .success(let key): domain = key
        case .failure(let error): return .refuse(.invalidDomain(error))
        }
        switch directory {
        case .mailbox(let id, _): return .local(mailboxID: id)
        case .unknownUser: return .refuse(.unknownUser)
        case .notLocal: break
        }
        if let relayDomain = rules.relayDomain(for: domain) {
            guard rules.acceptsRelayRecipient(address) else { return .refuse(.unknownRelayRecipient) }
            return .relay(domain: domain, reason: .relayDomain(relayDomain))
        }
        switch origin {
        case .local:
            return .relay(domain: domain, reason: .localOrigin)
        case .smtp(let context):
            guard let permission = RelayPolicy.permission(context, rules: rules) else { return .refuse(.relayDenied) }
            return .relay(domain: domain, reason: .client(permission))
        }
    }

    /// Looks the address up in `directory` (skipped when it has no routing domain) and decides.
    /// Throws what the directory throws: the caller answers 451 4.3.0 or tries again later.
    public static func route(
        _ address: EmailAddress, origin: RecipientOrigin, rules: RelayRules,
        directory: any UserDirectory
    ) async throws -> RecipientRoute {
        try await route(address, origin: origin, rules: rules, resolve: directory.resolveRecipient)
    }

    /// The same with the lookup given as a function: a domain's account backend (MailAccounts) answers
    /// who exists when a directory such as LDAP owns the domain.
    public static func route(
        _ address: EmailAddress, origin: RecipientOrigin, rules: RelayRules,
        resolve: (EmailAddress) async throws -> RecipientResolution
    ) async throws -> RecipientRoute {
        guard address.routingDomain != nil else {
            return decide(address, directory: .notLocal, origin: origin, rules: rules)
        }
        return decide(address, directory: try await resolve(address), origin: origin, rules: rules)
    }

    /// The bare `RCPT TO:<Postmaster>` (RFC 5321 §4.1.1.3, no domain): the directory's postmaster
    /// mailbox; a server without any local domain has none (refused like a relay, 550 5.7.1).
    public static func routeBarePostmaster(directory: any UserDirectory) async throws -> RecipientRoute {
        guard case .mailbox(let id, _) = try await directory.resolveBarePostmaster() else { return .refuse(.relayDenied) }
        return .local(mailboxID: id)
    }
}
